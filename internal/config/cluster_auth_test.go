package config

import (
	"strings"
	"testing"
)

// The cluster listener follows the admin API's rule: off loopback it needs
// authentication, or an explicit --cluster-insecure.
func TestClusterListenerNeedsAuthOffLoopback(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" when the configuration is valid
	}{
		{"default binds loopback", nil, ""},
		{"loopback without auth", []string{"--cluster-addr", "127.0.0.1:19093"}, ""},
		{"localhost without auth", []string{"--cluster-addr", "localhost:19093"}, ""},
		{"all interfaces without auth", []string{"--cluster-addr", ":19093"},
			"cluster-addr: :19093 is reachable from other machines and no cluster authentication is configured; set --cluster-tls-cert-file"},
		{"a public address without auth", []string{"--cluster-addr", "10.1.2.3:19093"}, "--cluster-insecure to allow it anyway"},
		{"insecure", []string{"--cluster-addr", "0.0.0.0:19093", "--cluster-insecure"}, ""},
		{"secret", []string{"--cluster-addr", "0.0.0.0:19093", "--cluster-secret-file", "/etc/chronik/secret"}, ""},
		{"tls", []string{"--cluster-addr", "0.0.0.0:19093", "--cluster-tls-cert-file", "n.crt",
			"--cluster-tls-key-file", "n.key", "--cluster-tls-ca-file", "ca.crt"}, ""},
		{"half of tls", []string{"--cluster-addr", "0.0.0.0:19093", "--cluster-tls-cert-file", "n.crt"},
			"set all three or none"},
		{"half of tls on loopback", []string{"--cluster-tls-ca-file", "ca.crt"}, "set all three or none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			cfg, err := load(t, tt.args...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("load %v: %v", tt.args, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("load %v = %v, %v; want an error containing %q", tt.args, cfg.ClusterAddr, err, tt.want)
			}
		})
	}
}

// The environment works like the flag, so a container can turn it on.
func TestClusterInsecureFromEnv(t *testing.T) {
	isolate(t)
	t.Setenv(EnvVar("cluster-addr"), "0.0.0.0:19093")
	if _, err := load(t); err == nil {
		t.Fatal("non-loopback cluster address without auth accepted")
	}
	t.Setenv(EnvVar("cluster-insecure"), "true")
	if _, err := load(t); err != nil {
		t.Fatal(err)
	}
}
