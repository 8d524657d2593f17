package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// envMap is a getenv over a map.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeProfileConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chronik", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const twoProfiles = `current: dev
profiles:
  dev:
    brokers: [dev1:9092]
    admin: [http://dev1:9644]
  prod:
    brokers: "p1:9092, p2"
    admin:
      - https://p1:9644
    admin_token: s3cret
`

func TestResolveConnection(t *testing.T) {
	path := writeProfileConfig(t, twoProfiles)
	need := ConnFlags{NeedBrokers: true, NeedAdmin: true}
	withFlags := func(f func(*ConnFlags)) ConnFlags {
		c := need
		f(&c)
		return c
	}
	devSrc := `profile "dev" (` + path + `)`
	prodSrc := `profile "prod" (` + path + `)`
	tests := []struct {
		name        string
		flags       ConnFlags
		env         map[string]string
		path        string
		brokers     []string
		brokersFrom string
		admin       []string
		adminFrom   string
		token       string
		tokenFrom   string
		profile     string
	}{
		{name: "defaults, no file", flags: need, path: "",
			brokers: []string{"127.0.0.1:9092"}, brokersFrom: SourceDefault, admin: []string{"http://127.0.0.1:9644"}, adminFrom: SourceDefault},
		{name: "missing file is fine", flags: need, path: filepath.Join(t.TempDir(), "none.yaml"),
			brokers: []string{"127.0.0.1:9092"}, brokersFrom: SourceDefault, admin: []string{"http://127.0.0.1:9644"}, adminFrom: SourceDefault},
		{name: "current profile", flags: need, path: path,
			brokers: []string{"dev1:9092"}, brokersFrom: devSrc, admin: []string{"http://dev1:9644"}, adminFrom: devSrc, profile: "dev"},
		{name: "CHRONIK_PROFILE beats current", flags: need, path: path, env: map[string]string{EnvProfile: "prod"},
			brokers: []string{"p1:9092", "p2:9092"}, brokersFrom: prodSrc, admin: []string{"https://p1:9644"}, adminFrom: prodSrc,
			token: "s3cret", tokenFrom: prodSrc, profile: "prod"},
		{name: "--profile beats CHRONIK_PROFILE", path: path, env: map[string]string{EnvProfile: "dev"},
			flags:   withFlags(func(c *ConnFlags) { c.Profile, c.ProfileSet = "prod", true }),
			brokers: []string{"p1:9092", "p2:9092"}, brokersFrom: prodSrc, admin: []string{"https://p1:9644"}, adminFrom: prodSrc,
			token: "s3cret", tokenFrom: prodSrc, profile: "prod"},
		{name: "env beats profile", flags: need, path: path,
			env:     map[string]string{EnvBrokers: "e1:1,e2:2", EnvAdmin: "e1:9644", EnvAdminToken: "envtok", EnvProfile: "prod"},
			brokers: []string{"e1:1", "e2:2"}, brokersFrom: EnvBrokers, admin: []string{"http://e1:9644"}, adminFrom: EnvAdmin,
			token: "envtok", tokenFrom: EnvAdminToken, profile: "prod"},
		{name: "flags beat env", path: path, env: map[string]string{EnvBrokers: "e1:1", EnvAdmin: "e1:9644"},
			flags: withFlags(func(c *ConnFlags) {
				c.Brokers, c.BrokersSet = []string{"f1:1", "f1:1", "[::1]:2"}, true
				c.Admin, c.AdminSet = []string{"f1:9644/"}, true
			}),
			brokers: []string{"f1:1", "[::1]:2"}, brokersFrom: SourceFlagBrokers, admin: []string{"http://f1:9644"}, adminFrom: SourceFlagAdmin,
			profile: "dev"},
		{name: "unset flag default does not hide env", path: "", env: map[string]string{EnvBrokers: "e1:1"},
			flags:   withFlags(func(c *ConnFlags) { c.Brokers = []string{"127.0.0.1:9092"} }),
			brokers: []string{"e1:1"}, brokersFrom: EnvBrokers, admin: []string{"http://127.0.0.1:9644"}, adminFrom: SourceDefault},
		{name: "only what is needed", path: "", env: map[string]string{EnvBrokers: "ftp://bad"},
			flags: ConnFlags{NeedAdmin: true}, admin: []string{"http://127.0.0.1:9644"}, adminFrom: SourceDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ResolveConnection(tt.flags, envMap(tt.env), tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Brokers, tt.brokers) || c.BrokersFrom != tt.brokersFrom {
				t.Errorf("brokers %v from %q, want %v from %q", c.Brokers, c.BrokersFrom, tt.brokers, tt.brokersFrom)
			}
			if !slices.Equal(c.Admin, tt.admin) || c.AdminFrom != tt.adminFrom {
				t.Errorf("admin %v from %q, want %v from %q", c.Admin, c.AdminFrom, tt.admin, tt.adminFrom)
			}
			if c.AdminToken != tt.token || c.AdminTokenFrom != tt.tokenFrom {
				t.Errorf("token %q from %q, want %q from %q", c.AdminToken, c.AdminTokenFrom, tt.token, tt.tokenFrom)
			}
			if c.Profile != tt.profile || c.ConfigPath != tt.path {
				t.Errorf("profile %q path %q, want %q %q", c.Profile, c.ConfigPath, tt.profile, tt.path)
			}
		})
	}
}

func TestResolveConnectionErrors(t *testing.T) {
	path := writeProfileConfig(t, twoProfiles)
	need := ConnFlags{NeedBrokers: true, NeedAdmin: true}
	tests := []struct {
		name  string
		flags ConnFlags
		env   map[string]string
		path  string
		want  string
		flag  bool // a *ConnError from a flag
	}{
		{name: "unknown --profile", flags: ConnFlags{Profile: "qa", ProfileSet: true}, path: path,
			want: `--profile: no profile "qa" in ` + path + ` (profiles: dev, prod)`},
		{name: "unknown CHRONIK_PROFILE", flags: need, path: path, env: map[string]string{EnvProfile: "qa"},
			want: `environment variable CHRONIK_PROFILE: no profile "qa" in ` + path + ` (profiles: dev, prod)`},
		{name: "profile without a file", flags: need, env: map[string]string{EnvProfile: "qa"},
			want: `environment variable CHRONIK_PROFILE: profile "qa": no profiles file`},
		{name: "profile, file missing", flags: need, path: filepath.Join(t.TempDir(), "c.yaml"), env: map[string]string{EnvProfile: "qa"},
			want: `(profiles: none yet; create one with ` + "`chronik profile create`)"},
		{name: "undefined current profile", flags: need, path: writeProfileConfig(t, "current: qa\nprofiles:\n  dev: {brokers: [h:1]}\n"),
			want: `current profile: no profile "qa" in `},
		{name: "bad --brokers", flags: ConnFlags{NeedBrokers: true, Brokers: []string{"http://h:9092"}, BrokersSet: true},
			want: `--brokers: Kafka address "http://h:9092": want host:port, without a scheme`, flag: true},
		{name: "empty --brokers", flags: ConnFlags{NeedBrokers: true, Brokers: []string{""}, BrokersSet: true},
			want: `--brokers: no Kafka address given`, flag: true},
		{name: "bad port in env", flags: need, env: map[string]string{EnvBrokers: "h:99999"},
			want: `environment variable CHRONIK_BROKERS: Kafka address "h:99999": bad port "99999"`},
		{name: "bad --admin", flags: ConnFlags{NeedAdmin: true, Admin: []string{"ftp://h"}, AdminSet: true},
			want: `--admin: admin URL "ftp://h": scheme "ftp", want http or https`, flag: true},
		{name: "bad CHRONIK_ADMIN", flags: need, env: map[string]string{EnvAdmin: "ftp://h:21"},
			want: `environment variable CHRONIK_ADMIN: admin URL "ftp://h:21": scheme "ftp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ResolveConnection(tt.flags, envMap(tt.env), tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			var ce *ConnError
			if isFlag := errors.As(err, &ce) && ce.Flag; isFlag != tt.flag {
				t.Errorf("flag error %v, want %v", isFlag, tt.flag)
			}
		})
	}
}

func TestLoadProfilesErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"syntax", "current: dev\nprofiles:\n  dev: [unclosed\n", "line 2: did not find expected"},
		{"unknown top-level field", "curent: dev\n", "line 1: field curent not found"},
		{"unknown profile field", "profiles:\n  dev:\n    brokers: [h:1]\n    admin_tokn: x\n", `line 4: unknown profile field "admin_tokn"`},
		{"wrong type", "profiles:\n  dev:\n    admin: {a: b}\n", "line 3"},
		{"profile not a mapping", "profiles:\n  dev: 3\n", "line 2: a profile is a mapping"},
		{"bad admin URL", "profiles:\n  dev:\n    admin: [ftp://h]\n", `line 3: profile "dev": admin: admin URL "ftp://h"`},
		{"bad broker", "profiles:\n  x:\n    brokers: h:0\n", `line 3: profile "x": brokers: Kafka address "h:0": bad port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeProfileConfig(t, tt.text)
			_, err := LoadProfiles(path)
			if err == nil || !strings.Contains(err.Error(), "profiles file "+path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to name %s and contain %q", err, path, tt.want)
			}
		})
	}
	// A resolution reports the same error.
	path := writeProfileConfig(t, "profiles: [\n")
	if _, err := ResolveConnection(ConnFlags{NeedBrokers: true}, envMap(nil), path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("malformed file: error %v, want it to name %s", err, path)
	}
}

func TestProfilesSaveAndEdit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "xdg")
	path, err := DefaultConfigPath(envMap(map[string]string{"XDG_CONFIG_HOME": dir, "HOME": "/nonexistent"}))
	if err != nil || path != filepath.Join(dir, "chronik", "config.yaml") {
		t.Fatalf("DefaultConfigPath = %q, %v", path, err)
	}

	ps, err := LoadProfiles(path)
	if err != nil || len(ps.Profiles) != 0 {
		t.Fatalf("missing file: %+v, %v", ps, err)
	}
	if err := ps.SetProfile("prod", []string{"p1:9092,", "p2"}, []string{"p1:9644"}, "tok"); err == nil {
		t.Error(`brokers "p1:9092," accepted as one address`) // the CLI splits on commas before
	}
	if err := ps.SetProfile("prod", []string{"p1:9092", "p2"}, []string{"p1:9644"}, "tok"); err != nil {
		t.Fatal(err)
	}
	if err := ps.SetProfile("dev", nil, []string{"http://localhost:9644"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a b", "x/y"} {
		if err := ps.SetProfile(bad, nil, nil, ""); err == nil {
			t.Errorf("profile name %q accepted", bad)
		}
	}
	if err := ps.Use("prod"); err != nil {
		t.Fatal(err)
	}
	if err := ps.Use("qa"); err == nil || err.Error() != `no profile "qa" (profiles: dev, prod)` {
		t.Errorf("Use(qa) = %v", err)
	}
	if err := ps.Save(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only config.yaml (no temp files)", len(entries))
	}

	got, err := LoadProfiles(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []ProfileListing{
		{Name: "dev", Brokers: []string{}, Admin: []string{"http://localhost:9644"}},
		{Name: "prod", Current: true, Brokers: []string{"p1:9092", "p2:9092"}, Admin: []string{"http://p1:9644"}, HasAdminToken: true},
	}
	ls := got.Listing()
	if len(ls) != len(want) {
		t.Fatalf("listing %+v", ls)
	}
	for i := range want {
		if l, w := ls[i], want[i]; l.Name != w.Name || l.Current != w.Current || !slices.Equal(l.Brokers, w.Brokers) ||
			!slices.Equal(l.Admin, w.Admin) || l.HasAdminToken != w.HasAdminToken {
			t.Errorf("listing[%d] = %+v, want %+v", i, l, w)
		}
	}
	if got.Profiles["prod"].AdminToken != "tok" {
		t.Errorf("token not kept: %+v", got.Profiles["prod"])
	}

	if err := got.Delete("prod"); err != nil {
		t.Fatal(err)
	}
	if got.Current != "" || len(got.Profiles) != 1 {
		t.Errorf("after deleting the current profile: %+v", got)
	}
	if err := got.Delete("prod"); err == nil {
		t.Error("deleting a missing profile succeeded")
	}

	var b strings.Builder
	if err := RenderProfileTable(&b, ls, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	wantTable := "CURRENT  NAME  BROKERS          ADMIN                  TOKEN  KAFKA SECURITY\n" +
		"         dev   -                http://localhost:9644  no     PLAINTEXT\n" +
		"*        prod  p1:9092,p2:9092  http://p1:9644         yes    PLAINTEXT\n"
	if b.String() != wantTable {
		t.Errorf("table\n%s\nwant\n%s", b.String(), wantTable)
	}
}

func TestDefaultConfigPath(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/chronik/config.yaml"},
		{map[string]string{"XDG_CONFIG_HOME": "relative", "HOME": "/home/u"}, "/home/u/.config/chronik/config.yaml"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.config/chronik/config.yaml"},
	}
	for _, tt := range tests {
		if got, err := DefaultConfigPath(envMap(tt.env)); err != nil || got != tt.want {
			t.Errorf("%v: %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
	if _, err := DefaultConfigPath(envMap(nil)); err == nil {
		t.Error("no HOME and no XDG_CONFIG_HOME: no error")
	}
}
