package config

import (
	"slices"
	"strings"
	"testing"
)

// TestSASLSettings: the mechanisms default to all three, and an empty list,
// an unknown mechanism or a negative re-authentication time is refused.
func TestSASLSettings(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.SASLEnabledMechanisms, []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}) || cfg.ConnectionsMaxReauthMs != 0 {
		t.Fatalf("defaults: %v, %d", cfg.SASLEnabledMechanisms, cfg.ConnectionsMaxReauthMs)
	}
	for args, want := range map[string]string{
		"--sasl-enabled-mechanisms= , ":    "name at least one mechanism",
		"--sasl-enabled-mechanisms=GSSAPI": `unknown SASL mechanism "GSSAPI"`,
		"--connections-max-reauth-ms=-1":   "connections-max-reauth-ms: must be >= 0",
	} {
		if _, err := load(t, args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", args, err, want)
		}
	}
}
