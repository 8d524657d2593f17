package broker

import (
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
)

// clusterSecurity loads what authenticates the cluster listener: the node
// certificate, its key and the cluster CA, and/or the shared secret. Bad
// files fail the start with the flag's name.
func (c *Config) clusterSecurity() (transport.Security, error) {
	var sec transport.Security
	if c.clusterTLSComplete() {
		id, err := transport.LoadTLS(c.ClusterTLSCertFile, c.ClusterTLSKeyFile, c.ClusterTLSCAFile, uint64(c.NodeID))
		if err != nil {
			return sec, fmt.Errorf("cluster-tls-cert-file: %w", err)
		}
		sec.TLS = id
	}
	if c.ClusterSecretFile != "" {
		secret, err := transport.LoadSecret(c.ClusterSecretFile)
		if err != nil {
			return sec, fmt.Errorf("cluster-secret-file: %w", err)
		}
		sec.Secret = secret
	}
	return sec, nil
}
