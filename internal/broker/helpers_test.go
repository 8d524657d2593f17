package broker_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig is a node on random ports in a temp dir, quick to rebalance.
func testConfig(t *testing.T) broker.Config {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.ClusterAddr = "127.0.0.1:0"
	cfg.GroupInitialRebalanceDelay = 0
	cfg.GroupMinSessionTimeout = 100 * time.Millisecond
	cfg.OffsetsTopicPartitions = 3
	level := slog.LevelWarn
	if os.Getenv("CHRONIK_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return cfg
}

// startNode starts a node and stops it at the end of the test.
func startNode(t *testing.T, cfg broker.Config) *broker.Node {
	t.Helper()
	n, err := broker.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { closeNode(t, n) })
	eventually(t, 20*time.Second, "node ready", n.Ready)
	return n
}

func closeNode(t *testing.T, n *broker.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Errorf("close node: %v", err)
	}
}

func newClient(t *testing.T, n *broker.Node, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(n.Addrs().Kafka), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, n *broker.Node) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, n))
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, resp.Err, resp.ErrMessage)
	}
}

// consumeN reads exactly n records from the topic's start, failing on timeout.
func consumeN(t *testing.T, n *broker.Node, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts = append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := newClient(t, n, opts...)
	ctx := testCtx(t, 60*time.Second)
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records from %s: %v", len(out), want, topic, err)
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Fatalf("fetch %s[%d]: %v", tp, p, err)
		})
		out = append(out, fs.Records()...)
	}
	if len(out) != want {
		t.Fatalf("consumed %d records from %s, want %d", len(out), topic, want)
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool, detail ...func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, f := range detail {
				msg += "; " + f()
			}
			t.Fatalf("timed out after %v waiting for %s%s", d, what, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
