package broker_test

import (
	"context"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// saslListeners are a PLAINTEXT and a SASL_PLAINTEXT listener on the given
// addresses.
func saslListeners(plainAddr, saslAddr string) []broker.Listener {
	return []broker.Listener{
		{Name: "PLAINTEXT", Protocol: kafka.ProtocolPlaintext, Addr: plainAddr},
		{Name: "SASL_PLAINTEXT", Protocol: kafka.ProtocolSASLPlaintext, Addr: saslAddr},
	}
}

// listenerAddr is the bound address of n's listener name.
func listenerAddr(t *testing.T, n *broker.Node, name string) string {
	t.Helper()
	for _, l := range n.Addrs().Listeners {
		if l.Name == name {
			return l.Addr
		}
	}
	t.Fatalf("node has no %s listener: %+v", name, n.Addrs().Listeners)
	return ""
}

// createSCRAMUser sets user's password through kadm on addr.
func createSCRAMUser(t *testing.T, addr, user, password string, mech kadm.ScramMechanism) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := inproc.Admin(t, []string{addr}).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: 4096, Password: password}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create SCRAM user %s: %v", user, err)
	}
}

// saslClient is a client of addr that authenticates with mech.
func saslClient(t *testing.T, addr string, mech sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return inproc.Client(t, []string{addr}, append([]kgo.Opt{kgo.SASL(mech)}, opts...)...)
}

// produceConsume creates topic over the PLAINTEXT listener adminAddr
// (replication factor rf), produces n records over the SASL listener addr
// and reads them back with a consumer of its own over the same listener
// and mechanism.
func produceConsume(t *testing.T, adminAddr, addr string, mech sasl.Mechanism, topic string, rf int16, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := inproc.Admin(t, []string{adminAddr}).CreateTopic(ctx, 1, rf, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	cl := saslClient(t, addr, mech, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("record-%d", i))).FirstErr(); err != nil {
			t.Fatalf("produce %d to %s: %v", i, topic, err)
		}
	}
	consumer := saslClient(t, addr, mech, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(topic+"-group"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < n {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d from %s: %v", got, n, topic, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("record-%d", got); string(r.Value) != want {
				t.Fatalf("record %d is %q, want %q", got, r.Value, want)
			}
			got++
		})
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit offsets of %s: %v", topic, err)
	}
}

// TestSASLProduceConsume: franz-go produces (acks=all) and consumes in a
// group over a SASL_PLAINTEXT listener with PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512, for users created with kadm; a wrong password fails with
// SASL_AUTHENTICATION_FAILED.
func TestSASLProduceConsume(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.Listeners = saslListeners("127.0.0.1:0", "127.0.0.1:0")
	n := inproc.StartNode(t, cfg)
	plainAddr, saslAddr := listenerAddr(t, n, "PLAINTEXT"), listenerAddr(t, n, "SASL_PLAINTEXT")
	createSCRAMUser(t, plainAddr, "alice", "alice-pw", kadm.ScramSha256)
	createSCRAMUser(t, plainAddr, "bob", "bob-pw", kadm.ScramSha512)

	for name, mech := range map[string]sasl.Mechanism{
		"plain":         plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism(),
		"scram-sha-256": scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha256Mechanism(),
		"scram-sha-512": scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism(),
	} {
		t.Run(name, func(t *testing.T) { produceConsume(t, plainAddr, saslAddr, mech, "sasl-"+name, 1, 20) })
	}

	t.Run("wrong password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl := saslClient(t, saslAddr, scram.Auth{User: "bob", Pass: "not-bob-pw"}.AsSha512Mechanism(),
			kgo.DefaultProduceTopic("sasl-denied"), kgo.RecordRetries(0))
		err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("want SASL_AUTHENTICATION_FAILED, got %v", err)
		}
	})
}

// TestSASLCredentialsReplicateAndSurviveRestart: a user created through
// node 1 authenticates on node 3, and on node 2 after every node restarted
// from a metadata snapshot.
func TestSASLCredentialsReplicateAndSurviveRestart(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		cfg.Listeners = saslListeners(testharness.FreeAddr(t), testharness.FreeAddr(t))
		cfg.RaftSnapshotEntries = 5 // the restart below reads the credentials from a snapshot
	})
	c.StartAll()
	createSCRAMUser(t, listenerAddr(t, c.Nodes[0], "PLAINTEXT"), "carol", "carol-pw", kadm.ScramSha512)

	authenticates := func(i int) func() bool {
		return func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cl, err := kgo.NewClient(kgo.SeedBrokers(listenerAddr(t, c.Nodes[i], "SASL_PLAINTEXT")),
				kgo.SASL(scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			return cl.Ping(ctx) == nil
		}
	}
	testharness.Eventually(t, 10*time.Second, "carol authenticates on node 3", authenticates(2))

	for i := range c.Nodes {
		c.Stop(i)
	}
	c.StartAll()
	testharness.Eventually(t, 10*time.Second, "carol authenticates on node 2 after a restart", authenticates(1))
	produceConsume(t, listenerAddr(t, c.Nodes[1], "PLAINTEXT"), listenerAddr(t, c.Nodes[1], "SASL_PLAINTEXT"),
		scram.Auth{User: "carol", Pass: "carol-pw"}.AsSha512Mechanism(), "sasl-cluster", 3, 5)
}

// TestSCRAMCredentialAPIsNeedClusterAuthorization: with ACLs on, a SASL
// user that is not allowed DESCRIBE/ALTER on the cluster cannot list or
// change credentials, and a super user can; the principal checked is the
// one SASL proved.
func TestSCRAMCredentialAPIsNeedClusterAuthorization(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.Listeners = saslListeners("127.0.0.1:0", "127.0.0.1:0")
	cfg.Authorizer = broker.AuthorizerACL
	// ANONYMOUS, the PLAINTEXT listener's principal, bootstraps the users.
	cfg.SuperUsers = "User:admin;User:ANONYMOUS"
	n := inproc.StartNode(t, cfg)
	plainAddr, saslAddr := listenerAddr(t, n, "PLAINTEXT"), listenerAddr(t, n, "SASL_PLAINTEXT")
	createSCRAMUser(t, plainAddr, "admin", "admin-pw", kadm.ScramSha256)
	createSCRAMUser(t, plainAddr, "alice", "alice-pw", kadm.ScramSha256)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	alice := kadm.NewClient(saslClient(t, saslAddr, scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha256Mechanism()))
	if _, err := alice.DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes credentials: want CLUSTER_AUTHORIZATION_FAILED, got %v", err)
	}
	res, err := alice.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "admin", Mechanism: kadm.ScramSha256}}, nil)
	if err == nil {
		err = res["admin"].Err // kadm returns a refusal of every user as the call's error
	}
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice deletes admin: want CLUSTER_AUTHORIZATION_FAILED, got %v %+v", err, res)
	}

	admin := kadm.NewClient(saslClient(t, saslAddr, scram.Auth{User: "admin", Pass: "admin-pw"}.AsSha256Mechanism()))
	described, err := admin.DescribeUserSCRAMs(ctx)
	if err != nil || len(described) != 2 {
		t.Fatalf("admin describes credentials: %v %+v", err, described)
	}
}

// TestSASLSSLReauthentication: SCRAM-SHA-512 over a SASL_SSL listener with
// --connections-max-reauth-ms 1000: a franz-go producer keeps producing
// across several session lifetimes, re-authenticating on its connections.
func TestSASLSSLReauthentication(t *testing.T) {
	pki := testharness.NewPKI(t, "sasl test CA")
	cert, key := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "server-1"}, Server: true})
	cfg := inproc.Config(t)
	cfg.Listeners = []broker.Listener{
		{Name: "PLAINTEXT", Protocol: kafka.ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SASL_SSL", Protocol: kafka.ProtocolSASLSSL, Addr: "127.0.0.1:0"},
	}
	cfg.TLSCertFile, cfg.TLSKeyFile = cert, key
	cfg.ConnectionsMaxReauthMs = 1000
	n := inproc.StartNode(t, cfg)
	plainAddr, saslAddr := listenerAddr(t, n, "PLAINTEXT"), listenerAddr(t, n, "SASL_SSL")
	createSCRAMUser(t, plainAddr, "dave", "dave-pw", kadm.ScramSha512)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := inproc.Admin(t, []string{plainAddr}).CreateTopic(ctx, 1, 1, nil, "sasl-ssl"); err != nil {
		t.Fatal(err)
	}

	before := n.KafkaStats().Requests[36]
	cl := saslClient(t, saslAddr, scram.Auth{User: "dave", Pass: "dave-pw"}.AsSha512Mechanism(),
		kgo.DialTLSConfig(pki.ClientTLS("", "")), kgo.DefaultProduceTopic("sasl-ssl"))
	end := time.Now().Add(3500 * time.Millisecond)
	produced := 0
	for time.Now().Before(end) {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", produced, err)
		}
		produced++
		time.Sleep(100 * time.Millisecond) // spread over the lifetimes, not a wait for a condition
	}
	// Two SaslAuthenticate requests per SCRAM authentication: at least the
	// first one and two re-authentications of the producing connection.
	if got := n.KafkaStats().Requests[36] - before; got < 6 {
		t.Fatalf("%d SaslAuthenticate requests while producing %d records over 3.5 session lifetimes", got, produced)
	}
}
