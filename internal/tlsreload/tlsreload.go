// Package tlsreload serves a TLS certificate, key and client CA from files
// and swaps in new ones when the files change or on request (SIGHUP), so
// certificates are renewed without a restart and without dropping the
// connections already up: each handshake takes the current configuration
// through tls.Config.GetConfigForClient, established connections keep the
// one they started with. A new file that does not load keeps the old
// configuration and is reported.
package tlsreload

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often Run looks at the files' modification
// time and size.
const DefaultPollInterval = 5 * time.Second

// Options name the files and how clients are checked.
type Options struct {
	// Name says what the certificate serves, in logs ("kafka listeners").
	Name     string
	CertFile string // PEM certificate, chain included
	KeyFile  string // PEM private key of CertFile
	// CAFile, if set, holds the PEM CA certificates client certificates
	// must chain to.
	CAFile string
	// ClientAuth is how client certificates are asked for and checked;
	// without CAFile it must be tls.NoClientCert.
	ClientAuth tls.ClientAuthType
	Logger     *slog.Logger
}

// CertInfo describes the certificate being served.
type CertInfo struct {
	Subject  string
	Issuer   string
	NotAfter time.Time
	// Loaded is when these files were read.
	Loaded time.Time
}

// Reloader holds the current TLS configuration.
type Reloader struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[loaded]

	mu    sync.Mutex // one load at a time
	stamp stamps     // of the files the last load attempt read
}

type loaded struct {
	cfg *tls.Config
	// noClientCerts is cfg asking for no client certificate
	// (WithoutClientCerts).
	noClientCerts *tls.Config
	info          CertInfo
}

// New loads the files; an error names the file that failed.
func New(opts Options) (*Reloader, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("tlsreload: a certificate file and a key file are required")
	}
	if opts.CAFile == "" && opts.ClientAuth != tls.NoClientCert {
		return nil, errors.New("tlsreload: client certificates need a CA file")
	}
	r := &Reloader{opts: opts, log: opts.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	st, err := r.stat()
	if err != nil {
		return nil, err
	}
	l, err := r.load()
	if err != nil {
		return nil, err
	}
	r.stamp = st
	r.cur.Store(l)
	return r, nil
}

// ServerConfig is the tls.Config to serve with: every handshake takes the
// configuration current at that moment.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load().cfg, nil
		},
	}
}

// WithoutClientCerts is ServerConfig asking for no client certificate
// whatever Options.ClientAuth says: for SASL_SSL listeners, where SASL
// proves who the client is (Kafka's KIP-684: ssl.client.auth applies to
// SSL listeners only).
func (r *Reloader) WithoutClientCerts() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.cur.Load().noClientCerts, nil
		},
	}
}

// Certificate describes the certificate being served.
func (r *Reloader) Certificate() CertInfo { return r.cur.Load().info }

// Reload reads the files again and serves them from the next handshake on.
// When they do not load, the current configuration stays and the error
// says why.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *Reloader) reloadLocked() error {
	if st, err := r.stat(); err == nil {
		r.stamp = st
	}
	l, err := r.load()
	if err != nil {
		r.log.Error("TLS certificate reload failed; still serving the previous certificate", "tls", r.opts.Name, "err", err,
			"subject", r.Certificate().Subject, "not_after", r.Certificate().NotAfter)
		return err
	}
	r.cur.Store(l)
	r.log.Info("TLS certificate loaded", "tls", r.opts.Name, "subject", l.info.Subject, "not_after", l.info.NotAfter)
	return nil
}

// Run reloads whenever a file's modification time or size changes, looking
// every interval (DefaultPollInterval if <= 0), until ctx ends. A change
// that does not load is tried again only when the files change again.
func (r *Reloader) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		if st, err := r.stat(); err == nil && st != r.stamp {
			_ = r.reloadLocked()
		}
		r.mu.Unlock()
	}
}

// stamps identify the files' versions: modification time and size of the
// certificate, key and CA files.
type stamps [3]struct {
	mod  time.Time
	size int64
}

func (r *Reloader) stat() (stamps, error) {
	var st stamps
	for i, f := range []string{r.opts.CertFile, r.opts.KeyFile, r.opts.CAFile} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return st, fmt.Errorf("tls %s: %w", r.opts.Name, err)
		}
		st[i].mod, st[i].size = fi.ModTime(), fi.Size()
	}
	return st, nil
}

func (r *Reloader) load() (*loaded, error) {
	pair, err := tls.LoadX509KeyPair(r.opts.CertFile, r.opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls %s: load %s and %s: %w", r.opts.Name, r.opts.CertFile, r.opts.KeyFile, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls %s: parse %s: %w", r.opts.Name, r.opts.CertFile, err)
		}
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   r.opts.ClientAuth,
	}
	if r.opts.CAFile != "" {
		pem, err := os.ReadFile(r.opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls %s: read CA file: %w", r.opts.Name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls %s: CA file %s holds no PEM certificate", r.opts.Name, r.opts.CAFile)
		}
		cfg.ClientCAs = pool
	}
	now := time.Now()
	if now.After(leaf.NotAfter) {
		r.log.Error("TLS certificate has expired; clients will refuse it", "tls", r.opts.Name, "file", r.opts.CertFile, "not_after", leaf.NotAfter)
	}
	noClientCerts := cfg.Clone()
	noClientCerts.ClientAuth, noClientCerts.ClientCAs = tls.NoClientCert, nil
	return &loaded{cfg: cfg, noClientCerts: noClientCerts, info: CertInfo{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter, Loaded: now}}, nil
}
