package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// Environment variables of the security settings. The Kafka TLS ones say
// KAFKA because `chronik serve` reads CHRONIK_TLS_* for its own (server)
// certificate: a shell that runs both must not hand the server's
// certificate to the CLI as a client certificate.
const (
	EnvKafkaTLS           = "CHRONIK_KAFKA_TLS"             // "true": TLS without a CA file (system roots)
	EnvKafkaTLSCAFile     = "CHRONIK_KAFKA_TLS_CA_FILE"     // CA of the brokers' certificates
	EnvKafkaTLSCertFile   = "CHRONIK_KAFKA_TLS_CERT_FILE"   // client certificate (mTLS)
	EnvKafkaTLSKeyFile    = "CHRONIK_KAFKA_TLS_KEY_FILE"    // its key
	EnvKafkaTLSServerName = "CHRONIK_KAFKA_TLS_SERVER_NAME" // name to verify the brokers' certificates for
	EnvSASLMechanism      = "CHRONIK_SASL_MECHANISM"
	EnvSASLUser           = "CHRONIK_SASL_USER"
	EnvSASLPassword       = "CHRONIK_SASL_PASSWORD"      // the password itself (there is no flag for it)
	EnvSASLPasswordFile   = "CHRONIK_SASL_PASSWORD_FILE" // a file holding it
	EnvAdminCAFile        = "CHRONIK_ADMIN_CA_FILE"
	EnvAdminCertFile      = "CHRONIK_ADMIN_CERT_FILE"
	EnvAdminKeyFile       = "CHRONIK_ADMIN_KEY_FILE"
	EnvAdminReadToken     = "CHRONIK_ADMIN_READ_TOKEN"
)

// securityEnvVars lists every environment variable of the security
// settings.
func securityEnvVars() []string {
	return []string{EnvKafkaTLS, EnvKafkaTLSCAFile, EnvKafkaTLSCertFile, EnvKafkaTLSKeyFile, EnvKafkaTLSServerName,
		EnvSASLMechanism, EnvSASLUser, EnvSASLPassword, EnvSASLPasswordFile,
		EnvAdminCAFile, EnvAdminCertFile, EnvAdminKeyFile, EnvAdminReadToken}
}

// ProfileSecurity is a profile's security settings: how to reach secured
// Kafka listeners and a secured admin API. File paths are stored absolute.
// The SASL password is never stored, only the file that holds it.
type ProfileSecurity struct {
	TLS              bool   `yaml:"tls,omitempty"`
	TLSCAFile        string `yaml:"tls_ca_file,omitempty"`
	TLSCertFile      string `yaml:"tls_cert_file,omitempty"`
	TLSKeyFile       string `yaml:"tls_key_file,omitempty"`
	TLSServerName    string `yaml:"tls_server_name,omitempty"`
	SASLMechanism    string `yaml:"sasl_mechanism,omitempty"`
	SASLUser         string `yaml:"sasl_user,omitempty"`
	SASLPasswordFile string `yaml:"sasl_password_file,omitempty"`
	AdminCAFile      string `yaml:"admin_ca_file,omitempty"`
	AdminCertFile    string `yaml:"admin_cert_file,omitempty"`
	AdminKeyFile     string `yaml:"admin_key_file,omitempty"`
	AdminReadToken   string `yaml:"admin_read_token,omitempty"`
}

// securitySetting is one string setting: its flag, environment variable
// and profile field. The table is the one place that pairs them.
type securitySetting struct {
	flag  string
	env   string
	key   string // the profile's YAML key
	field func(*ProfileSecurity) *string
	usage string
	path  bool // a file: completed with file names, stored absolute
	kafka bool // a Kafka-side setting (else admin-side)
}

func securitySettings() []securitySetting {
	return []securitySetting{
		{"tls-ca-file", EnvKafkaTLSCAFile, "tls_ca_file", func(p *ProfileSecurity) *string { return &p.TLSCAFile },
			"CA certificate (PEM) the brokers' TLS certificates are checked against; implies --tls", true, true},
		{"tls-cert-file", EnvKafkaTLSCertFile, "tls_cert_file", func(p *ProfileSecurity) *string { return &p.TLSCertFile },
			"client certificate (PEM) for listeners that want one (mTLS); implies --tls", true, true},
		{"tls-key-file", EnvKafkaTLSKeyFile, "tls_key_file", func(p *ProfileSecurity) *string { return &p.TLSKeyFile },
			"key of --tls-cert-file", true, true},
		{"tls-server-name", EnvKafkaTLSServerName, "tls_server_name", func(p *ProfileSecurity) *string { return &p.TLSServerName },
			"name the brokers' certificates must carry (default: the host dialled)", false, true},
		{"sasl-mechanism", EnvSASLMechanism, "sasl_mechanism", func(p *ProfileSecurity) *string { return &p.SASLMechanism },
			"SASL mechanism: " + strings.Join(topicadmin.Mechanisms(), ", "), false, true},
		{"sasl-user", EnvSASLUser, "sasl_user", func(p *ProfileSecurity) *string { return &p.SASLUser },
			"SASL user name", false, true},
		{"sasl-password-file", EnvSASLPasswordFile, "sasl_password_file", func(p *ProfileSecurity) *string { return &p.SASLPasswordFile },
			"file holding the SASL password (or $" + EnvSASLPassword + "; never a flag value)", true, true},
		{"admin-ca-file", EnvAdminCAFile, "admin_ca_file", func(p *ProfileSecurity) *string { return &p.AdminCAFile },
			"CA certificate (PEM) of the admin API's HTTPS certificates", true, false},
		{"admin-cert-file", EnvAdminCertFile, "admin_cert_file", func(p *ProfileSecurity) *string { return &p.AdminCertFile },
			"client certificate (PEM) for an admin API that wants one (mTLS)", true, false},
		{"admin-key-file", EnvAdminKeyFile, "admin_key_file", func(p *ProfileSecurity) *string { return &p.AdminKeyFile },
			"key of --admin-cert-file", true, false},
	}
}

// tlsFlag is the Kafka --tls switch, a bool and so not in the table.
const tlsFlag = "tls"

// profileKeys lists every key a profile may have.
func profileKeys() []string {
	keys := []string{"brokers", "admin", "admin_token", "admin_read_token", tlsFlag}
	for _, s := range securitySettings() {
		keys = append(keys, s.key)
	}
	return keys
}

// addKafkaSecurityFlags registers the Kafka-side security flags on a
// command that connects to Kafka listeners.
func addKafkaSecurityFlags(cmd *cobra.Command) {
	cmd.Flags().Bool(tlsFlag, false, "connect with TLS (SSL and SASL_SSL listeners) ("+EnvKafkaTLS+")")
	addSecurityFlags(cmd, true)
}

// addAdminSecurityFlags registers the admin-side security flags.
func addAdminSecurityFlags(cmd *cobra.Command) {
	addSecurityFlags(cmd, false)
}

func addSecurityFlags(cmd *cobra.Command, kafka bool) {
	for _, s := range securitySettings() {
		if s.kafka != kafka {
			continue
		}
		cmd.Flags().String(s.flag, "", s.usage+" ("+s.env+")")
		if s.path {
			_ = cmd.MarkFlagFilename(s.flag)
		} else if s.flag == "sasl-mechanism" {
			_ = cmd.RegisterFlagCompletionFunc(s.flag, cobra.FixedCompletions(topicadmin.Mechanisms(), cobra.ShellCompDirectiveNoFileComp))
		} else {
			_ = cmd.RegisterFlagCompletionFunc(s.flag, cobra.NoFileCompletions)
		}
	}
}

// changedSecurityFlags collects the security flags cmd has and that were
// set, by flag name, for ResolveConnection.
func changedSecurityFlags(cmd *cobra.Command) map[string]string {
	fs := cmd.Flags()
	out := map[string]string{}
	names := []string{tlsFlag}
	for _, s := range securitySettings() {
		names = append(names, s.flag)
	}
	for _, n := range names {
		if f := fs.Lookup(n); f != nil && fs.Changed(n) {
			out[n] = f.Value.String()
		}
	}
	return out
}

// resolveSecurity applies flag > environment > profile to each security
// setting; needKafka and needAdmin say which side the command uses.
func resolveSecurity(flags map[string]string, env func(string) string, prof ProfileSecurity, profSource string,
	needKafka, needAdmin bool) (topicadmin.Security, client.Security, error) {
	var kafka, admin ProfileSecurity
	from := map[string]string{}
	for _, s := range securitySettings() {
		dst := &admin
		if s.kafka {
			dst = &kafka
		}
		switch v, ok := flags[s.flag]; {
		case ok:
			*s.field(dst), from[s.flag] = v, "--"+s.flag
		case env(s.env) != "":
			*s.field(dst), from[s.flag] = env(s.env), "environment variable "+s.env
		default:
			*s.field(dst), from[s.flag] = *s.field(&prof), profSource
		}
	}
	var ks topicadmin.Security
	if needKafka {
		tlsOn := prof.TLS
		if v, ok := flags[tlsFlag]; ok {
			tlsOn = v == "true"
		} else if v := env(EnvKafkaTLS); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return ks, client.Security{}, &ConnError{Source: "environment variable " + EnvKafkaTLS, Err: fmt.Errorf("want true or false, got %q", v)}
			}
			tlsOn = b
		}
		ks = topicadmin.Security{
			TLS: tlsOn || kafka.TLSCAFile != "" || kafka.TLSCertFile != "" || kafka.TLSServerName != "",
			TLSFile: certs.ClientFiles{CAFile: kafka.TLSCAFile, CertFile: kafka.TLSCertFile, KeyFile: kafka.TLSKeyFile,
				ServerName: kafka.TLSServerName},
			SASLUser: kafka.SASLUser,
		}
		if (kafka.TLSCertFile == "") != (kafka.TLSKeyFile == "") {
			src := from["tls-cert-file"]
			if kafka.TLSCertFile == "" {
				src = from["tls-key-file"]
			}
			return ks, client.Security{}, &ConnError{Source: src, Flag: strings.HasPrefix(src, "--"),
				Err: errors.New("--tls-cert-file and --tls-key-file go together")}
		}
		if kafka.SASLMechanism != "" {
			m, err := topicadmin.NormalizeMechanism(kafka.SASLMechanism)
			if err != nil {
				return ks, client.Security{}, &ConnError{Source: from["sasl-mechanism"], Flag: strings.HasPrefix(from["sasl-mechanism"], "--"), Err: err}
			}
			ks.SASLMechanism = m
			pw, err := saslPassword(flags, env, kafka.SASLPasswordFile, from["sasl-password-file"])
			if err != nil {
				return ks, client.Security{}, err
			}
			ks.SASLPassword = pw
		}
		if err := ks.Check(); err != nil {
			return ks, client.Security{}, &ConnError{Source: "Kafka security settings", Err: err}
		}
	}
	var as client.Security
	if needAdmin {
		as = client.Security{CAFile: admin.AdminCAFile, CertFile: admin.AdminCertFile, KeyFile: admin.AdminKeyFile}
		switch {
		case env(EnvAdminReadToken) != "":
			as.ReadToken = env(EnvAdminReadToken)
		default:
			as.ReadToken = prof.AdminReadToken
		}
		if (as.CertFile == "") != (as.KeyFile == "") {
			src := from["admin-cert-file"]
			if as.CertFile == "" {
				src = from["admin-key-file"]
			}
			return ks, as, &ConnError{Source: src, Flag: strings.HasPrefix(src, "--"),
				Err: errors.New("--admin-cert-file and --admin-key-file go together")}
		}
	}
	return ks, as, nil
}

// saslPassword finds the SASL password: --sasl-password-file, else
// $CHRONIK_SASL_PASSWORD, else $CHRONIK_SASL_PASSWORD_FILE or the
// profile's file (file, from the table's precedence).
func saslPassword(flags map[string]string, env func(string) string, file, fileFrom string) (string, error) {
	if _, ok := flags["sasl-password-file"]; !ok && env(EnvSASLPassword) != "" {
		return env(EnvSASLPassword), nil
	}
	if file == "" {
		return "", nil // Check names what is missing
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", &ConnError{Source: fileFrom, Err: fmt.Errorf("read the SASL password: %w", err)}
	}
	// One trailing newline is the editor's, not the password's.
	pw := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if pw == "" {
		return "", &ConnError{Source: fileFrom, Err: fmt.Errorf("SASL password file %s is empty", file)}
	}
	return pw, nil
}

// profileSecurityFromFlags reads `profile create`'s security flags into a
// ProfileSecurity, paths made absolute so the profile works from any
// directory.
func profileSecurityFromFlags(cmd *cobra.Command, readToken string) (ProfileSecurity, error) {
	var ps ProfileSecurity
	flags := changedSecurityFlags(cmd)
	if v, ok := flags[tlsFlag]; ok {
		ps.TLS = v == "true"
	}
	for _, s := range securitySettings() {
		v, ok := flags[s.flag]
		if !ok || v == "" {
			continue
		}
		if s.path {
			abs, err := filepath.Abs(v)
			if err != nil {
				return ps, fmt.Errorf("--%s: %w", s.flag, err)
			}
			v = abs
		}
		*s.field(&ps) = v
	}
	ps.AdminReadToken = readToken
	if ps.SASLMechanism != "" {
		m, err := topicadmin.NormalizeMechanism(ps.SASLMechanism)
		if err != nil {
			return ps, fmt.Errorf("--sasl-mechanism: %w", err)
		}
		ps.SASLMechanism = m
		if ps.SASLUser == "" {
			return ps, errors.New("--sasl-mechanism needs --sasl-user")
		}
	} else if ps.SASLUser != "" || ps.SASLPasswordFile != "" {
		return ps, errors.New("--sasl-user and --sasl-password-file need --sasl-mechanism")
	}
	if (ps.TLSCertFile == "") != (ps.TLSKeyFile == "") {
		return ps, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if (ps.AdminCertFile == "") != (ps.AdminKeyFile == "") {
		return ps, errors.New("--admin-cert-file and --admin-key-file go together")
	}
	return ps, nil
}

// kafkaSecuritySummary is a profile's Kafka security protocol and SASL
// identity, for `profile list`.
func (p ProfileSecurity) kafkaSecuritySummary() string {
	s := topicadmin.Security{
		TLS:           p.TLS || p.TLSCAFile != "" || p.TLSCertFile != "" || p.TLSServerName != "",
		SASLMechanism: p.SASLMechanism,
	}
	out := s.Protocol()
	if p.SASLMechanism != "" {
		out += " " + p.SASLMechanism + " " + p.SASLUser
	}
	return out
}
