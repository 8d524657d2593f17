package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

func asUsage(err error, ue **usageError) bool { return errors.As(err, ue) }

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSecuritySettingsPrecedence: each security setting comes from its
// flag, else its environment variable, else the profile; the password from
// the flag's file, else $CHRONIK_SASL_PASSWORD, else a file named by the
// environment or the profile.
func TestSecuritySettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	profPW := writeFile(t, dir, "prof.pass", "profile-pw\n")
	flagPW := writeFile(t, dir, "flag.pass", "flag-pw")
	envPW := writeFile(t, dir, "env.pass", "envfile-pw\r\n")
	profile := "current: sec\nprofiles:\n  sec:\n    brokers: k1:9094\n    tls_ca_file: /p/ca.crt\n" +
		"    sasl_mechanism: scram-sha-512\n    sasl_user: alice\n    sasl_password_file: " + profPW + "\n" +
		"    admin: https://k1:9644\n    admin_ca_file: /p/admin-ca.crt\n    admin_read_token: rtok\n"
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		kafka topicadmin.Security
		admin client.Security
	}{
		{name: "profile", kafka: topicadmin.Security{TLS: true, TLSFile: certs.ClientFiles{CAFile: "/p/ca.crt"},
			SASLMechanism: "SCRAM-SHA-512", SASLUser: "alice", SASLPassword: "profile-pw"},
			admin: client.Security{CAFile: "/p/admin-ca.crt", ReadToken: "rtok"}},
		{name: "environment beats profile",
			env: map[string]string{EnvKafkaTLSCAFile: "/e/ca.crt", EnvSASLUser: "bob", EnvSASLPassword: "env-pw",
				EnvAdminCAFile: "/e/admin-ca.crt", EnvAdminReadToken: "etok", EnvSASLMechanism: "PLAIN"},
			kafka: topicadmin.Security{TLS: true, TLSFile: certs.ClientFiles{CAFile: "/e/ca.crt"},
				SASLMechanism: "PLAIN", SASLUser: "bob", SASLPassword: "env-pw"},
			admin: client.Security{CAFile: "/e/admin-ca.crt", ReadToken: "etok"}},
		{name: "password file from the environment",
			env: map[string]string{EnvSASLPasswordFile: envPW},
			kafka: topicadmin.Security{TLS: true, TLSFile: certs.ClientFiles{CAFile: "/p/ca.crt"},
				SASLMechanism: "SCRAM-SHA-512", SASLUser: "alice", SASLPassword: "envfile-pw"},
			admin: client.Security{CAFile: "/p/admin-ca.crt", ReadToken: "rtok"}},
		{name: "flags beat environment",
			args: []string{"--tls-ca-file", "/f/ca.crt", "--tls-cert-file", "/f/c.crt", "--tls-key-file", "/f/c.key",
				"--tls-server-name", "kafka.internal", "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "carol",
				"--sasl-password-file", flagPW, "--admin-ca-file", "/f/admin-ca.crt", "--admin-cert-file", "/f/a.crt", "--admin-key-file", "/f/a.key"},
			env: map[string]string{EnvKafkaTLSCAFile: "/e/ca.crt", EnvSASLUser: "bob", EnvSASLPassword: "env-pw", EnvAdminCAFile: "/e/admin-ca.crt"},
			kafka: topicadmin.Security{TLS: true,
				TLSFile:       certs.ClientFiles{CAFile: "/f/ca.crt", CertFile: "/f/c.crt", KeyFile: "/f/c.key", ServerName: "kafka.internal"},
				SASLMechanism: "SCRAM-SHA-256", SASLUser: "carol", SASLPassword: "flag-pw"},
			admin: client.Security{CAFile: "/f/admin-ca.crt", CertFile: "/f/a.crt", KeyFile: "/f/a.key", ReadToken: "rtok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, path := newConnTestEnv(t)
			writeProfiles(t, path, profile)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var kafkaArgs, adminArgs []string
			for i := 0; i+1 < len(tt.args); i += 2 {
				if strings.HasPrefix(tt.args[i], "--admin-") {
					adminArgs = append(adminArgs, tt.args[i], tt.args[i+1])
				} else {
					kafkaArgs = append(kafkaArgs, tt.args[i], tt.args[i+1])
				}
			}
			var kafka topicadmin.Security
			cmd := NewCmdTopicList(e.f, func(o *TopicListOptions) error { kafka = o.Security; return nil })
			cmd.SetArgs(kafkaArgs)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(kafka, tt.kafka) {
				t.Errorf("kafka security\n%+v\nwant\n%+v", kafka, tt.kafka)
			}
			var admin client.Security
			dcmd := NewCmdDoctor(e.f, func(o *DoctorOptions) error { admin = o.Security; return nil })
			dcmd.SetArgs(adminArgs)
			if err := dcmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if admin != tt.admin {
				t.Errorf("admin security %+v, want %+v", admin, tt.admin)
			}
		})
	}
}

func TestSecuritySettingsErrors(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.pass", "\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{name: "unknown mechanism flag", args: []string{"--sasl-mechanism", "GSSAPI", "--sasl-user", "u"}, code: exitUsage,
			want: `--sasl-mechanism: SASL mechanism "GSSAPI": want one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{name: "no user", args: []string{"--sasl-mechanism", "PLAIN"}, env: map[string]string{EnvSASLPassword: "pw"}, code: exitError,
			want: "SASL PLAIN needs a user (--sasl-user)"},
		{name: "no password", args: []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "u"}, code: exitError,
			want: "needs a password (--sasl-password-file or $CHRONIK_SASL_PASSWORD)"},
		{name: "unreadable password file", args: []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "u", "--sasl-password-file", "/nonexistent/pw"},
			code: exitError, want: "--sasl-password-file: read the SASL password: open /nonexistent/pw"},
		{name: "empty password file", args: []string{"--sasl-mechanism", "PLAIN", "--sasl-user", "u", "--sasl-password-file", empty},
			code: exitError, want: "is empty"},
		{name: "cert without key", args: []string{"--tls-cert-file", "/c.crt"}, code: exitUsage,
			want: "--tls-cert-file and --tls-key-file go together"},
		{name: "bad CHRONIK_KAFKA_TLS", env: map[string]string{EnvKafkaTLS: "maybe"}, code: exitError,
			want: `environment variable CHRONIK_KAFKA_TLS: want true or false, got "maybe"`},
		{name: "a missing CA file is named", args: []string{"--tls-ca-file", "/nonexistent/ca.crt", "--timeout", "1s"}, code: exitError,
			want: "Kafka TLS: read CA file: open /nonexistent/ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newConnTestEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if code := e.run(t, append([]string{"topic", "list"}, tt.args...)...); code != tt.code {
				t.Errorf("exit code %d, want %d; stderr %s", code, tt.code, e.errOut.String())
			}
			if !strings.Contains(e.errOut.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", e.errOut.String(), tt.want)
			}
		})
	}
}

// TestProfileCreateSecurity: profile create stores the security settings
// (paths absolute, the mechanism normalized, never a password), and a
// command then uses them.
func TestProfileCreateSecurity(t *testing.T) {
	e, path := newConnTestEnv(t)
	dir := t.TempDir()
	pw := writeFile(t, dir, "alice.pass", "pw\n")
	t.Chdir(dir)
	if code := e.run(t, "profile", "create", "sec", "--brokers", "k1:9094", "--tls-ca-file", "ca.crt",
		"--sasl-mechanism", "scram-sha-512", "--sasl-user", "alice", "--sasl-password-file", "alice.pass",
		"--admin", "https://k1:9644", "--admin-ca-file", "ca.crt", "--admin-read-token", "rtok"); code != exitOK {
		t.Fatalf("create: exit %d: %s", code, e.errOut.String())
	}
	ps, err := LoadProfiles(path)
	if err != nil {
		t.Fatal(err)
	}
	want := ProfileSecurity{TLSCAFile: filepath.Join(dir, "ca.crt"), SASLMechanism: "SCRAM-SHA-512", SASLUser: "alice",
		SASLPasswordFile: pw, AdminCAFile: filepath.Join(dir, "ca.crt"), AdminReadToken: "rtok"}
	if got := ps.Profiles["sec"].ProfileSecurity; got != want {
		t.Errorf("stored %+v, want %+v", got, want)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "pw\n") && !strings.Contains(string(raw), "alice.pass") {
		t.Errorf("the profiles file holds the password:\n%s", raw)
	}

	e2, _ := newConnTestEnv(t)
	e2.f.ConfigPath = func() (string, error) { return path, nil }
	if code := e2.run(t, "profile", "list", "-o", "json"); code != exitOK {
		t.Fatalf("list: %s", e2.errOut.String())
	}
	if !strings.Contains(e2.out.String(), `"kafka_security": "SASL_SSL SCRAM-SHA-512 alice"`) ||
		!strings.Contains(e2.out.String(), `"has_admin_read_token": true`) || strings.Contains(e2.out.String(), "rtok") {
		t.Errorf("list -o json:\n%s", e2.out.String())
	}

	var got topicadmin.Security
	cmd := NewCmdUserList(e2.f, func(o *UserListOptions) error { got = o.Security; return nil })
	cmd.SetArgs([]string{"--profile", "sec"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Protocol() != "SASL_SSL" || got.SASLPassword != "pw" || got.TLSFile.CAFile != filepath.Join(dir, "ca.crt") {
		t.Errorf("user list with the profile: %+v", got)
	}

	for _, bad := range [][]string{
		{"--sasl-user", "a"},
		{"--sasl-mechanism", "PLAIN"},
		{"--tls-key-file", "k"},
		{"--admin-cert-file", "c"},
	} {
		e3, _ := newConnTestEnv(t)
		e3.f.ConfigPath = func() (string, error) { return path, nil }
		if code := e3.run(t, append([]string{"profile", "create", "bad", "--brokers", "k:1"}, bad...)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, exitUsage, e3.errOut.String())
		}
	}
}

func TestUserCreateOptions(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  UserCreateOptions
		code  int
		err   string
	}{
		{name: "defaults", args: []string{"alice"}, stdin: "s3cret\n",
			want: UserCreateOptions{Name: "alice", Mechanism: "SCRAM-SHA-512", Iterations: 8192, Password: "s3cret"}},
		{name: "flags, CRLF", args: []string{"bob", "--mechanism", "scram-sha-256", "--iterations", "4096"}, stdin: "pw\r\n",
			want: UserCreateOptions{Name: "bob", Mechanism: "SCRAM-SHA-256", Iterations: 4096, Password: "pw"}},
		{name: "no trailing newline", args: []string{"c"}, stdin: "pw",
			want: UserCreateOptions{Name: "c", Mechanism: "SCRAM-SHA-512", Iterations: 8192, Password: "pw"}},
		{name: "PLAIN has no credential", args: []string{"a", "--mechanism", "PLAIN"}, stdin: "pw", code: exitUsage, err: "has no stored credentials"},
		{name: "too few iterations", args: []string{"a", "--iterations", "1000"}, stdin: "pw", code: exitUsage, err: "iterations 1000: want 4096 to 16384"},
		{name: "empty password", args: []string{"a"}, stdin: "\n", code: exitError, err: "empty password"},
		{name: "two lines", args: []string{"a"}, stdin: "pw\nmore\n", code: exitError, err: "more than one line"},
		{name: "huge stdin", args: []string{"a"}, stdin: strings.Repeat("x", maxPasswordBytes+1), code: exitError, err: "longer than 4096 bytes"},
		{name: "no name", args: nil, stdin: "pw", code: exitUsage, err: "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newConnTestEnv(t)
			e.f.IO.In = strings.NewReader(tt.stdin)
			var got *UserCreateOptions
			cmd := NewCmdUserCreate(e.f, func(o *UserCreateOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			code := exitOK
			if err := cmd.Execute(); err != nil {
				code = exitError
				var ue *usageError
				if asUsage(err, &ue) {
					code = exitUsage
				}
				if !strings.Contains(err.Error(), tt.err) || tt.err == "" {
					t.Errorf("error %v, want %q", err, tt.err)
				}
			}
			if code != tt.code {
				t.Fatalf("exit %d, want %d", code, tt.code)
			}
			if tt.code != exitOK {
				return
			}
			if got.Name != tt.want.Name || got.Mechanism != tt.want.Mechanism || got.Iterations != tt.want.Iterations || got.Password != tt.want.Password {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestQuotaSetOptions(t *testing.T) {
	u, c := "alice", "batch"
	tests := []struct {
		args   []string
		entity topicadmin.QuotaEntity
		set    map[string]float64
		del    []string
		err    string
	}{
		{args: []string{"--user", u, "--producer-byte-rate", "1048576", "--consumer-byte-rate", "2e6"},
			entity: topicadmin.QuotaEntity{{Type: "user", Name: u}},
			set:    map[string]float64{"producer_byte_rate": 1048576, "consumer_byte_rate": 2e6}},
		{args: []string{"--default", "user", "--request-percentage", "12.5"},
			entity: topicadmin.QuotaEntity{{Type: "user", Default: true}}, set: map[string]float64{"request_percentage": 12.5}},
		{args: []string{"--client-id", c, "--user", u, "--delete", "producer-byte-rate,consumer_byte_rate"},
			entity: topicadmin.QuotaEntity{{Type: "user", Name: u}, {Type: "client-id", Name: c}}, set: map[string]float64{},
			del: []string{"producer_byte_rate", "consumer_byte_rate"}},
		{args: []string{"--user", u, "--default", "client-id", "--producer-byte-rate", "1"},
			entity: topicadmin.QuotaEntity{{Type: "user", Name: u}, {Type: "client-id", Default: true}}, set: map[string]float64{"producer_byte_rate": 1}},
		{args: []string{"--producer-byte-rate", "1"}, err: "name who the quota is for"},
		{args: []string{"--user", u}, err: "nothing to change"},
		{args: []string{"--user", u, "--producer-byte-rate", "-1"}, err: "want a number of at least 0"},
		{args: []string{"--user", u, "--producer-byte-rate", "lots"}, err: "want a number of at least 0"},
		{args: []string{"--user", u, "--default", "user", "--producer-byte-rate", "1"}, err: "a named user or the default one"},
		{args: []string{"--user", "", "--producer-byte-rate", "1"}, err: "--user: empty name"},
		{args: []string{"--default", "ip", "--producer-byte-rate", "1"}, err: `--default "ip": want user or client-id`},
		{args: []string{"--user", u, "--delete", "speed"}, err: `quota "speed": want one of`},
		{args: []string{"--user", u, "--producer-byte-rate", "1", "--delete", "producer_byte_rate"}, err: "both set and deleted"},
	}
	for _, tt := range tests {
		e, _ := newConnTestEnv(t)
		var got *QuotaSetOptions
		cmd := NewCmdQuotaSet(e.f, func(o *QuotaSetOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if tt.err != "" {
			var ue *usageError
			if err == nil || !strings.Contains(err.Error(), tt.err) || !asUsage(err, &ue) {
				t.Errorf("%v: error %v, want usage error %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(got.Entity, tt.entity) || !reflect.DeepEqual(got.Set, tt.set) || !reflect.DeepEqual(got.Delete, tt.del) {
			t.Errorf("%v: entity %v set %v delete %v; want %v %v %v", tt.args, got.Entity, got.Set, got.Delete, tt.entity, tt.set, tt.del)
		}
	}
}

func TestACLCommandOptions(t *testing.T) {
	e, _ := newConnTestEnv(t)
	var created []topicadmin.ACL
	cmd := NewCmdACLCreate(e.f, func(_ *ACLOptions, acls []topicadmin.ACL) error { created = acls; return nil })
	cmd.SetArgs([]string{"--allow-principal", "User:app", "--consumer", "--topic", "orders", "--group", "billing", "-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if len(created) != 3 || created[2].ResourceType != "GROUP" || created[2].Operation != "READ" {
		t.Errorf("created %+v", created)
	}

	e, _ = newConnTestEnv(t)
	if code := e.run(t, "acl", "create", "--topic", "t"); code != exitUsage ||
		!strings.Contains(e.errOut.String(), "give --allow-principal or --deny-principal") {
		t.Errorf("create without principal: exit %d, %s", code, e.errOut.String())
	}
	e, _ = newConnTestEnv(t)
	if code := e.run(t, "acl", "delete", "--allow-principal", "User:a"); code != exitUsage ||
		!strings.Contains(e.errOut.String(), "name the resource whose ACLs to delete") {
		t.Errorf("delete without resource: exit %d, %s", code, e.errOut.String())
	}
	e, _ = newConnTestEnv(t)
	var filters []topicadmin.ACLFilter
	lcmd := NewCmdACLList(e.f, func(_ *ACLOptions, f []topicadmin.ACLFilter) error { filters = f; return nil })
	lcmd.SetArgs([]string{"--topic", "orders", "--resource-pattern-type", "match", "--principal", "User:a"})
	if err := lcmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if len(filters) != 1 || filters[0].PatternType != "MATCH" || *filters[0].Principal != "User:a" || *filters[0].ResourceName != "orders" {
		t.Errorf("list filters %+v", filters)
	}
}

func TestSecurityRendering(t *testing.T) {
	var b strings.Builder
	us := []topicadmin.User{{Name: "alice", Credentials: []topicadmin.UserCredential{{Mechanism: "SCRAM-SHA-256", Iterations: 4096}, {Mechanism: "SCRAM-SHA-512", Iterations: 8192}}}}
	if err := RenderUserList(&b, us, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	want := "USER   MECHANISM      ITERATIONS\nalice  SCRAM-SHA-256  4096\nalice  SCRAM-SHA-512  8192\n"
	if b.String() != want {
		t.Errorf("users\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	acls := []topicadmin.ACL{{Principal: "User:a", Host: "*", Operation: "READ", Permission: "ALLOW", ResourceType: "TOPIC", ResourceName: "t", PatternType: "LITERAL"}}
	if err := RenderACLs(&b, acls, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "User:a\t*\tREAD\tALLOW\tTOPIC\tt\tLITERAL\n"; b.String() != want {
		t.Errorf("acls %q, want %q", b.String(), want)
	}

	b.Reset()
	qs := []topicadmin.Quota{
		{Entity: topicadmin.QuotaEntity{{Type: "user", Default: true}}, Values: map[string]float64{"producer_byte_rate": 1048576}},
		{Entity: topicadmin.QuotaEntity{{Type: "user", Name: "a"}, {Type: "client-id", Name: "c"}},
			Values: map[string]float64{"request_percentage": 12.5, "controller_mutation_rate": 10}},
	}
	if err := RenderQuotaList(&b, qs, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	want = "USER       CLIENT-ID  PRODUCER_BYTE_RATE  CONSUMER_BYTE_RATE  REQUEST_PERCENTAGE  OTHER\n" +
		"<default>  -          1048576             -                   -                   -\n" +
		"a          c          -                   -                   12.5                controller_mutation_rate=10\n"
	if b.String() != want {
		t.Errorf("quotas\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	if err := RenderQuotaChange(&b, topicadmin.QuotaChange{Entity: qs[1].Entity, Set: map[string]float64{"consumer_byte_rate": 5}, Deleted: []string{"producer_byte_rate"}}); err != nil {
		t.Fatal(err)
	}
	if want := "Quotas of user=a,client-id=c: set consumer_byte_rate=5; deleted producer_byte_rate.\n"; b.String() != want {
		t.Errorf("change %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := RenderUserChange(&b, topicadmin.UserChange{Name: "a", Action: "deleted", Mechanisms: []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}}); err != nil {
		t.Fatal(err)
	}
	if want := "Deleted the SCRAM-SHA-256 and SCRAM-SHA-512 credentials of user \"a\".\n"; b.String() != want {
		t.Errorf("user change %q, want %q", b.String(), want)
	}
}
