package broker_test

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// logBuffer collects a node's log lines, for tests that look for one.
type logBuffer struct{ testharness.Buffer }

func (b *logBuffer) has(s string) func() bool {
	return func() bool { return strings.Contains(b.String(), s) }
}

// tlsNode is a node with a PLAINTEXT and an SSL listener, client
// certificates required (the CA file is given), its log captured.
type tlsNode struct {
	n        *broker.Node
	pki      *testharness.PKI
	log      *logBuffer
	certFile string // the server certificate files the node reads
	keyFile  string
	plain    string // bound listener addresses
	ssl      string
	saslSSL  string
}

func startTLSNode(t *testing.T, mutate func(*broker.Config)) *tlsNode {
	t.Helper()
	pki := testharness.NewPKI(t, "test CA")
	cert, key := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "server-1"}, Server: true})
	logs := &logBuffer{}
	cfg := inproc.Config(t)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Listeners = []broker.Listener{
		{Name: "PLAINTEXT", Protocol: kafka.ProtocolPlaintext, Addr: "127.0.0.1:0"},
		{Name: "SSL", Protocol: kafka.ProtocolSSL, Addr: "127.0.0.1:0"},
		{Name: "SASL_SSL", Protocol: kafka.ProtocolSASLSSL, Addr: "127.0.0.1:0"},
	}
	cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = cert, key, pki.CAFile
	if mutate != nil {
		mutate(&cfg)
	}
	n := inproc.StartNode(t, cfg)
	tn := &tlsNode{n: n, pki: pki, log: logs, certFile: cert, keyFile: key}
	for _, l := range n.Addrs().Listeners {
		switch l.Name {
		case "PLAINTEXT":
			tn.plain = l.Addr
		case "SSL":
			tn.ssl = l.Addr
		case "SASL_SSL":
			tn.saslSSL = l.Addr
		}
	}
	if tn.plain == "" || tn.ssl == "" || tn.saslSSL == "" || n.Addrs().Kafka != tn.plain {
		t.Fatalf("listeners %+v, Kafka %s", n.Addrs().Listeners, n.Addrs().Kafka)
	}
	// Without --advertised-listeners each listener advertises its own host.
	for _, l := range n.Addrs().Listeners {
		if l.Advertised != l.Addr {
			t.Fatalf("listener %s bound %s advertises %s, want the same", l.Name, l.Addr, l.Advertised)
		}
	}
	return tn
}

// clientCert issues a client certificate for cn.
func (tn *tlsNode) clientTLS(t *testing.T, cn string) *tls.Config {
	cert, key := tn.pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: cn, Organization: []string{"Test"}}})
	return tn.pki.ClientTLS(cert, key)
}

func sslClient(t *testing.T, addr string, cfg *tls.Config, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return inproc.Client(t, []string{addr}, append([]kgo.Opt{kgo.DialTLSConfig(cfg)}, opts...)...)
}

// metadataPorts asks for Metadata, FindCoordinator and DescribeCluster
// and returns the ports each answer names for this node.
func metadataPorts(t *testing.T, cl *kgo.Client) (meta, coordinator, cluster int32) {
	t.Helper()
	ctx := testharness.Context(t, 20*time.Second)
	mreq := kmsg.NewPtrMetadataRequest()
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil || len(mresp.Brokers) != 1 {
		t.Fatalf("metadata: %v %+v", err, mresp)
	}
	freq := kmsg.NewPtrFindCoordinatorRequest()
	freq.CoordinatorKey = "g"
	var fresp *kmsg.FindCoordinatorResponse
	testharness.Eventually(t, 20*time.Second, "coordinator", func() bool {
		fresp, err = freq.RequestWith(ctx, cl)
		return err == nil && fresp.ErrorCode == 0
	})
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil || len(dresp.Brokers) != 1 {
		t.Fatalf("describe cluster: %v %+v", err, dresp)
	}
	return mresp.Brokers[0].Port, fresp.Port, dresp.Brokers[0].Port
}

func port(t *testing.T, addr string) int32 {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// TestSSLListenerWithClientCertificates: over the SSL listener a franz-go
// client with a certificate from the CA produces and consumes, is told the
// SSL listener's address by Metadata, FindCoordinator and DescribeCluster
// (a PLAINTEXT client the plaintext one), and its principal is the
// certificate's subject. Clients without a certificate, with one from
// another CA or with an expired one are refused at the handshake.
func TestSSLListenerWithClientCertificates(t *testing.T) {
	tn := startTLSNode(t, nil)
	alice := tn.clientTLS(t, "alice")

	ssl := sslClient(t, tn.ssl, alice, kgo.DefaultProduceTopic("secure"), kgo.AllowAutoTopicCreation())
	ctx := testharness.Context(t, 30*time.Second)
	for i := range 10 {
		if err := ssl.ProduceSync(ctx, &kgo.Record{Value: []byte("v" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce over SSL: %v", err)
		}
	}
	consumer := sslClient(t, tn.ssl, alice, kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got int
	for got < 10 {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 10 over SSL: %v", got, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		got += len(fs.Records())
	}

	if m, c, d := metadataPorts(t, ssl); m != port(t, tn.ssl) || c != m || d != m {
		t.Errorf("SSL client told ports metadata %d, coordinator %d, describe cluster %d; want the SSL listener's %d", m, c, d, port(t, tn.ssl))
	}
	plain := inproc.NodeClient(t, tn.n)
	if m, c, d := metadataPorts(t, plain); m != port(t, tn.plain) || c != m || d != m {
		t.Errorf("PLAINTEXT client told ports metadata %d, coordinator %d, describe cluster %d; want %d", m, c, d, port(t, tn.plain))
	}
	m := scrape(t, tn.n)
	if v, ok := m.value("chronik_kafka_connections", "listener", "SSL"); !ok || v < 2 {
		t.Errorf("chronik_kafka_connections{listener=SSL} = %v %v, want the SSL clients' connections", v, ok)
	}
	if _, ok := m.value("chronik_kafka_connections", "listener", "PLAINTEXT"); !ok {
		t.Error("no chronik_kafka_connections{listener=PLAINTEXT}")
	}
	cert, _ := tn.n.TLSCertificate()
	if v, ok := m.value("chronik_tls_certificate_expiry_timestamp_seconds", "tls", "kafka"); !ok || int64(v) != cert.NotAfter.Unix() {
		t.Errorf("certificate expiry metric %v %v, want %d", v, ok, cert.NotAfter.Unix())
	}
	// The certificate's subject, RFC 2253 order, is the principal.
	testharness.Eventually(t, 5*time.Second, "principal logged", tn.log.has(`principal="User:CN=alice,O=Test"`), tn.log.String)

	if err := apiVersionsOverTLS(tn.ssl, alice); err != nil {
		t.Fatalf("a client with a good certificate: %v", err)
	}
	other := testharness.NewPKI(t, "other CA")
	ocert, okey := other.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "mallory"}})
	expired, expiredKey := tn.pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "old"}, NotAfter: time.Now().Add(-time.Hour)})
	for name, cfg := range map[string]*tls.Config{
		"no certificate":         tn.pki.ClientTLS("", ""),
		"another CA":             withRoots(other.ClientTLS(ocert, okey), tn.pki.ClientTLS("", "")),
		"an expired certificate": tn.pki.ClientTLS(expired, expiredKey),
	} {
		t.Run(name, func(t *testing.T) {
			if err := apiVersionsOverTLS(tn.ssl, cfg); err == nil {
				t.Fatal("served a Kafka request")
			}
		})
	}
	testharness.Eventually(t, 5*time.Second, "handshake failure logged", tn.log.has("TLS handshake failed"), tn.log.String)
	// SASL_SSL listeners ask for no client certificate (KIP-684): SASL
	// authenticates there, and ApiVersions is served before it.
	if err := apiVersionsOverTLS(tn.saslSSL, tn.pki.ClientTLS("", "")); err != nil {
		t.Errorf("SASL_SSL listener without a client certificate: %v", err)
	}
	// Nothing else was affected.
	if err := ssl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after refused handshakes: %v", err)
	}
}

// withRoots is cfg trusting roots' CA (a client of another CA that trusts
// the server).
func withRoots(cfg, roots *tls.Config) *tls.Config {
	cfg.RootCAs = roots.RootCAs
	return cfg
}

// apiVersionsFrame is a complete ApiVersions v0 request.
func apiVersionsFrame() []byte {
	body := []byte{0, 18, 0, 0, 0, 0, 0, 7, 0, 1, 'x'} // key 18, v0, correlation 7, client id "x"
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// apiVersionsOn sends ApiVersions on conn and reads the answer's header;
// an error means the request was not served.
func apiVersionsOn(conn net.Conn) error {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(apiVersionsFrame()); err != nil {
		return err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return err
	}
	if corr := binary.BigEndian.Uint32(hdr[4:]); corr != 7 {
		return errors.New("wrong correlation id " + strconv.Itoa(int(corr)))
	}
	return nil
}

// apiVersionsOverTLS dials addr with TLS and asks ApiVersions.
func apiVersionsOverTLS(addr string, cfg *tls.Config) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	return apiVersionsOn(conn)
}

// TestWrongProtocolOnAListener: plaintext spoken to the SSL listener and
// TLS to the PLAINTEXT listener are each a log line and a closed
// connection; clients of both listeners are served throughout.
func TestWrongProtocolOnAListener(t *testing.T) {
	tn := startTLSNode(t, nil)
	alice := tn.clientTLS(t, "alice")
	ssl := sslClient(t, tn.ssl, alice)
	plain := inproc.NodeClient(t, tn.n)
	ctx := testharness.Context(t, 20*time.Second)
	ping := func(what string) {
		t.Helper()
		for name, cl := range map[string]*kgo.Client{"SSL": ssl, "PLAINTEXT": plain} {
			if err := cl.Ping(ctx); err != nil {
				t.Fatalf("%s: %s client: %v", what, name, err)
			}
		}
	}
	ping("before")

	conn, err := net.DialTimeout("tcp", tn.ssl, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := apiVersionsOn(conn); err == nil {
		t.Fatal("the SSL listener answered a plaintext request")
	}
	testharness.Eventually(t, 5*time.Second, "plaintext on the SSL listener logged", tn.log.has("not TLS: a plaintext client on a TLS listener?"), tn.log.String)

	if err := apiVersionsOverTLS(tn.plain, alice); err == nil {
		t.Fatal("the PLAINTEXT listener completed a TLS handshake")
	}
	testharness.Eventually(t, 5*time.Second, "TLS on the plaintext listener logged", tn.log.has("a TLS handshake on a plaintext listener"), tn.log.String)
	ping("after")
}

// serverSubject is the subject of the certificate addr serves now.
func serverSubject(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestCertificateReload: replacing the certificate files and reloading
// (ReloadTLS, then SIGHUP) serves the new certificate to new handshakes
// while a client connected before keeps producing; a broken file keeps
// the certificate being served.
func TestCertificateReload(t *testing.T) {
	tn := startTLSNode(t, nil)
	alice := tn.clientTLS(t, "alice")
	cl := sslClient(t, tn.ssl, alice, kgo.DefaultProduceTopic("reload"), kgo.AllowAutoTopicCreation())
	ctx := testharness.Context(t, 30*time.Second)
	produce := func(what string) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(what)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", what, err)
		}
	}
	produce("before")
	if got := serverSubject(t, tn.ssl, alice); got != "server-1" {
		t.Fatalf("serving %q, want server-1", got)
	}
	before, _ := tn.n.TLSCertificate()

	swap := func(cn string) {
		cert, key := tn.pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: cn}, Server: true})
		testharness.CopyFile(t, key, tn.keyFile)
		testharness.CopyFile(t, cert, tn.certFile)
	}
	swap("server-2")
	if err := tn.n.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := serverSubject(t, tn.ssl, alice); got != "server-2" {
		t.Fatalf("after ReloadTLS serving %q, want server-2", got)
	}
	produce("after reload") // the connection from before is still up
	if after, _ := tn.n.TLSCertificate(); after.Subject != "CN=server-2" || !after.Loaded.After(before.Loaded) {
		t.Fatalf("TLSCertificate = %+v", after)
	}

	swap("server-3")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 5*time.Second, "SIGHUP reloads", func() bool { return serverSubject(t, tn.ssl, alice) == "server-3" })

	if err := os.WriteFile(tn.certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tn.n.ReloadTLS(); err == nil {
		t.Fatal("a broken certificate file reloaded")
	}
	if got := serverSubject(t, tn.ssl, alice); got != "server-3" {
		t.Fatalf("after a broken file serving %q, want server-3 still", got)
	}
	produce("after a broken file")
}

// TestStalledHandshake: a client that connects to the SSL listener and
// sends nothing is cut after the request read timeout, while other clients
// handshake and are served meanwhile (handshakes never block accepting).
func TestStalledHandshake(t *testing.T) {
	tn := startTLSNode(t, func(cfg *broker.Config) { cfg.RequestReadTimeout = 500 * time.Millisecond })
	alice := tn.clientTLS(t, "alice")
	var stalled []net.Conn
	for range 5 {
		conn, err := net.DialTimeout("tcp", tn.ssl, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stalled = append(stalled, conn)
	}
	if err := apiVersionsOverTLS(tn.ssl, alice); err != nil {
		t.Fatalf("a client while 5 handshakes stall: %v", err)
	}
	for _, conn := range stalled {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled handshake: read %v after %v, want the connection closed", err, time.Since(start))
		}
	}
	testharness.Eventually(t, 5*time.Second, "stall logged", tn.log.has("TLS handshake not finished within the request read timeout"), tn.log.String)
}

// TestClusterOverSSL: three nodes, each with a PLAINTEXT and an SSL
// listener. A client seeded with one node's SSL listener learns every
// broker's SSL address, creates a replicated topic and produces to and
// consumes from partitions led by every node; the PLAINTEXT listeners'
// clients are told the PLAINTEXT addresses. After a node restarts it
// registers the same endpoints again.
func TestClusterOverSSL(t *testing.T) {
	pki := testharness.NewPKI(t, "cluster CA")
	cert, key := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "node"}, Server: true})
	sslAddrs := map[int32]string{}
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		ssl := testharness.FreeAddr(t)
		sslAddrs[cfg.NodeID] = ssl
		cfg.Listeners = []broker.Listener{
			{Name: "PLAINTEXT", Protocol: kafka.ProtocolPlaintext, Addr: cfg.KafkaAddr},
			{Name: "SSL", Protocol: kafka.ProtocolSSL, Addr: ssl},
		}
		cfg.TLSCertFile, cfg.TLSKeyFile = cert, key
	})
	c.StartAll()
	clientTLS := pki.ClientTLS("", "")
	cl := sslClient(t, sslAddrs[1], clientTLS)
	ctx := testharness.Context(t, 60*time.Second)

	brokerPorts := func(cl *kgo.Client) map[int32]int32 {
		t.Helper()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int32{}
		for _, b := range resp.Brokers {
			out[b.NodeID] = b.Port
		}
		return out
	}
	for id, p := range brokerPorts(cl) {
		if p != port(t, sslAddrs[id]) {
			t.Errorf("SSL client told broker %d port %d, want its SSL port %d", id, p, port(t, sslAddrs[id]))
		}
	}
	plain := inproc.Client(t, c.KafkaAddrs())
	for id, p := range brokerPorts(plain) {
		if p != port(t, c.Cfgs[id-1].KafkaAddr) {
			t.Errorf("PLAINTEXT client told broker %d port %d, want %s", id, p, c.Cfgs[id-1].KafkaAddr)
		}
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "spread", 3, 3
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic over SSL: %v %+v", err, resp)
	}
	producer := sslClient(t, sslAddrs[1], clientTLS, kgo.DefaultProduceTopic("spread"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for p := range int32(3) {
		for i := range 5 {
			if err := producer.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce to partition %d over SSL: %v", p, err)
			}
		}
	}
	consumer := sslClient(t, sslAddrs[2], clientTLS, kgo.ConsumeTopics("spread"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got int
	for got < 15 {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of 15 over SSL: %v", got, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		got += len(fs.Records())
	}

	c.Restart(2)
	testharness.Eventually(t, 20*time.Second, "restarted node's SSL endpoint", func() bool {
		return brokerPorts(cl)[3] == port(t, sslAddrs[3])
	})
}

// TestStartRefusesBadCertificateFiles: a node whose certificate files do
// not load does not start, and says which files.
func TestStartRefusesBadCertificateFiles(t *testing.T) {
	pki := testharness.NewPKI(t, "CA")
	cert, key := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "server"}, Server: true})
	otherCert, _ := pki.Issue(testharness.CertOptions{Subject: pkix.Name{CommonName: "other"}, Server: true})
	for name, files := range map[string][3]string{
		"missing certificate":    {cert + ".missing", key, ""},
		"key of another cert":    {otherCert, key, ""},
		"CA file not a PEM file": {cert, key, key},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := inproc.Config(t)
			cfg.Listeners = []broker.Listener{{Name: "SSL", Protocol: kafka.ProtocolSSL, Addr: "127.0.0.1:0"}}
			cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSCAFile = files[0], files[1], files[2]
			n, err := broker.Start(t.Context(), cfg)
			if err == nil {
				inproc.CloseNode(t, n)
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), "tls kafka listeners") {
				t.Fatalf("error %q does not say which TLS failed", err)
			}
		})
	}
}
