package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"time"

	"github.com/chronik-dev/chronik/internal/netlimit"
)

// SharedLimits are the limits a node's listeners share: one count of open
// connections (total and per IP, --max-connections and
// --max-connections-per-ip) and one queued bytes budget
// (--queued-max-request-bytes), so adding a listener does not add memory
// or connections. Each Server still reports its own open connections.
type SharedLimits struct {
	conns *netlimit.Conns
	mem   *budget
}

// NewSharedLimits returns limits to share between Servers; zero values take
// the defaults.
func NewSharedLimits(maxConns, perIP int, queuedMaxBytes int64) *SharedLimits {
	if maxConns <= 0 {
		maxConns = DefaultMaxConnections
	}
	if perIP <= 0 {
		perIP = DefaultMaxConnectionsPerIP
	}
	if queuedMaxBytes <= 0 {
		queuedMaxBytes = DefaultQueuedMaxBytes
	}
	return &SharedLimits{conns: netlimit.New(maxConns, perIP), mem: newBudget(queuedMaxBytes)}
}

// listenerOf is the Conn.Listener of a new connection: the listener's name,
// or empty on cluster connections (ServeConn), which no listener admitted.
func (s *Server) listenerOf(cluster bool) string {
	if cluster {
		return ""
	}
	return s.cfg.ListenerName
}

// startTLS runs the TLS handshake of a connection on an SSL or SASL_SSL
// listener, on the connection's own goroutine (never the accept loop) and
// within the request read timeout, so a peer that stalls or speaks
// plaintext costs only its own connection. With a verified client
// certificate the connection's principal becomes User:<subject DN>, as
// Kafka's default principal builder does. It reports whether the
// connection may be served.
func (c *conn) startTLS() bool {
	if c.info.Replica != nil || !c.s.cfg.Protocol.TLS() {
		return true
	}
	if c.s.cfg.TLS == nil {
		// NewServer's caller forgot the certificate: refuse rather than
		// serve plaintext on a listener clients believe encrypted.
		c.s.logHandshake(c, errors.New("listener has no TLS configuration"))
		return false
	}
	tc := tls.Server(c.nc, c.s.cfg.TLS)
	if err := c.nc.SetDeadline(time.Now().Add(c.s.cfg.RequestReadTimeout)); err != nil {
		return false
	}
	if c.s.isStopping() {
		return false // beginStop's deadline may predate ours
	}
	if err := tc.HandshakeContext(c.ctx); err != nil {
		if !c.s.isStopping() && c.ctx.Err() == nil {
			c.s.logHandshake(c, err)
		}
		return false
	}
	// The read and write loops set their own deadlines from here on.
	if err := c.nc.SetDeadline(time.Time{}); err != nil {
		return false
	}
	c.rw = tc
	if chains := tc.ConnectionState().VerifiedChains; len(chains) > 0 && len(chains[0]) > 0 {
		p := Principal{Type: PrincipalUserType, Name: SubjectDN(chains[0][0])}
		c.info.SetPrincipal(p)
		c.log = c.log.With("principal", p.String())
		c.log.Debug("kafka client authenticated by certificate")
	}
	return true
}

// logHandshake logs a failed TLS handshake, at most once per second per
// listener (a scanner or a misconfigured client retrying must not flood the
// log), with the count of those held back.
func (s *Server) logHandshake(c *conn, err error) {
	reason := "TLS handshake failed"
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		reason = "not TLS: a plaintext client on a TLS listener?"
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		reason = "TLS handshake not finished within the request read timeout"
	}
	if ok, suppressed := s.handshakes.Allow("", time.Now()); ok {
		s.log.Warn("kafka connection closed: "+reason, "remote", c.nc.RemoteAddr().String(),
			"err", err, "failed_since_last_log", suppressed)
	}
}

// refuseTLSOnPlaintext logs a TLS client on a plaintext listener: its
// ClientHello reads as an absurd frame size. Rate-limited like handshakes.
func (s *Server) refuseTLSOnPlaintext(c *conn) {
	s.observe(-1, -1, time.Time{}, true)
	if ok, suppressed := s.handshakes.Allow("", time.Now()); ok {
		s.log.Warn("kafka connection closed: a TLS handshake on a plaintext listener (the client should use this listener's protocol, or another port)",
			"protocol", s.cfg.Protocol, "remote", c.nc.RemoteAddr().String(),
			"failed_since_last_log", suppressed)
	}
}

// looksLikeTLS reports whether a frame size prefix is the start of a TLS
// handshake record: content type 22, protocol major version 3.
func looksLikeTLS(prefix [4]byte) bool {
	return prefix[0] == 0x16 && prefix[1] == 0x03 && prefix[2] <= 0x04
}

// SubjectDN renders a certificate's subject the way Kafka's default
// principal builder does (X500Principal.getName(), RFC 2253): the RDNs in
// reverse order of the certificate's, "CN=alice,OU=eng,O=Example".
func SubjectDN(cert *x509.Certificate) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil || len(rest) > 0 {
		return cert.Subject.String()
	}
	return rdns.String()
}
