package broker_test

import (
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// TestAdminHTTPSAndReadToken: the admin API over HTTPS with the read
// token and mutual TLS. Probes stay open; reads need the read or the admin
// token (or a client certificate); mutations need the admin token or a
// client certificate, and their log line names who it was. /v1/node
// reports the listeners and the certificates.
func TestAdminHTTPSAndReadToken(t *testing.T) {
	const adminToken, readToken = "admin-secret", "read-secret"
	pki := testharness.NewPKI(t, "admin CA")
	cert, key := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "admin-server"}, Server: true})
	tn := startTLSNode(t, func(cfg *broker.Config) {
		cfg.AdminTLSCertFile, cfg.AdminTLSKeyFile, cfg.AdminTLSCAFile = cert, key, pki.CAFile
		cfg.AdminToken, cfg.AdminReadToken = adminToken, readToken
		cfg.AdminHandler = server.HandlerFor(cfg.Logger, adminToken)
	})
	base := "https://" + tn.n.Addrs().Admin
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientTLS("", "")}}
	opsCert, opsKey := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "ops", Organization: []string{"Test"}}})
	ops := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(opsCert, opsKey)}}
	t.Cleanup(anon.CloseIdleConnections)
	t.Cleanup(ops.CloseIdleConnections)

	do := func(cl *http.Client, method, path, token, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	checks := []struct {
		cl                  *http.Client
		method, path, token string
		want                int
	}{
		{anon, "GET", "/healthz", "", 200},
		{anon, "GET", "/readyz", "", 200},
		{anon, "GET", "/v1/node", "", 401},
		{anon, "GET", "/metrics", "", 401},
		{anon, "GET", "/v1/node", "wrong", 401},
		{anon, "GET", "/v1/node", readToken, 200},
		{anon, "GET", "/v1/brokers", adminToken, 200},
		{ops, "GET", "/v1/node", "", 200},
		{anon, "POST", "/v1/topics", readToken, 401},
	}
	for _, c := range checks {
		if got, body := do(c.cl, c.method, c.path, c.token, `{"name":"denied"}`); got != c.want {
			t.Errorf("%s %s with token %q: %d, want %d (%s)", c.method, c.path, c.token, got, c.want, body)
		}
	}
	if got, body := do(anon, "POST", "/v1/topics", adminToken, `{"name":"by-token"}`); got != http.StatusCreated {
		t.Fatalf("create with the admin token: %d %s", got, body)
	}
	if got, body := do(ops, "POST", "/v1/topics", "", `{"name":"by-cert"}`); got != http.StatusCreated {
		t.Fatalf("create with a client certificate: %d %s", got, body)
	}
	testharness.Eventually(t, 5*time.Second, "mutations logged with their principal", func() bool {
		return tn.log.has("principal=admin-token")() && tn.log.has(`principal="cert:CN=ops,O=Test"`)()
	}, tn.log.String)

	// Plain HTTP on the HTTPS port is not served.
	if resp, err := http.Get("http://" + tn.n.Addrs().Admin + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served")
		}
	}

	_, body := do(anon, "GET", "/v1/node", readToken, "")
	var env api.Envelope[api.NodeInfo]
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatal(err)
	}
	n := env.Data
	if len(n.Listeners) != 3 || n.Listeners[1].Name != "SSL" || n.Listeners[1].TLSClientAuth != "required" || n.Listeners[2].TLSClientAuth != "none" ||
		n.Listeners[1].BoundAddr != tn.ssl || n.Listeners[0].TLSClientAuth != "" || n.Listeners[0].AdvertisedAddr != n.KafkaAddr {
		t.Errorf("listeners %+v", n.Listeners)
	}
	if n.TLS == nil || n.TLS.Subject != "CN=server-1" || time.Until(n.TLS.NotAfter) < time.Hour {
		t.Errorf("tls %+v", n.TLS)
	}
	if n.AdminTLS == nil || n.AdminTLS.Subject != "CN=admin-server" {
		t.Errorf("admin tls %+v", n.AdminTLS)
	}
}
