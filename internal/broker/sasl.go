package broker

import (
	"log/slog"
	"slices"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
)

// saslConfig is what the Kafka backend needs of the SASL settings
// (kafka/sasl.go). It warns about PLAIN on a SASL listener without TLS,
// where passwords cross the network in the clear.
func (c *Config) saslConfig(logger *slog.Logger) kafka.SASLConfig {
	for _, l := range c.plainTextPasswordListeners() {
		logger.Warn("SASL PLAIN is enabled on a listener without TLS: passwords cross the network in the clear; use SASL_SSL or leave PLAIN out of --sasl-enabled-mechanisms",
			"listener", l)
	}
	return kafka.SASLConfig{
		Mechanisms: c.SASLEnabledMechanisms,
		MaxReauth:  time.Duration(c.ConnectionsMaxReauthMs) * time.Millisecond,
	}
}

// plainTextPasswordListeners are the SASL_PLAINTEXT listeners when PLAIN
// is enabled (an empty mechanism list enables it too).
func (c *Config) plainTextPasswordListeners() []string {
	if len(c.SASLEnabledMechanisms) > 0 && !slices.Contains(c.SASLEnabledMechanisms, kafka.MechanismPlain) {
		return nil
	}
	var out []string
	for _, l := range c.KafkaListeners() {
		if l.Protocol.SASL() && !l.Protocol.TLS() {
			out = append(out, l.Name)
		}
	}
	return out
}
