package broker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// clusterCerts makes a CA and node certificates 1-3 in a temp dir.
func clusterCerts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.CreateCA(certs.Options{Dir: dir}, false); err != nil {
		t.Fatal(err)
	}
	for id := uint64(1); id <= 3; id++ {
		if _, err := certs.CreateNode(certs.Options{Dir: dir}, id, []string{"127.0.0.1"}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func withTLS(dir string, id int32) func(*broker.Config) {
	return func(cfg *broker.Config) {
		n := uint64(id)
		cfg.ClusterTLSCertFile = filepath.Join(dir, certs.NodeCertFile(n))
		cfg.ClusterTLSKeyFile = filepath.Join(dir, certs.NodeKeyFile(n))
		cfg.ClusterTLSCAFile = filepath.Join(dir, certs.CACertFile)
	}
}

// A node refuses to start with another node's certificate or an unusable secret, naming
// the flag, before it writes any raft state.
func TestClusterCredentialsCheckedAtStart(t *testing.T) {
	dir := clusterCerts(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*broker.Config)
		want   string
	}{
		{"another node's certificate", withTLS(dir, 2), "cluster-tls-cert-file: cluster TLS certificate " + filepath.Join(dir, "node.2.crt") + " is node 2's, this is node 1"},
		{"short secret", func(cfg *broker.Config) { cfg.ClusterSecretFile = secret }, "cluster-secret-file: cluster secret " + secret + ": 9 bytes, want at least 16"},
		{"missing secret", func(cfg *broker.Config) { cfg.ClusterSecretFile = secret + ".nope" }, "cluster-secret-file:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := inproc.Config(t)
			tc.mutate(&cfg)
			n, err := broker.Start(context.Background(), cfg)
			if err == nil {
				inproc.CloseNode(t, n)
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(cfg.DataDir, "raft", "raft.db")); err == nil {
				t.Fatal("raft state written before the credentials were checked")
			}
		})
	}
}

// In-process nodes with mutual TLS between them replicate an acks=all topic.
func TestInprocTLSCluster(t *testing.T) {
	dir := clusterCerts(t)
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) { withTLS(dir, cfg.NodeID)(cfg) })
	c.StartAll()
	ctx := testharness.Context(t, 30*time.Second)
	cl := c.Client(0, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("tls"))
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 3, nil, "tls")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("over tls")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 20*time.Second, "ISR of three", func() bool {
		md := c.MetadataOf(2, "tls")
		return len(md.Topics) == 1 && len(md.Topics[0].Partitions) == 1 && len(md.Topics[0].Partitions[0].ISR) == 3
	})
}
