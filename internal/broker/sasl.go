package broker

import (
	"time"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
)

// saslConfig is what the Kafka backend needs of the SASL settings
// (kafka/sasl.go).
func (c *Config) saslConfig() kafka.SASLConfig {
	return kafka.SASLConfig{
		Mechanisms: c.SASLEnabledMechanisms,
		MaxReauth:  time.Duration(c.ConnectionsMaxReauthMs) * time.Millisecond,
	}
}
