package transport

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/chronik-dev/chronik/internal/certs"
)

// Security says how cluster connections prove who is at the other end. The
// zero value authenticates nothing (a loopback-only or explicitly insecure
// cluster); the membership check (Config.IsMember) applies in every mode.
//
// With TLS set, every connection is mutual TLS 1.3: both ends present a
// certificate signed by the cluster CA, and a node's identity is the URI SAN
// chronik://node/<id> of its certificate (certs.NodeURI). The acceptor requires
// the handshake's from-id to equal the dialer's certificate identity, and the
// dialer requires the acceptor's certificate to name the node it meant to
// dial, so node 2's certificate cannot speak as node 3.
//
// With Secret set, the handshake adds a challenge-response: the dialer's
// handshake carries a random nonce, the acceptor answers with its own nonce
// and an HMAC-SHA256 over both nonces, both node ids, the purpose and the
// cluster id; the dialer checks it and answers with its own HMAC over the
// same fields under another role label. The secret never travels, a replayed
// answer fails against a fresh nonce, and a reflected one fails on the role
// label. Secret mode authenticates the connection; it does not encrypt it or
// protect later frames from an attacker on the path (TLS does). Every holder
// of the secret can claim any node id: the secret proves membership of the
// cluster, a certificate proves which member.
//
// Both may be set: the challenge then runs inside TLS.
type Security struct {
	TLS    *TLSIdentity
	Secret []byte
}

// Mode names what s does, for logs and status: "mtls", "secret",
// "mtls+secret" or "none".
func (s Security) Mode() string {
	switch {
	case s.TLS != nil && len(s.Secret) > 0:
		return "mtls+secret"
	case s.TLS != nil:
		return "mtls"
	case len(s.Secret) > 0:
		return "secret"
	default:
		return "none"
	}
}

// TLSIdentity is this node's certificate and the cluster CA that every peer
// certificate must chain to.
type TLSIdentity struct {
	Certificate tls.Certificate
	CAs         *x509.CertPool
}

// MinSecretBytes is the shortest cluster secret accepted: 128 bits.
const MinSecretBytes = 16

// NodeIdentity returns the node id a certificate was issued to; see
// certs.NodeIdentity.
func NodeIdentity(cert *x509.Certificate) (uint64, error) { return certs.NodeIdentity(cert) }

// LoadTLS reads a node certificate, its key and the cluster CA (PEM files).
// It checks that the certificate chains to the CA and is a node certificate
// for nodeID, so a wrong file fails at start-up and not at the first dial.
func LoadTLS(certFile, keyFile, caFile string, nodeID uint64) (*TLSIdentity, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cluster TLS certificate: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster TLS CA %s: no PEM certificate in it", caFile)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("cluster TLS certificate %s: %w", certFile, err)
		}
		cert.Leaf = leaf
	}
	id, err := NodeIdentity(leaf)
	if err != nil {
		return nil, fmt.Errorf("cluster TLS certificate %s: %w", certFile, err)
	}
	if id != nodeID {
		return nil, fmt.Errorf("cluster TLS certificate %s is node %d's, this is node %d", certFile, id, nodeID)
	}
	if _, err := verifyChain(leaf, cert.Certificate[1:], pool, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, fmt.Errorf("cluster TLS certificate %s does not verify against %s: %w", certFile, caFile, err)
	}
	return &TLSIdentity{Certificate: cert, CAs: pool}, nil
}

// LoadSecret reads a cluster secret file. Surrounding whitespace is not part
// of the secret, so `openssl rand -hex 32 > secret` works as is.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster secret: %w", err)
	}
	secret := []byte(strings.TrimSpace(string(b)))
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("cluster secret %s: %d bytes, want at least %d (e.g. openssl rand -hex 32)",
			path, len(secret), MinSecretBytes)
	}
	return secret, nil
}

// verifyChain checks cert against roots for each of usages (all must hold).
func verifyChain(cert *x509.Certificate, rest [][]byte, roots *x509.CertPool, usages ...x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, der := range rest {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parse intermediate: %w", err)
		}
		inter.AddCert(c)
	}
	var chains [][]*x509.Certificate
	for _, u := range usages {
		var err error
		chains, err = cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{u}})
		if err != nil {
			return nil, err
		}
	}
	return chains, nil
}

// serverTLS is the acceptor's TLS config: client certificates are required
// and verified against the cluster CA by crypto/tls, and must be node
// certificates.
func (id *TLSIdentity) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    id.CAs,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			_, err := NodeIdentity(cs.PeerCertificates[0])
			return err
		},
	}
}

// clientTLS is the dialer's TLS config for a connection to node want. The
// peer is authenticated by its certificate's node identity, not by host
// name: cluster addresses are often IPs or names the certificate does not
// list, and the identity is the stronger check. crypto/tls's host name
// verification is therefore replaced (InsecureSkipVerify) by VerifyConnection,
// which verifies the chain against the cluster CA itself and then the
// identity; it runs on every handshake, resumed or not.
func (id *TLSIdentity) clientTLS(want uint64) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{id.Certificate},
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			leaf := cs.PeerCertificates[0]
			var rest [][]byte
			for _, c := range cs.PeerCertificates[1:] {
				rest = append(rest, c.Raw)
			}
			if _, err := verifyChain(leaf, rest, id.CAs, x509.ExtKeyUsageServerAuth); err != nil {
				return fmt.Errorf("peer certificate: %w", err)
			}
			got, err := NodeIdentity(leaf)
			if err != nil {
				return err
			}
			if want != 0 && got != want { // 0: a joiner does not know whom it dials, only the CA
				return fmt.Errorf("peer presented node %d's certificate, expected node %d", got, want)
			}
			return nil
		},
	}
}

// peerIdentity returns the node id of a verified TLS connection's peer.
func peerIdentity(c *tls.Conn) (uint64, error) {
	cs := c.ConnectionState()
	if len(cs.PeerCertificates) == 0 {
		return 0, errors.New("no peer certificate")
	}
	return NodeIdentity(cs.PeerCertificates[0])
}

// Challenge-response of secret mode.
const (
	nonceLen = 32
	macLen   = sha256.Size

	macDomain    = "chronik cluster handshake v2"
	roleAcceptor = "acceptor"
	roleDialer   = "dialer"
)

// handshakeMAC is HMAC-SHA256 under the secret over everything both ends
// agree the connection is: role, cluster id, purpose, dialer, acceptor and
// both nonces.
func handshakeMAC(secret []byte, role string, h handshake, acceptorNonce []byte) []byte {
	m := hmac.New(sha256.New, secret)
	b := make([]byte, 0, 128)
	b = append(b, macDomain...)
	b = append(b, 0)
	b = append(b, role...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.clusterID)))
	b = append(b, h.clusterID...)
	b = append(b, byte(h.purpose))
	b = binary.BigEndian.AppendUint64(b, h.from)
	b = binary.BigEndian.AppendUint64(b, h.to)
	b = append(b, h.nonce[:]...)
	b = append(b, acceptorNonce...)
	m.Write(b)
	return m.Sum(nil)
}
