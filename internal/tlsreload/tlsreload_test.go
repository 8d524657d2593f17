package tlsreload_test

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/tlsreload"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// served is the subject common name a handshake with cfg gets now.
func served(t *testing.T, r *tlsreload.Reloader, client *tls.Config) string {
	t.Helper()
	cfg, err := r.ServerConfig().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cfg.Certificates[0].Leaf
	return leaf.Subject.CommonName
}

// TestRunReloadsChangedFiles: the poller swaps in files that changed, keeps
// the certificate when a new file is broken (logging why, once), and takes
// the files again once they are fixed.
func TestRunReloadsChangedFiles(t *testing.T) {
	pki := testharness.NewPKI(t, "CA")
	cert, key := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "one"}, Server: true})
	logs := &testharness.Buffer{}
	r, err := tlsreload.New(tlsreload.Options{Name: "test", CertFile: cert, KeyFile: key, CAFile: pki.CAFile,
		ClientAuth: tls.RequireAndVerifyClientCert, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Certificate().Subject; got != "CN=one" {
		t.Fatalf("subject %q", got)
	}
	if got := served(t, r, nil); got != "one" {
		t.Fatalf("served %q", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, 10*time.Millisecond)
	}()
	defer func() {
		cancel()
		<-done
	}()

	cert2, key2 := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "two"}, Server: true})
	testharness.CopyFile(t, key2, key)
	testharness.CopyFile(t, cert2, cert)
	testharness.Eventually(t, 5*time.Second, "reloaded", func() bool { return r.Certificate().Subject == "CN=two" })
	if got := served(t, r, nil); got != "two" {
		t.Fatalf("served %q after the change", got)
	}

	if err := os.WriteFile(cert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 5*time.Second, "failure logged", func() bool {
		return strings.Contains(logs.String(), "TLS certificate reload failed")
	})
	if got := served(t, r, nil); got != "two" {
		t.Fatalf("served %q after a broken file, want two still", got)
	}
	if n := strings.Count(logs.String(), "reload failed"); n != 1 {
		t.Fatalf("the broken file was logged %d times, want once until it changes", n)
	}

	cert3, key3 := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "three"}, Server: true})
	testharness.CopyFile(t, key3, key)
	testharness.CopyFile(t, cert3, cert)
	testharness.Eventually(t, 5*time.Second, "fixed file reloaded", func() bool { return r.Certificate().Subject == "CN=three" })
}

func TestNewRefusesBadFiles(t *testing.T) {
	pki := testharness.NewPKI(t, "CA")
	cert, key := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "one"}, Server: true})
	otherCert, _ := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "two"}, Server: true})
	notPEM := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(notPEM, []byte("nothing"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]tlsreload.Options{
		"missing key":              {CertFile: cert},
		"key of another cert":      {CertFile: otherCert, KeyFile: key},
		"CA file without PEM":      {CertFile: cert, KeyFile: key, CAFile: notPEM},
		"client auth without a CA": {CertFile: cert, KeyFile: key, ClientAuth: tls.RequireAndVerifyClientCert},
		"missing CA file":          {CertFile: cert, KeyFile: key, CAFile: notPEM + ".missing"},
	} {
		if _, err := tlsreload.New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
