package broker

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
)

// clusterSecurity loads what authenticates the cluster listener: the node
// certificate, its key and the cluster CA, and/or the shared secret. Bad
// files fail the start with the flag's name; a key or secret that other
// users can read is worth a warning.
func (c *Config) clusterSecurity(logger *slog.Logger) (transport.Security, error) {
	var sec transport.Security
	if c.clusterTLSComplete() {
		id, err := transport.LoadTLS(c.ClusterTLSCertFile, c.ClusterTLSKeyFile, c.ClusterTLSCAFile, uint64(c.NodeID))
		if err != nil {
			return sec, fmt.Errorf("cluster-tls-cert-file: %w", err)
		}
		sec.TLS = id
		warnIfShared(logger, "cluster-tls-key-file", c.ClusterTLSKeyFile)
	}
	if c.ClusterSecretFile != "" {
		secret, err := transport.LoadSecret(c.ClusterSecretFile)
		if err != nil {
			return sec, fmt.Errorf("cluster-secret-file: %w", err)
		}
		sec.Secret = secret
		warnIfShared(logger, "cluster-secret-file", c.ClusterSecretFile)
	}
	return sec, nil
}

// warnIfShared warns when users other than the owner may read path.
func warnIfShared(logger *slog.Logger, flag, path string) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("a cluster credential is readable by other users; chmod 600 it", "flag", flag, "file", path,
			"mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
}
