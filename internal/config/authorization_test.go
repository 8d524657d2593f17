package config

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker"
)

func TestAuthorizationSettings(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Authorizer != broker.AuthorizerNone || cfg.SuperUsers != "" || cfg.AllowEveryoneIfNoACLFound {
		t.Fatalf("defaults: authorizer %q, super users %q, allow everyone %v; want none, empty, false",
			cfg.Authorizer, cfg.SuperUsers, cfg.AllowEveryoneIfNoACLFound)
	}

	t.Setenv(EnvVar("authorizer"), "ACL")
	t.Setenv(EnvVar("super-users"), "User:admin; User:CN=ops,O=example")
	if cfg, err = load(t); err != nil {
		t.Fatal(err)
	}
	if cfg.Authorizer != broker.AuthorizerACL || cfg.SuperUsers != "User:admin; User:CN=ops,O=example" {
		t.Fatalf("from env: authorizer %q, super users %q", cfg.Authorizer, cfg.SuperUsers)
	}

	for _, tt := range []struct {
		key, value string
	}{
		{"authorizer", "ranger"},
		{"super-users", "admin"},
		{"super-users", "User:admin;ops"},
	} {
		isolate(t)
		t.Setenv(EnvVar(tt.key), tt.value)
		if _, err := load(t); err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s=%q: got %v, want an error naming %s", tt.key, tt.value, err, tt.key)
		}
	}
}
