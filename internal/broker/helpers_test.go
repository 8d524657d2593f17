package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx := testharness.Context(t, 10*time.Second)
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
	cl := inproc.NodeClient(t, n, opts...)
	ctx := testharness.Context(t, 60*time.Second)
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
