// Package certs creates the certificates a chronik cluster uses: a CA, node
// certificates for the cluster listener (mutual TLS between nodes), and
// client certificates. It is what `chronik cert create-ca`, `create-node`
// and `create-client` run, in the spirit of CockroachDB's cert commands: a
// cluster's TLS from the binary alone, with nothing but crypto/x509.
//
// Every key is ECDSA P-256, written PEM (PKCS #8) with mode 0600; certificates
// are PEM with mode 0644; the directory is created 0700. Nothing is
// overwritten unless Overwrite is set, and every file is written to a
// temporary name and renamed, so a failure leaves no half-written file.
//
// A node certificate's identity is its URI SAN chronik://node/<id> (see
// NodeURI); its host names and IPs are SANs too, for tools that check them.
// A client certificate carries chronik://client/<name> and cannot act as a
// node. The cluster listener accepts a certificate as node N only if it
// chains to the cluster CA and names node N.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// File names inside a certs directory.
const (
	CACertFile       = "ca.crt"
	CAKeyFile        = "ca.key"
	ClientCACertFile = "ca-client.crt"
	ClientCAKeyFile  = "ca-client.key"
)

// NodeCertFile and NodeKeyFile name node id's certificate and key, so that
// the certificates of several nodes can share a directory.
func NodeCertFile(id uint64) string { return "node." + strconv.FormatUint(id, 10) + ".crt" }

// NodeKeyFile is node id's key file name.
func NodeKeyFile(id uint64) string { return "node." + strconv.FormatUint(id, 10) + ".key" }

// ClientCertFile is client name's certificate file name.
func ClientCertFile(name string) string { return "client." + name + ".crt" }

// ClientKeyFile is client name's key file name.
func ClientKeyFile(name string) string { return "client." + name + ".key" }

// Default lifetimes, as CockroachDB's: a CA outlives the certificates it
// signs.
const (
	DefaultCALifetime   = 10 * 365 * 24 * time.Hour
	DefaultCertLifetime = 5 * 365 * 24 * time.Hour
)

// backdate allows for clocks a little behind the one that signed.
const backdate = time.Hour

// NodeURI is the identity SAN of node id's certificate, chronik://node/<id>.
// The cluster transport parses the same form (transport.NodeIdentity).
func NodeURI(id uint64) *url.URL {
	return &url.URL{Scheme: "chronik", Host: "node", Path: "/" + strconv.FormatUint(id, 10)}
}

// NodeIdentity returns the node id a certificate was issued to: the id of its
// one chronik://node/<id> URI SAN. The common name is not an identity (any
// certificate the CA signed could carry "node-3" in it); a certificate with
// no node URI, or with two, is not a node certificate.
func NodeIdentity(cert *x509.Certificate) (uint64, error) {
	want := NodeURI(0)
	var id uint64
	for _, u := range cert.URIs {
		if u.Scheme != want.Scheme || u.Host != want.Host {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(u.Path, "/"), 10, 64)
		if err != nil || n == 0 || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return 0, fmt.Errorf("certificate %q: invalid node URI %s", cert.Subject.CommonName, u)
		}
		if id != 0 {
			return 0, fmt.Errorf("certificate %q names more than one node", cert.Subject.CommonName)
		}
		id = n
	}
	if id == 0 {
		return 0, fmt.Errorf("certificate %q is not a node certificate (no chronik://node/<id> URI SAN)",
			cert.Subject.CommonName)
	}
	return id, nil
}

// ClientURI is the identity SAN of a client certificate.
func ClientURI(name string) *url.URL {
	return &url.URL{Scheme: "chronik", Host: "client", Path: "/" + name}
}

// Options are common to every command.
type Options struct {
	// Dir is the certs directory the files are written to.
	Dir string
	// Overwrite replaces existing files; without it an existing file is an
	// error and nothing is written.
	Overwrite bool
	// Lifetime of the new certificate; zero picks the default.
	Lifetime time.Duration
	// CACert and CAKey sign node and client certificates; empty means the
	// CA files in Dir (for a client, the client CA when Dir has one).
	CACert, CAKey string
	// now is the clock, for tests; nil is time.Now.
	now func() time.Time
}

func (o Options) clock() time.Time {
	if o.now != nil {
		return o.now()
	}
	return time.Now()
}

// CreateCA creates a CA certificate and key in opts.Dir: ca.crt and ca.key,
// or ca-client.crt and ca-client.key for a separate client CA. It returns
// the paths written.
func CreateCA(opts Options, client bool) ([]string, error) {
	certFile, keyFile, cn := CACertFile, CAKeyFile, "Chronik CA"
	if client {
		certFile, keyFile, cn = ClientCACertFile, ClientCAKeyFile, "Chronik client CA"
	}
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = DefaultCALifetime
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl, err := template(cn, opts.clock(), lifetime)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	return writePair(opts, certFile, keyFile, der, key)
}

// CreateNode creates node id's certificate, signed by the CA, valid for the
// given host names and IP addresses (at least one) and usable both as a
// server and as a client (nodes dial each other).
func CreateNode(opts Options, id uint64, hosts []string) ([]string, error) {
	if id == 0 {
		return nil, errors.New("node id must be at least 1")
	}
	if len(hosts) == 0 {
		return nil, errors.New("at least one host name or IP address is required (--host)")
	}
	ca, caKey, err := loadCA(opts, opts.CACert, opts.CAKey, CACertFile, CAKeyFile)
	if err != nil {
		return nil, err
	}
	tmpl, key, err := leafTemplate(opts, "node-"+strconv.FormatUint(id, 10))
	if err != nil {
		return nil, err
	}
	tmpl.URIs = []*url.URL{NodeURI(id)}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		switch ip := net.ParseIP(h); {
		case h == "":
			return nil, errors.New("empty host name")
		case ip != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create node certificate: %w", err)
	}
	return writePair(opts, NodeCertFile(id), NodeKeyFile(id), der, key)
}

// clientName is what a client certificate may be named: a user or service
// name that is also a safe file name.
var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateClient creates a client certificate for name (its common name),
// signed by the client CA if Dir has one, else by the CA.
func CreateClient(opts Options, name string) ([]string, error) {
	if !clientName.MatchString(name) {
		return nil, fmt.Errorf("client name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	certFile, keyFile := CACertFile, CAKeyFile
	if opts.CACert == "" && opts.CAKey == "" {
		if _, err := os.Stat(filepath.Join(opts.Dir, ClientCAKeyFile)); err == nil {
			certFile, keyFile = ClientCACertFile, ClientCAKeyFile
		}
	}
	ca, caKey, err := loadCA(opts, opts.CACert, opts.CAKey, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	tmpl, key, err := leafTemplate(opts, name)
	if err != nil {
		return nil, err
	}
	tmpl.URIs = []*url.URL{ClientURI(name)}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create client certificate: %w", err)
	}
	return writePair(opts, ClientCertFile(name), ClientKeyFile(name), der, key)
}

// template is the part every certificate shares.
func template(cn string, now time.Time, lifetime time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Chronik"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(lifetime),
	}, nil
}

// leafTemplate is a node or client certificate's template and its new key.
func leafTemplate(opts Options, cn string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	lifetime := opts.Lifetime
	if lifetime == 0 {
		lifetime = DefaultCertLifetime
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl, err := template(cn, opts.clock(), lifetime)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	return tmpl, key, nil
}

// loadCA reads the signing CA: the given files, or the default names in Dir.
func loadCA(opts Options, certPath, keyPath, certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	if certPath == "" {
		certPath = filepath.Join(opts.Dir, certFile)
	}
	if keyPath == "" {
		keyPath = filepath.Join(opts.Dir, keyFile)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA certificate (create one with `chronik cert create-ca`): %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("CA certificate %s: no PEM certificate", certPath)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate %s: %w", certPath, err)
	}
	if !ca.IsCA {
		return nil, nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, fmt.Errorf("read CA key: %w", err)
	}
	block, _ = pem.Decode(keyPEM)
	if block == nil {
		return nil, nil, fmt.Errorf("CA key %s: no PEM block", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key %s: %w", keyPath, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("CA key %s does not belong to %s", keyPath, certPath)
	}
	return ca, key, nil
}

// writePair writes a certificate (0644) and its key (0600) into opts.Dir.
// Both targets are checked before either is written.
func writePair(opts Options, certFile, keyFile string, der []byte, key *ecdsa.PrivateKey) ([]string, error) {
	if opts.Dir == "" {
		return nil, errors.New("certs directory is empty (--certs-dir)")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create certs directory: %w", err)
	}
	certPath, keyPath := filepath.Join(opts.Dir, certFile), filepath.Join(opts.Dir, keyFile)
	if !opts.Overwrite {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("%s exists; pass --overwrite to replace it", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("check %s: %w", p, err)
			}
		}
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	// The key first: a certificate without its key is useless, a key
	// without its certificate is merely unused.
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return []string{certPath, keyPath}, nil
}

// writeFile writes data to a temporary file with mode perm, fsyncs it and
// renames it over path.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
