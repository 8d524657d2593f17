package client

import (
	"fmt"
	"net/http"
	"time"

	"github.com/chronik-dev/chronik/internal/certs"
)

// Security is how the client reaches a secured admin API: the CA that signs
// the nodes' HTTPS certificates (empty: the system roots), a client
// certificate for mutual TLS, and the read token that nodes started with
// --admin-read-token want on every read.
type Security struct {
	CAFile    string
	CertFile  string
	KeyFile   string
	ReadToken string
}

// TLS reports whether any TLS file is set.
func (s Security) TLS() bool { return s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" }

// HTTPClientOptions shape the connections of an admin HTTP client.
type HTTPClientOptions struct {
	Security Security
	// KeepAlive keeps idle connections for IdleTimeout (a monitor asking
	// the same nodes every refresh); without it each request gets its own
	// connection, so a one-shot command leaves nothing behind.
	KeepAlive   bool
	IdleTimeout time.Duration
}

// NewHTTPClient returns the http.Client the CLI and the TUI use for the
// admin API: TLS from the security files and the read token on every
// request that carries no other token. The caller owns its idle
// connections (CloseIdleConnections).
func NewHTTPClient(o HTTPClientOptions) (*http.Client, error) {
	tr := &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		DisableKeepAlives: !o.KeepAlive,
		IdleConnTimeout:   o.IdleTimeout,
	}
	if o.Security.TLS() {
		cfg, err := certs.ClientTLS(certs.ClientFiles{CAFile: o.Security.CAFile, CertFile: o.Security.CertFile, KeyFile: o.Security.KeyFile})
		if err != nil {
			return nil, fmt.Errorf("admin API TLS: %w", err)
		}
		tr.TLSClientConfig = cfg
	}
	var rt http.RoundTripper = tr
	if o.Security.ReadToken != "" {
		rt = &readToken{next: tr, token: o.Security.ReadToken}
	}
	return &http.Client{Transport: rt}, nil
}

// readToken adds the read token to requests that have no Authorization:
// a mutation's admin token (WithToken) is left alone.
type readToken struct {
	next  *http.Transport
	token string
}

func (t *readToken) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context()) // a RoundTripper must not change the caller's request
	r.Header.Set("Authorization", "Bearer "+t.token)
	return t.next.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the transport.
func (t *readToken) CloseIdleConnections() { t.next.CloseIdleConnections() }
