package broker

import (
	"slices"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
)

// TestPlainTextPasswordListeners: PLAIN is flagged on SASL_PLAINTEXT
// listeners only, and not when it is disabled.
func TestPlainTextPasswordListeners(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listeners = []Listener{
		{Name: "PLAINTEXT", Protocol: kafka.ProtocolPlaintext, Addr: ":1"},
		{Name: "INTERNAL", Protocol: kafka.ProtocolSASLPlaintext, Addr: ":2"},
		{Name: "SASL_SSL", Protocol: kafka.ProtocolSASLSSL, Addr: ":3"},
	}
	if got := cfg.plainTextPasswordListeners(); !slices.Equal(got, []string{"INTERNAL"}) {
		t.Fatalf("with PLAIN enabled: %v", got)
	}
	cfg.SASLEnabledMechanisms = []string{"SCRAM-SHA-512"}
	if got := cfg.plainTextPasswordListeners(); len(got) != 0 {
		t.Fatalf("with PLAIN disabled: %v", got)
	}
}
