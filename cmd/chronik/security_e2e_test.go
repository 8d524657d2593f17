package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// securedNode is a node with PLAINTEXT, SASL_PLAINTEXT and SASL_SSL
// listeners and the ACL authorizer. Anonymous PLAINTEXT clients are super
// users, so the test can create the first SCRAM user the way an operator
// bootstraps one on a loopback listener.
// testCerts creates in a temporary directory, which it returns, a CA,
// node 1's certificate for localhost and 127.0.0.1 and a client
// certificate for each of clients, these two valid for lifetime (zero: the
// default).
func testCerts(t *testing.T, lifetime time.Duration, clients ...string) string {
	t.Helper()
	dir := t.TempDir()
	copts := certs.Options{Dir: dir}
	if _, err := certs.CreateCA(copts, false); err != nil {
		t.Fatal(err)
	}
	copts.Lifetime = lifetime
	if _, err := certs.CreateNode(copts, 1, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for _, cn := range clients {
		if _, err := certs.CreateClient(copts, cn); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type securedNode struct {
	plain, sasl, saslSSL string
	ca                   string
}

func startSecuredNode(t *testing.T) securedNode {
	t.Helper()
	dir := testCerts(t, 0)
	cfg := inproc.Config(t)
	cfg.OffsetsTopicPartitions = 1
	cfg.Listeners = []broker.Listener{
		{Name: "PLAINTEXT", Protocol: kafka.ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL_PLAINTEXT", Protocol: kafka.ProtocolSASLPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL_SSL", Protocol: kafka.ProtocolSASLSSL, Addr: "127.0.0.1:0"},
	}
	cfg.TLSCertFile = filepath.Join(dir, certs.NodeCertFile(1))
	cfg.TLSKeyFile = filepath.Join(dir, certs.NodeKeyFile(1))
	cfg.Authorizer = "acl"
	cfg.SuperUsers = "User:admin;User:ANONYMOUS"
	n := inproc.StartNode(t, cfg)
	sn := securedNode{ca: filepath.Join(dir, certs.CACertFile)}
	for _, l := range n.Addrs().Listeners {
		switch l.Name {
		case "PLAINTEXT":
			sn.plain = l.Addr
		case "SASL_PLAINTEXT":
			sn.sasl = l.Addr
		case "SASL_SSL":
			sn.saslSSL = l.Addr
		}
	}
	if sn.plain == "" || sn.sasl == "" || sn.saslSSL == "" {
		t.Fatalf("listeners %+v", n.Addrs().Listeners)
	}
	return sn
}

// cliRunner runs chronik commands against one profiles file.
type cliRunner struct {
	t    *testing.T
	path string
	env  map[string]string // set for each command (newConnTestEnv blanks the CHRONIK_* ones)
}

// run runs args with stdin and returns stdout; the exit code must be want.
func (c cliRunner) run(want int, stdin string, args ...string) (string, string) {
	c.t.Helper()
	e, _ := newConnTestEnv(c.t)
	for k, v := range c.env {
		c.t.Setenv(k, v)
	}
	e.f.ConfigPath = func() (string, error) { return c.path, nil }
	e.f.IO.In = strings.NewReader(stdin)
	if code := e.run(c.t, args...); code != want {
		c.t.Fatalf("chronik %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, e.out.String(), e.errOut.String())
	}
	return e.out.String(), e.errOut.String()
}

func (c cliRunner) json(v any, args ...string) {
	c.t.Helper()
	out, _ := c.run(exitOK, "", append(args, "-o", "json")...)
	reflect.ValueOf(v).Elem().SetZero() // decoding into old elements would keep their fields
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("chronik %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// scramClient is a franz-go client that is not ours authenticating with
// SCRAM-SHA-512 on the SASL_PLAINTEXT listener.
func scramClient(t *testing.T, addr, user, pass string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()),
		kgo.RecordRetries(2), kgo.RequestRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestSecurityCLIEndToEnd: on a node with SASL listeners and ACLs, the CLI
// creates users a SCRAM client then authenticates as, creates, lists and
// deletes ACLs that decide what that client may do, sets and lists quotas,
// and runs topic commands over SASL_SSL with a profile.
func TestSecurityCLIEndToEnd(t *testing.T) {
	sn := startSecuredNode(t)
	_, path := newConnTestEnv(t)
	cli := cliRunner{t: t, path: path}
	plain := []string{"--brokers", sn.plain}

	// The first user, on the anonymous (super user) PLAINTEXT listener.
	out, _ := cli.run(exitOK, "admin-pw\n", append([]string{"user", "create", "admin"}, plain...)...)
	if want := "Set the SCRAM-SHA-512 credential of user \"admin\" (8192 iterations).\n"; out != want {
		t.Errorf("user create printed %q, want %q", out, want)
	}

	// A profile for SASL_SSL as admin; from here on everything goes through it.
	pwFile := writeFile(t, t.TempDir(), "admin.pass", "admin-pw\n")
	cli.run(exitOK, "", "profile", "create", "sec", "--brokers", sn.saslSSL, "--tls-ca-file", sn.ca,
		"--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "admin", "--sasl-password-file", pwFile)
	cli.run(exitOK, "", "profile", "use", "sec")
	cli.run(exitOK, "", "topic", "create", "orders", "--partitions", "1")
	var topics []topicadmin.Listing
	cli.json(&topics, "topic", "list")
	if len(topics) != 1 || topics[0].Name != "orders" {
		t.Errorf("topic list over SASL_SSL: %+v", topics)
	}

	// user create, then the user authenticates with a client we did not write.
	cli.run(exitOK, "alice-pw", "user", "create", "alice", "--iterations", "4096")
	var users []topicadmin.User
	cli.json(&users, "user", "list")
	if len(users) != 2 || users[1].Name != "alice" || len(users[1].Credentials) != 1 ||
		users[1].Credentials[0] != (topicadmin.UserCredential{Mechanism: "SCRAM-SHA-512", Iterations: 4096}) {
		t.Errorf("user list: %+v", users)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	alice := scramClient(t, sn.sasl, "alice", "alice-pw")
	if err := alice.Ping(ctx); err != nil {
		t.Fatalf("alice authenticates: %v", err)
	}
	if err := scramClient(t, sn.sasl, "alice", "wrong").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	// ACLs decide: alice may not produce until `acl create --producer`.
	produce := func() error {
		return alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("v")}).FirstErr()
	}
	if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	var acls []topicadmin.ACL
	cli.json(&acls, "acl", "create", "--allow-principal", "User:alice", "--producer", "--topic", "orders")
	if len(acls) != 3 {
		t.Errorf("acl create: %+v", acls)
	}
	cli.json(&acls, "acl", "list", "--principal", "User:alice")
	want := []topicadmin.ACL{
		{Principal: "User:alice", Host: "*", Operation: "CREATE", Permission: "ALLOW", ResourceType: "TOPIC", ResourceName: "orders", PatternType: "LITERAL"},
		{Principal: "User:alice", Host: "*", Operation: "DESCRIBE", Permission: "ALLOW", ResourceType: "TOPIC", ResourceName: "orders", PatternType: "LITERAL"},
		{Principal: "User:alice", Host: "*", Operation: "WRITE", Permission: "ALLOW", ResourceType: "TOPIC", ResourceName: "orders", PatternType: "LITERAL"},
	}
	if len(acls) != len(want) || acls[0] != want[0] || acls[1] != want[1] || acls[2] != want[2] {
		t.Errorf("acl list\n%+v\nwant\n%+v", acls, want)
	}
	if err := produce(); err != nil {
		t.Fatalf("produce with the producer ACLs: %v", err)
	}
	cli.json(&acls, "acl", "delete", "--allow-principal", "User:alice", "--topic", "orders")
	if len(acls) != 3 {
		t.Errorf("acl delete deleted %+v", acls)
	}
	cli.json(&acls, "acl", "list")
	if len(acls) != 0 {
		t.Errorf("acl list after delete: %+v", acls)
	}

	// Quotas.
	cli.run(exitOK, "", "quota", "set", "--user", "alice", "--producer-byte-rate", "1048576", "--consumer-byte-rate", "2097152")
	cli.run(exitOK, "", "quota", "set", "--default", "client-id", "--request-percentage", "50")
	var quotas []topicadmin.Quota
	cli.json(&quotas, "quota", "list")
	if len(quotas) != 2 || quotas[1].Entity.String() != "user=alice" ||
		quotas[1].Values["producer_byte_rate"] != 1048576 || quotas[1].Values["consumer_byte_rate"] != 2097152 ||
		quotas[0].Entity.String() != "client-id=<default>" || quotas[0].Values["request_percentage"] != 50 {
		t.Errorf("quota list: %+v", quotas)
	}
	cli.json(&quotas, "quota", "list", "--user", "alice")
	if len(quotas) != 1 || quotas[0].Entity.String() != "user=alice" {
		t.Errorf("quota list --user alice: %+v", quotas)
	}
	cli.run(exitOK, "", "quota", "set", "--user", "alice", "--delete", "producer-byte-rate,consumer-byte-rate")
	cli.json(&quotas, "quota", "list", "--user", "alice")
	if len(quotas) != 0 {
		t.Errorf("quota list after delete: %+v", quotas)
	}

	// user delete: the credential is gone and alice can no longer log in.
	cli.run(exitOK, "", "user", "delete", "alice")
	cli.json(&users, "user", "list")
	if len(users) != 1 || users[0].Name != "admin" {
		t.Errorf("user list after delete: %+v", users)
	}
	if err := scramClient(t, sn.sasl, "alice", "alice-pw").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Errorf("a deleted user: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	_, stderr := cli.run(exitError, "", "user", "delete", "alice")
	if !strings.Contains(stderr, "RESOURCE_NOT_FOUND") {
		t.Errorf("deleting a missing user: %s", stderr)
	}
}

// TestSecurityCLIErrors: what the commands say when the cluster refuses
// them or the connection's security does not match the listener.
func TestSecurityCLIErrors(t *testing.T) {
	sn := startSecuredNode(t)
	_, path := newConnTestEnv(t)
	cli := cliRunner{t: t, path: path}
	cli.run(exitOK, "pw", "user", "create", "bob", "--brokers", sn.plain)
	pw := writeFile(t, t.TempDir(), "bob.pass", "pw")
	bob := []string{"--brokers", sn.sasl, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "bob", "--sasl-password-file", pw, "--timeout", "5s"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		// bob is no super user and holds no ACL.
		{append([]string{"acl", "list"}, bob...), "CLUSTER_AUTHORIZATION_FAILED"},
		{append([]string{"topic", "create", "t"}, bob...), "TOPIC_AUTHORIZATION_FAILED"},
		{append(append([]string{"user", "list"}, bob...), "--sasl-user", "nobody"), "SASL authentication as \"nobody\" failed"},
		// Plaintext spoken to a SASL listener, TLS to a plaintext one.
		{[]string{"topic", "list", "--brokers", sn.sasl, "--timeout", "5s"}, "closed the connection"},
		{[]string{"topic", "list", "--brokers", sn.plain, "--tls", "--timeout", "5s"}, "closed the connection during the SSL handshake"},
		{[]string{"topic", "list", "--brokers", sn.saslSSL, "--tls", "--sasl-mechanism", "PLAIN", "--sasl-user", "bob", "--sasl-password-file", pw, "--timeout", "5s"},
			"not signed by a CA this client trusts"},
	} {
		_, stderr := cli.run(exitError, "", tc.args...)
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("chronik %s: stderr %q lacks %q", strings.Join(tc.args, " "), stderr, tc.want)
		}
	}
}

// TestKafkaClientCertificateCLI: on an SSL listener that requires client
// certificates, the CLI authenticates with --tls-cert-file/--tls-key-file,
// its certificate's subject is a super user that may manage ACLs; without
// the certificate the handshake is refused with a message that says so.
func TestKafkaClientCertificateCLI(t *testing.T) {
	dir := testCerts(t, 0, "ops")
	clientCrt, clientKey := filepath.Join(dir, certs.ClientCertFile("ops")), filepath.Join(dir, certs.ClientKeyFile("ops"))
	pair, err := tls.LoadX509KeyPair(clientCrt, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, certs.CACertFile)
	cfg := inproc.Config(t)
	cfg.OffsetsTopicPartitions = 1
	cfg.Listeners = []broker.Listener{{Name: "SSL", Protocol: kafka.ProtocolSSL, Addr: "127.0.0.1:0"}}
	cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(dir, certs.NodeCertFile(1)), filepath.Join(dir, certs.NodeKeyFile(1))
	cfg.TLSCAFile = ca // client certificates required
	cfg.Authorizer = "acl"
	cfg.SuperUsers = "User:" + leaf.Subject.String()
	n := inproc.StartNode(t, cfg)
	ssl := n.Addrs().Listeners[0].Addr

	_, path := newConnTestEnv(t)
	cli := cliRunner{t: t, path: path}
	cli.run(exitOK, "", "profile", "create", "ops", "--brokers", ssl, "--tls-ca-file", ca,
		"--tls-cert-file", clientCrt, "--tls-key-file", clientKey)
	var acls []topicadmin.ACL
	cli.json(&acls, "acl", "create", "--profile", "ops", "--allow-principal", "User:CN=app", "--operation", "READ", "--topic", "t")
	cli.json(&acls, "acl", "list", "--profile", "ops")
	if len(acls) != 1 || acls[0].Principal != "User:CN=app" || acls[0].Operation != "READ" {
		t.Errorf("acl list with a client certificate: %+v", acls)
	}
	_, stderr := cli.run(exitError, "", "acl", "list", "--brokers", ssl, "--tls-ca-file", ca, "--timeout", "3s")
	if !strings.Contains(stderr, "(SSL)") || !strings.Contains(stderr, "certificate required") || !strings.Contains(stderr, "--tls-cert-file") {
		t.Errorf("no client certificate: %s", stderr)
	}
}
