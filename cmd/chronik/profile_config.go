package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// Connection defaults: a single node on this machine.
const (
	DefaultBrokers   = "127.0.0.1:9092"
	defaultKafkaPort = "9092"
)

// Environment variables of the connection settings.
const (
	EnvBrokers    = "CHRONIK_BROKERS"     // comma-separated Kafka bootstrap addresses
	EnvAdmin      = "CHRONIK_ADMIN"       // comma-separated admin API base URLs
	EnvAdminToken = "CHRONIK_ADMIN_TOKEN" // bearer token for the admin API
	EnvProfile    = "CHRONIK_PROFILE"     // the profile to use instead of the current one
)

// Profile is a named set of connection settings in the profiles file.
type Profile struct {
	Brokers    addrList `yaml:"brokers,omitempty"`
	Admin      addrList `yaml:"admin,omitempty"`
	AdminToken string   `yaml:"admin_token,omitempty"`
	// The security settings sit beside the addresses in the file.
	ProfileSecurity `yaml:",inline"`
	line            int // where it starts in the file, for error messages
}

// addrList is a list of addresses, written in the file as a YAML list or
// as one comma-separated string, like the flags and variables take them.
type addrList []string

func (l *addrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = splitList(n.Value)
		return nil
	}
	var v []string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*l = v
	return nil
}

// UnmarshalYAML decodes a profile, refusing unknown fields (a misspelt
// "admin_tokn" would otherwise silently send no token) and remembering its
// line.
func (p *Profile) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a profile is a mapping with brokers, admin and admin_token", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(profileKeys(), k.Value) {
			return fmt.Errorf("line %d: unknown profile field %q (want %s)", k.Line, k.Value, strings.Join(profileKeys(), ", "))
		}
	}
	type plain Profile // without this method, so Decode does not recurse
	var v plain
	if err := n.Decode(&v); err != nil {
		return err
	}
	*p = Profile(v)
	p.line = n.Line
	return nil
}

// Profiles is the profiles file: named connection settings and which one
// commands use when no --profile or CHRONIK_PROFILE says otherwise.
type Profiles struct {
	Current  string             `yaml:"current,omitempty"`
	Profiles map[string]Profile `yaml:"profiles,omitempty"`
}

// Names lists the profile names, sorted.
func (ps *Profiles) Names() []string {
	names := make([]string, 0, len(ps.Profiles))
	for n := range ps.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultConfigPath is where the profiles live:
// $XDG_CONFIG_HOME/chronik/config.yaml, else ~/.config/chronik/config.yaml.
func DefaultConfigPath(getenv func(string) string) (string, error) {
	if dir := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) { // the spec ignores relative values
		return filepath.Join(dir, "chronik", "config.yaml"), nil
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "chronik", "config.yaml"), nil
	}
	return "", errors.New("find the profiles file: neither $XDG_CONFIG_HOME nor $HOME is set")
}

// LoadProfiles reads the profiles file at path. A missing file is no
// profiles; a malformed one is an error naming the file and line.
func LoadProfiles(path string) (*Profiles, error) {
	ps := &Profiles{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ps, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profiles: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(ps); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("profiles file %s: %s", path, yamlMessage(err))
	}
	for name, p := range ps.Profiles {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("profiles file %s: line %d: profile %q: %w", path, p.line, name, err)
		}
	}
	// A current profile that is not defined (the file was edited by hand)
	// is left for ResolveConnection to report, so `profile use` can fix it.
	return ps, nil
}

// yamlMessage drops the "yaml: " prefix; the caller names the file.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// check validates a profile's addresses.
func (p Profile) check() error {
	if _, err := ParseBrokers(p.Brokers); err != nil && len(p.Brokers) > 0 {
		return fmt.Errorf("brokers: %w", err)
	}
	if _, err := ParseAdminURLs(p.Admin); err != nil && len(p.Admin) > 0 {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Save writes the profiles to path, readable by the owner only (it may hold
// an admin token), creating its directory (also owner-only) if needed. The
// file is replaced in one rename, so a crash leaves the old or the new one.
func (ps *Profiles) Save(path string) error {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(ps); err != nil {
		return fmt.Errorf("encode profiles: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode profiles: %w", err)
	}
	b := buf.Bytes()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create profiles directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml") // created 0600
	if err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write profiles %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write profiles %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write profiles %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write profiles: %w", err)
	}
	return nil
}

// ProfileListing is one profile as `chronik profile list` shows it. The
// token itself is never shown.
type ProfileListing struct {
	Name          string   `json:"name"`
	Current       bool     `json:"current"`
	Brokers       []string `json:"brokers"`
	Admin         []string `json:"admin"`
	HasAdminToken bool     `json:"has_admin_token"`
	// KafkaSecurity is the security protocol the profile's Kafka settings
	// speak (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), then its SASL
	// mechanism and user.
	KafkaSecurity     string `json:"kafka_security"`
	AdminTLS          bool   `json:"admin_tls"`
	HasAdminReadToken bool   `json:"has_admin_read_token"`
}

// Listing lists the profiles, sorted by name.
func (ps *Profiles) Listing() []ProfileListing {
	out := make([]ProfileListing, 0, len(ps.Profiles))
	for _, name := range ps.Names() {
		p := ps.Profiles[name]
		out = append(out, ProfileListing{
			Name: name, Current: name == ps.Current,
			Brokers: nonNil(p.Brokers), Admin: nonNil(p.Admin), HasAdminToken: p.AdminToken != "",
			KafkaSecurity: p.kafkaSecuritySummary(), AdminTLS: p.AdminCAFile != "" || p.AdminCertFile != "",
			HasAdminReadToken: p.AdminReadToken != "",
		})
	}
	return out
}

// RenderProfileTable writes the profiles as a table; on a terminal the
// current one is marked with "*".
func RenderProfileTable(w io.Writer, ls []ProfileListing, opts TableOptions) error {
	t := NewTable(opts, "CURRENT", "NAME", "BROKERS", "ADMIN", "TOKEN", "KAFKA SECURITY")
	for _, l := range ls {
		cur := ""
		if l.Current {
			cur = "*"
		}
		t.Row(cur, l.Name, listOrDash(l.Brokers), listOrDash(l.Admin), yesNo(l.HasAdminToken), l.KafkaSecurity)
	}
	return t.Render(w)
}

// SetProfile adds or replaces a profile after checking its name and
// addresses, which it stores normalized.
func (ps *Profiles) SetProfile(name string, brokers, admins []string, token string) error {
	if err := checkProfileName(name); err != nil {
		return err
	}
	p := Profile{AdminToken: token}
	if len(brokers) > 0 {
		b, err := ParseBrokers(brokers)
		if err != nil {
			return fmt.Errorf("brokers: %w", err)
		}
		p.Brokers = b
	}
	if len(admins) > 0 {
		a, err := ParseAdminURLs(admins)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		p.Admin = a
	}
	if ps.Profiles == nil {
		ps.Profiles = map[string]Profile{}
	}
	ps.Profiles[name] = p
	return nil
}

// Use makes name the current profile.
func (ps *Profiles) Use(name string) error {
	if _, ok := ps.Profiles[name]; !ok {
		return unknownProfile(name, ps)
	}
	ps.Current = name
	return nil
}

// Delete removes a profile; deleting the current one leaves none current.
func (ps *Profiles) Delete(name string) error {
	if _, ok := ps.Profiles[name]; !ok {
		return unknownProfile(name, ps)
	}
	delete(ps.Profiles, name)
	if ps.Current == name {
		ps.Current = ""
	}
	return nil
}

// checkProfileName keeps names easy to type and to use as YAML keys.
func checkProfileName(name string) error {
	if name == "" {
		return errors.New("empty profile name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("profile name %q: use letters, digits, '-', '_' and '.'", name)
		}
	}
	return nil
}

func unknownProfile(name string, ps *Profiles) error {
	return fmt.Errorf("no profile %q (profiles: %s)", name, knownNames(ps))
}

// knownNames is the profile names for an error message.
func knownNames(ps *Profiles) string {
	if len(ps.Profiles) == 0 {
		return "none yet; create one with `chronik profile create`"
	}
	return strings.Join(ps.Names(), ", ")
}

// ConnFlags are the connection flags as the command line gave them. A
// flag counts only when set, so its default does not hide the environment.
type ConnFlags struct {
	Brokers    []string // --brokers
	BrokersSet bool
	Admin      []string // --admin
	AdminSet   bool
	Profile    string // --profile
	ProfileSet bool
	// Security holds the security flags that were set, by flag name
	// (changedSecurityFlags).
	Security map[string]string
	// NeedBrokers and NeedAdmin say which settings the command uses; only
	// those are checked, so a bad CHRONIK_BROKERS does not break `raft status`.
	NeedBrokers bool
	NeedAdmin   bool
}

// Sources of a connection setting, as [Conn] reports them. A profile's
// source is `profile "NAME" (PATH)`.
const (
	SourceDefault     = "default"
	SourceFlagBrokers = "--brokers"
	SourceFlagAdmin   = "--admin"
)

// Conn is the resolved connection: where to send Kafka requests and admin
// API calls, and where each setting came from (a flag, an environment
// variable, a profile or the default), for error messages.
type Conn struct {
	Brokers        []string // host:port, normalized; set when NeedBrokers
	BrokersFrom    string
	Admin          []string // base URLs, normalized; set when NeedAdmin
	AdminFrom      string
	AdminToken     string // empty: none
	AdminTokenFrom string
	Profile        string // the profile in use; empty for none
	ConfigPath     string
	// Kafka is how to reach the Kafka listeners (TLS, SASL); set when
	// NeedBrokers.
	Kafka topicadmin.Security
	// AdminSecurity is how to reach the admin API (HTTPS, read token);
	// set when NeedAdmin.
	AdminSecurity client.Security
}

// ConnError is a connection setting that does not parse. Flag reports
// whether it came from a command-line flag (a usage error).
type ConnError struct {
	Source string
	Flag   bool
	Err    error
}

func (e *ConnError) Error() string { return e.Source + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConnError) Unwrap() error { return e.Err }

// ResolveConnection decides where commands connect, setting by setting:
// flag, then environment variable, then profile, then default. The profile
// is --profile, else $CHRONIK_PROFILE, else the file's current one, else
// none. configPath is the profiles file ("" for none); env is os.Getenv in
// production.
func ResolveConnection(flags ConnFlags, env func(string) string, configPath string) (Conn, error) {
	c := Conn{ConfigPath: configPath}
	ps := &Profiles{}
	if configPath != "" {
		var err error
		if ps, err = LoadProfiles(configPath); err != nil {
			return Conn{}, err
		}
	}
	var prof Profile
	switch name, from := profileChoice(flags, env, ps); {
	case name == "":
	case configPath == "":
		return Conn{}, fmt.Errorf("%s: profile %q: no profiles file", from, name)
	default:
		p, ok := ps.Profiles[name]
		if !ok {
			err := fmt.Errorf("%s: no profile %q in %s (profiles: %s)", from, name, configPath, knownNames(ps))
			if from == "current profile" {
				err = fmt.Errorf("%w; `chronik profile use NAME` picks another", err)
			}
			return Conn{}, err
		}
		prof, c.Profile = p, name
	}
	profSource := fmt.Sprintf("profile %q (%s)", c.Profile, configPath)

	if flags.NeedBrokers {
		raw, src := pick(flags.BrokersSet, flags.Brokers, SourceFlagBrokers, env(EnvBrokers), EnvBrokers,
			prof.Brokers, profSource, DefaultBrokers)
		b, err := ParseBrokers(raw)
		if err != nil {
			return Conn{}, &ConnError{Source: describeSource(src), Flag: src == SourceFlagBrokers, Err: err}
		}
		c.Brokers, c.BrokersFrom = b, src
	}
	if flags.NeedAdmin {
		raw, src := pick(flags.AdminSet, flags.Admin, SourceFlagAdmin, env(EnvAdmin), EnvAdmin,
			prof.Admin, profSource, client.DefaultURL)
		a, err := ParseAdminURLs(raw)
		if err != nil {
			return Conn{}, &ConnError{Source: describeSource(src), Flag: src == SourceFlagAdmin, Err: err}
		}
		c.Admin, c.AdminFrom = a, src
	}
	switch {
	case env(EnvAdminToken) != "":
		c.AdminToken, c.AdminTokenFrom = env(EnvAdminToken), EnvAdminToken
	case prof.AdminToken != "":
		c.AdminToken, c.AdminTokenFrom = prof.AdminToken, profSource
	}
	var err error
	if c.Kafka, c.AdminSecurity, err = resolveSecurity(flags.Security, env, prof.ProfileSecurity, profSource,
		flags.NeedBrokers, flags.NeedAdmin); err != nil {
		return Conn{}, err
	}
	return c, nil
}

// profileChoice names the profile to use and what chose it.
func profileChoice(flags ConnFlags, env func(string) string, ps *Profiles) (name, from string) {
	switch {
	case flags.ProfileSet:
		return flags.Profile, "--profile"
	case env(EnvProfile) != "":
		return env(EnvProfile), "environment variable " + EnvProfile
	default:
		return ps.Current, "current profile"
	}
}

// pick applies the precedence to one list setting.
func pick(flagSet bool, flag []string, flagSrc, envVal, envName string, prof []string, profSrc, def string) ([]string, string) {
	switch {
	case flagSet:
		return flag, flagSrc
	case envVal != "":
		return splitList(envVal), envName
	case len(prof) > 0:
		return prof, profSrc
	default:
		return []string{def}, SourceDefault
	}
}

// describeSource turns a bare variable name into words for a message.
func describeSource(src string) string {
	if strings.HasPrefix(src, "CHRONIK_") {
		return "environment variable " + src
	}
	return src
}

// ParseBrokers checks Kafka bootstrap addresses and returns them
// normalized, without duplicates: a missing port means 9092.
func ParseBrokers(raw []string) ([]string, error) {
	var out []string
	for _, s := range raw {
		s = strings.TrimSpace(s)
		if s == "" {
			continue // "h1,h2," is a list of two
		}
		addr, err := parseBroker(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no Kafka address given")
	}
	return out, nil
}

func parseBroker(s string) (string, error) {
	if strings.Contains(s, "://") {
		return "", fmt.Errorf("Kafka address %q: want host:port, without a scheme", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// A bare host (or IPv6 address) without a port.
		host, port = strings.Trim(s, "[]"), defaultKafkaPort
		if strings.ContainsAny(host, "[]/") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
			return "", fmt.Errorf("Kafka address %q: want host:port", s)
		}
	}
	if host == "" {
		return "", fmt.Errorf("Kafka address %q: no host", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("Kafka address %q: bad port %q", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// ParseAdminURLs checks admin base URLs (see [ParseURL]) and returns them
// normalized, without duplicates.
func ParseAdminURLs(raw []string) ([]string, error) {
	var out []string
	for _, s := range raw {
		if strings.TrimSpace(s) == "" {
			continue
		}
		u, err := client.ParseURL(s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no admin URL given")
	}
	return out, nil
}

func splitList(s string) []string { return strings.Split(s, ",") }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func listOrDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}
