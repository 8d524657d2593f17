package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	p.AddCert(readCert(t, path))
	return p
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCAAndNodeCertificates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	opts := Options{Dir: dir, now: func() time.Time { return now }}
	if _, err := CreateCA(opts, false); err != nil {
		t.Fatal(err)
	}
	paths, err := CreateNode(opts, 2, []string{"node2.example", "10.0.0.2", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "node.2.crt"), filepath.Join(dir, "node.2.key")}
	if len(paths) != 2 || paths[0] != want[0] || paths[1] != want[1] {
		t.Fatalf("paths %v", paths)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Fatalf("dir mode %o", m)
	}
	for _, f := range []string{CAKeyFile, NodeKeyFile(2)} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Fatalf("%s mode %o", f, m)
		}
	}
	ca := readCert(t, filepath.Join(dir, CACertFile))
	if !ca.IsCA || ca.NotAfter.Sub(now) != DefaultCALifetime {
		t.Fatalf("CA: is CA %v, valid until %v", ca.IsCA, ca.NotAfter)
	}
	node := readCert(t, filepath.Join(dir, NodeCertFile(2)))
	if _, ok := node.PublicKey.(*ecdsa.PublicKey); !ok || node.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Fatalf("node key %T", node.PublicKey)
	}
	if id, err := NodeIdentity(node); err != nil || id != 2 {
		t.Fatalf("identity %d, %v", id, err)
	}
	if node.Subject.CommonName != "node-2" || len(node.DNSNames) != 2 || len(node.IPAddresses) != 1 {
		t.Fatalf("subject %q, DNS %v, IPs %v", node.Subject.CommonName, node.DNSNames, node.IPAddresses)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := node.Verify(x509.VerifyOptions{Roots: pool(t, filepath.Join(dir, CACertFile)),
			KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: now}); err != nil {
			t.Fatalf("verify for %v: %v", usage, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(want[0], want[1]); err != nil {
		t.Fatalf("the pair does not load: %v", err)
	}
}

func TestRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir}
	if _, err := CreateCA(opts, false); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateCA(opts, false); err == nil || !strings.Contains(err.Error(), "pass --overwrite") {
		t.Fatalf("second create-ca: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if string(after) != string(before) {
		t.Fatal("the CA key changed")
	}
	opts.Overwrite = true
	if _, err := CreateCA(opts, false); err != nil {
		t.Fatal(err)
	}
	after, _ = os.ReadFile(filepath.Join(dir, CAKeyFile))
	if string(after) == string(before) {
		t.Fatal("--overwrite kept the old key")
	}
	// Only the key existing is enough to refuse, and nothing is written.
	if err := os.Remove(filepath.Join(dir, CACertFile)); err != nil {
		t.Fatal(err)
	}
	opts.Overwrite = false
	if _, err := CreateCA(opts, false); err == nil {
		t.Fatal("create-ca over an existing key")
	}
	if _, err := os.Stat(filepath.Join(dir, CACertFile)); err == nil {
		t.Fatal("wrote the certificate after refusing")
	}
}

func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir}
	if _, err := CreateCA(opts, false); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateClient(opts, "alice"); err != nil {
		t.Fatal(err)
	}
	alice := readCert(t, filepath.Join(dir, ClientCertFile("alice")))
	if _, err := NodeIdentity(alice); err == nil {
		t.Fatal("a client certificate has a node identity")
	}
	if _, err := alice.Verify(x509.VerifyOptions{Roots: pool(t, filepath.Join(dir, CACertFile)),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a client certificate is valid for servers")
	}
	// With a client CA in the directory, clients are signed by it.
	if _, err := CreateCA(opts, true); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateClient(opts, "bob"); err != nil {
		t.Fatal(err)
	}
	bob := readCert(t, filepath.Join(dir, ClientCertFile("bob")))
	if _, err := bob.Verify(x509.VerifyOptions{Roots: pool(t, filepath.Join(dir, ClientCACertFile)),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("bob not signed by the client CA: %v", err)
	}
	for _, bad := range []string{"", "../x", "a/b", strings.Repeat("x", 65), "-x"} {
		if _, err := CreateClient(opts, bad); err == nil {
			t.Fatalf("client name %q accepted", bad)
		}
	}
}

func TestNodeNeedsCAAndHosts(t *testing.T) {
	dir := t.TempDir()
	if _, err := CreateNode(Options{Dir: dir}, 1, []string{"h"}); err == nil || !strings.Contains(err.Error(), "create-ca") {
		t.Fatalf("without a CA: %v", err)
	}
	if _, err := CreateCA(Options{Dir: dir}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateNode(Options{Dir: dir}, 1, nil); err == nil {
		t.Fatal("no hosts accepted")
	}
	if _, err := CreateNode(Options{Dir: dir}, 0, []string{"h"}); err == nil {
		t.Fatal("node id 0 accepted")
	}
	// A CA key that does not belong to the CA certificate is refused.
	other := t.TempDir()
	if _, err := CreateCA(Options{Dir: other}, false); err != nil {
		t.Fatal(err)
	}
	_, err := CreateNode(Options{Dir: dir, CAKey: filepath.Join(other, CAKeyFile)}, 1, []string{"h"})
	if err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched CA key: %v", err)
	}
}

func TestNodeIdentityNeedsExactlyOneNodeURI(t *testing.T) {
	c := &x509.Certificate{}
	c.URIs = append(c.URIs, NodeURI(3))
	if id, err := NodeIdentity(c); err != nil || id != 3 {
		t.Fatalf("%d, %v", id, err)
	}
	c.URIs = append(c.URIs, NodeURI(4))
	if _, err := NodeIdentity(c); err == nil {
		t.Fatal("two node URIs accepted")
	}
	c.URIs = nil
	c.Subject.CommonName = "node-3"
	if _, err := NodeIdentity(c); err == nil {
		t.Fatal("a common name made a node identity")
	}
}
