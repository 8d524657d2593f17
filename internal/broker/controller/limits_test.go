package controller

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeMeta is a Metadata that applies topic creations and partition
// additions to an in-memory state.
type fakeMeta struct {
	mu       sync.Mutex
	s        *state.State
	proposed int
}

func newFakeMeta(brokers ...int32) *fakeMeta {
	s := state.New()
	for _, id := range brokers {
		s.Brokers[id] = &state.Broker{ID: id}
	}
	return &fakeMeta{s: s}
}

func (m *fakeMeta) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

func (m *fakeMeta) Propose(_ context.Context, typ string, payload any) (state.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.proposed++
	// Copy on write: callers may hold the previous state.
	next := state.New()
	for id, b := range m.s.Brokers {
		next.Brokers[id] = b
	}
	for name, t := range m.s.Topics {
		next.Topics[name] = t.Clone()
	}
	switch p := payload.(type) {
	case state.CreateTopic:
		t := p.Topic
		next.Topics[t.Name] = &t
	case state.CreatePartitions:
		next.Topics[p.Name].Partitions = append(next.Topics[p.Name].Partitions, p.Partitions...)
	case state.AlterTopicConfigs:
		next.Topics[p.Name].Configs = p.Configs
	default:
		panic("unexpected proposal " + typ)
	}
	m.s = next
	return state.Result{}, nil
}

func limitedController(md Metadata, limits Limits) *Controller {
	return New(Options{
		NodeID:                 1,
		Defaults:               topicconfig.Config{SegmentBytes: 1 << 30, MinInsyncReplicas: 1},
		DefaultPartitions:      3,
		DefaultReplication:     1,
		OffsetsTopicPartitions: 50,
		Limits:                 limits,
		Logger:                 slog.New(slog.DiscardHandler),
	}, md)
}

func wantRefusal(t *testing.T, what string, err error, code *kerr.Error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if Code(err) != code {
		t.Fatalf("%s: code %v, want %v (%v)", what, Code(err), code, err)
	}
	m := Message(err)
	for _, w := range words {
		if m == nil || !strings.Contains(*m, w) {
			t.Fatalf("%s: message %q should contain %q", what, deref(m), w)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestPartitionsPerRequestLimit: a topic asking for more partitions than
// the per-request limit (by count, by explicit assignment, or as an
// auto-created topic with a large default) is refused with
// POLICY_VIOLATION naming the flag, at once and without a proposal; a topic
// at the limit is created.
func TestPartitionsPerRequestLimit(t *testing.T) {
	md := newFakeMeta(1, 2, 3)
	c := limitedController(md, Limits{MaxPartitionsPerRequest: 1000})
	ctx := t.Context()

	start := time.Now()
	_, err := c.CreateTopic(ctx, CreateTopic{Name: "huge", Partitions: 100000, ReplicationFactor: 3})
	wantRefusal(t, "100,000 partitions", err, kerr.PolicyViolation, "100000", "1000", "--max-partitions-per-request")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusal took %v", d)
	}
	assignment := map[int32][]int32{}
	for p := range int32(1001) {
		assignment[p] = []int32{1}
	}
	_, err = c.CreateTopic(ctx, CreateTopic{Name: "assigned", Partitions: -1, ReplicationFactor: -1, Assignment: assignment})
	wantRefusal(t, "1001 assigned partitions", err, kerr.PolicyViolation, "1001", "--max-partitions-per-request")
	if err := c.CreatePartitions(ctx, "nope", 5000, nil, false); Code(err) != kerr.UnknownTopicOrPartition {
		t.Fatalf("create partitions of an unknown topic: %v", err)
	}
	if md.proposed != 0 {
		t.Fatalf("%d proposals for refused requests", md.proposed)
	}

	if _, err := c.CreateTopic(ctx, CreateTopic{Name: "at-limit", Partitions: 1000, ReplicationFactor: 1}); err != nil {
		t.Fatalf("1000 partitions: %v", err)
	}
	err = c.CreatePartitions(ctx, "at-limit", 2001, nil, false)
	wantRefusal(t, "adding 1001 partitions", err, kerr.PolicyViolation, "1001", "--max-partitions-per-request")
	if err := c.CreatePartitions(ctx, "at-limit", 2000, nil, false); err != nil {
		t.Fatalf("adding 1000 partitions: %v", err)
	}

	// Auto-creation obeys it too: a default partition count above it.
	c2 := limitedController(md, Limits{MaxPartitionsPerRequest: 2})
	_, err = c2.EnsureTopic(ctx, "auto")
	wantRefusal(t, "auto-created topic with 3 default partitions", err, kerr.PolicyViolation, "--max-partitions-per-request")
}

// TestPartitionsPerBrokerLimit: replicas are counted per broker over every
// topic; a change that would put one broker over the limit is refused with
// POLICY_VIOLATION naming the broker and the limit, one that fits is
// created, and the smaller file-handle capacity wins over the flag.
func TestPartitionsPerBrokerLimit(t *testing.T) {
	md := newFakeMeta(1, 2, 3)
	c := limitedController(md, Limits{MaxPartitionsPerRequest: 1000, MaxPartitionsPerBroker: 10})
	ctx := t.Context()

	// 3 brokers, rf 3: every broker hosts every partition.
	if _, err := c.CreateTopic(ctx, CreateTopic{Name: "a", Partitions: 8, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateTopic(ctx, CreateTopic{Name: "b", Partitions: 3, ReplicationFactor: 3})
	wantRefusal(t, "8 + 3 replicas per broker", err, kerr.PolicyViolation, "broker 1", "11", "limit of 10", "--max-partitions-per-broker")
	err = c.CreatePartitions(ctx, "a", 11, nil, false)
	wantRefusal(t, "growing to 11", err, kerr.PolicyViolation, "limit of 10")
	// An explicit assignment onto one broker: only that broker's count matters.
	_, err = c.CreateTopic(ctx, CreateTopic{Name: "c", Partitions: -1, ReplicationFactor: -1,
		Assignment: map[int32][]int32{0: {2}, 1: {2}, 2: {2}}})
	wantRefusal(t, "3 more on broker 2", err, kerr.PolicyViolation, "broker 2", "11")
	if _, err := c.CreateTopic(ctx, CreateTopic{Name: "d", Partitions: 2, ReplicationFactor: 3}); err != nil {
		t.Fatalf("up to the limit: %v", err)
	}
	// ValidateOnly is held to the same rule.
	_, err = c.CreateTopic(ctx, CreateTopic{Name: "e", Partitions: 1, ReplicationFactor: 1, ValidateOnly: true})
	wantRefusal(t, "validate-only past the limit", err, kerr.PolicyViolation, "limit of 10")

	// The file-handle capacity, when smaller, is the limit and says so.
	md2 := newFakeMeta(1)
	c2 := limitedController(md2, Limits{MaxPartitionsPerRequest: 1000, MaxPartitionsPerBroker: 4000, HandlePartitions: 5, FileHandleLimit: 512})
	_, err = c2.CreateTopic(ctx, CreateTopic{Name: "f", Partitions: 6, ReplicationFactor: 1})
	wantRefusal(t, "over the handle capacity", err, kerr.PolicyViolation, "limit of 5", "open-files limit of 512")
	if _, err := c2.CreateTopic(ctx, CreateTopic{Name: "f", Partitions: 5, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestPartitionsPerBrokerLimitConcurrent: requests racing on one node
// cannot together pass the per-broker limit with room for only one.
func TestPartitionsPerBrokerLimitConcurrent(t *testing.T) {
	md := newFakeMeta(1)
	c := limitedController(md, Limits{MaxPartitionsPerRequest: 1000, MaxPartitionsPerBroker: 10})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			_, _ = c.CreateTopic(t.Context(), CreateTopic{Name: "t" + string(rune('a'+i)), Partitions: 4, ReplicationFactor: 1})
		})
	}
	wg.Wait()
	hosted := 0
	for _, tp := range md.State().Topics {
		hosted += len(tp.Partitions)
	}
	if hosted != 8 {
		t.Fatalf("broker 1 hosts %d partitions, want 8 (two topics of 4 under a limit of 10)", hosted)
	}
}
