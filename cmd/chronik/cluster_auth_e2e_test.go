package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// runChronik runs the real binary with args and returns its combined output.
func runChronik(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, chronikBinary(t), args...).CombinedOutput()
	return string(out), err
}

// A three-node cluster with mutual TLS, its certificates made by `chronik cert` as the
// README shows, takes acks=all produces and serves them back from another node.
func TestTLSClusterMadeWithCertCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	certsDir := filepath.Join(t.TempDir(), "certs")
	if out, err := runChronik(t, "cert", "create-ca", "--certs-dir", certsDir); err != nil {
		t.Fatalf("create-ca: %v\n%s", err, out)
	}
	for i := 1; i <= 3; i++ {
		if out, err := runChronik(t, "cert", "create-node", "--certs-dir", certsDir, "--node-id", strconv.Itoa(i),
			"--host", "localhost,127.0.0.1"); err != nil {
			t.Fatalf("create-node %d: %v\n%s", i, err, out)
		}
	}
	specs := make([]testharness.Serve, 3)
	var peers []string
	for i := range specs {
		specs[i] = testharness.Serve{Binary: chronikBinary(t), Kafka: testharness.FreeAddr(t), Admin: testharness.FreeAddr(t),
			Cluster: testharness.FreeAddr(t)}
		peers = append(peers, fmt.Sprintf("%d=%s", i+1, specs[i].Cluster))
	}
	var procs []*testharness.Process
	for i, s := range specs {
		id := strconv.Itoa(i + 1)
		s.Args = []string{"--node-id", id, "--peers", strings.Join(peers, ","),
			"--default-replication-factor", "3", "--min-insync-replicas", "2",
			"--cluster-tls-cert-file", filepath.Join(certsDir, "node."+id+".crt"),
			"--cluster-tls-key-file", filepath.Join(certsDir, "node."+id+".key"),
			"--cluster-tls-ca-file", filepath.Join(certsDir, "ca.crt")}
		procs = append(procs, testharness.Launch(t, s))
	}
	for _, p := range procs {
		p.WaitReady(t)
	}

	ctx := testharness.Context(t, time.Minute)
	producer, err := kgo.NewClient(kgo.SeedBrokers(procs[0].Kafka), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	resp, err := kadm.NewClient(producer).CreateTopic(ctx, 1, 3, nil, "secure")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	const n = 200
	for i := range n {
		if err := producer.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(procs[2].Kafka), kgo.ConsumeTopics("secure"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for len(got) < n {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(got), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("record %d is %q", i, v)
		}
	}
	// Every partition of the topic is fully replicated over the TLS links.
	testharness.Eventually(t, 20*time.Second, "ISR of three", func() bool {
		topics, err := kadm.NewClient(consumer).ListTopics(ctx, "secure")
		if err != nil {
			return false
		}
		for _, p := range topics["secure"].Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return true
	})
}

// A node whose cluster listener is reachable from other machines refuses to start without
// cluster authentication, and starts with a secret or with an explicit --cluster-insecure.
func TestNonLoopbackClusterListenerNeedsAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	anyAddr := func() string { return fmt.Sprintf("0.0.0.0:%d", testharness.FreePort(t)) }
	out, err := runChronik(t, "serve", "--data-dir", t.TempDir(), "--kafka-addr", testharness.FreeAddr(t),
		"--admin-addr", testharness.FreeAddr(t), "--cluster-addr", anyAddr())
	if err == nil {
		t.Fatalf("started without cluster authentication:\n%s", out)
	}
	if !strings.Contains(out, "is reachable from other machines and no cluster authentication is configured") ||
		!strings.Contains(out, "--cluster-insecure") {
		t.Fatalf("refusal does not say why:\n%s", out)
	}

	secret := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{{"--cluster-insecure"}, {"--cluster-secret-file", secret}} {
		p := testharness.Start(t, testharness.Serve{Binary: chronikBinary(t), Cluster: anyAddr(), Args: extra})
		if err := p.Stop(t); err != nil {
			t.Fatalf("%v: %v", extra, err)
		}
	}
	// A secret too short to be one is refused at start-up.
	if err := os.WriteFile(secret, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runChronik(t, "serve", "--data-dir", t.TempDir(), "--kafka-addr", testharness.FreeAddr(t),
		"--admin-addr", testharness.FreeAddr(t), "--cluster-addr", anyAddr(), "--cluster-secret-file", secret)
	if err == nil || !strings.Contains(out, "want at least 16") {
		t.Fatalf("short secret: %v\n%s", err, out)
	}
}
