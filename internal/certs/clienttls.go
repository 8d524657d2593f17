package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ClientFiles are the files a client uses to reach a TLS server: the CA that
// signs the server's certificate (empty: the system roots) and, for mutual
// TLS, its own certificate and key (both or neither).
type ClientFiles struct {
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string // the name to verify the server's certificate for; empty: the host dialled
}

// ClientTLS loads the files into a client tls.Config (TLS 1.2 at least).
// Every client of a chronik TLS port, Kafka or admin, builds its config
// here, so they agree on what the files mean.
func ClientTLS(f ClientFiles) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.CertFile != "" && f.KeyFile != "":
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s with key %s: %w", f.CertFile, f.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case f.CertFile != "":
		return nil, errors.New("a client certificate needs its key file too")
	case f.KeyFile != "":
		return nil, errors.New("a client key file needs its certificate file too")
	}
	return cfg, nil
}
