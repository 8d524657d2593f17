package broker_test

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

type groupMember struct {
	cl       *kgo.Client
	mu       sync.Mutex
	assigned map[int32]bool
}

func (m *groupMember) owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for p := range m.assigned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func joinMember(t *testing.T, addr, group, topic string, balancer kgo.GroupBalancer) *groupMember {
	t.Helper()
	m := &groupMember{assigned: map[int32]bool{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer), kgo.DisableAutoCommit(), kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range a[topic] {
				m.assigned[p] = true
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.assigned, p)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range r[topic] {
				delete(m.assigned, p)
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	return m
}

// poll keeps the members' fetch loops (and so their group heartbeats) going
// until ctx ends, collecting the records.
func pollMembers(ctx context.Context, ms []*groupMember, out chan<- *kgo.Record) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				fs := m.cl.PollFetches(ctx)
				for _, r := range fs.Records() {
					select {
					case out <- r:
					case <-ctx.Done():
						return
					}
				}
				// A commit racing a rebalance fails (REBALANCE_IN_PROGRESS,
				// ILLEGAL_GENERATION); the member keeps polling and commits
				// again after it rejoined, as a real consumer does.
				_ = m.cl.CommitUncommittedOffsets(ctx)
			}
		}()
	}
	return &wg
}

// TestConsumerGroupRebalanceAndOffsetsSurviveRestart: three members split six
// partitions, one leaves and the others take over, and the committed offsets
// are still there after the broker restarts. Run with each assignor the
// broker must relay.
func TestConsumerGroupRebalanceAndOffsetsSurviveRestart(t *testing.T) {
	balancers := map[string]kgo.GroupBalancer{
		"range":              kgo.RangeBalancer(),
		"roundrobin":         kgo.RoundRobinBalancer(),
		"sticky":             kgo.StickyBalancer(),
		"cooperative-sticky": kgo.CooperativeStickyBalancer(),
	}
	names := []string{"range", "roundrobin", "sticky", "cooperative-sticky"}
	if testing.Short() {
		names = names[3:]
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) { testGroup(t, balancers[name]) })
	}
}

func testGroup(t *testing.T, balancer kgo.GroupBalancer) {
	cfg := inproc.Config(t)
	n := inproc.Launch(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	const topic, group, perPartition = "orders", "billing", 50
	createTopic(t, adm, topic, 6, nil)
	prod := inproc.NodeClient(t, n, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testharness.Context(t, 90*time.Second)
	for p := int32(0); p < 6; p++ {
		for i := 0; i < perPartition; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	prod.Close()

	members := []*groupMember{
		joinMember(t, n.Addrs().Kafka, group, topic, balancer),
		joinMember(t, n.Addrs().Kafka, group, topic, balancer),
		joinMember(t, n.Addrs().Kafka, group, topic, balancer),
	}
	pctx, stopPolling := context.WithCancel(ctx)
	records := make(chan *kgo.Record, 1000)
	polling := pollMembers(pctx, members, records)

	ownedBy := func(ms []*groupMember, want int) bool {
		all := map[int32]int{}
		for _, m := range ms {
			o := m.owned()
			if len(o) != want {
				return false
			}
			for _, p := range o {
				all[p]++
			}
		}
		return len(all) == 6
	}
	testharness.Eventually(t, 30*time.Second, "three members owning two partitions each", func() bool { return ownedBy(members, 2) })

	// One member leaves; the other two take over its partitions.
	stopPolling()
	polling.Wait()
	members[2].cl.Close()
	pctx, stopPolling = context.WithCancel(ctx)
	polling = pollMembers(pctx, members[:2], records)
	testharness.Eventually(t, 30*time.Second, "two members owning three partitions each", func() bool { return ownedBy(members[:2], 3) })

	// Everything gets consumed and committed.
	testharness.Eventually(t, 30*time.Second, "all committed", func() bool {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Logf("fetch offsets: %v", err)
			return false
		}
		for p := int32(0); p < 6; p++ {
			o, ok := offs.Lookup(topic, p)
			if !ok || o.At != perPartition {
				return false
			}
		}
		return true
	})
	stopPolling()
	polling.Wait()
	for _, m := range members[:2] {
		m.cl.Close()
	}
	inproc.CloseNode(t, n)

	// After a restart the committed offsets are still there, and a new member
	// resumes from them.
	n2 := inproc.StartNode(t, cfg)
	adm2 := inproc.NodeAdmin(t, n2)
	offs, err := adm2.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 6; p++ {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != perPartition {
			t.Fatalf("after restart partition %d committed offset %+v, want %d", p, o, perPartition)
		}
	}
	prod2 := inproc.NodeClient(t, n2, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod2.ProduceSync(ctx, &kgo.Record{Partition: 4, Value: []byte("after-restart")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	m := joinMember(t, n2.Addrs().Kafka, group, topic, balancer)
	defer m.cl.Close()
	for {
		fs := m.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no record after restart")
		}
		if rs := fs.Records(); len(rs) > 0 {
			if len(rs) != 1 || string(rs[0].Value) != "after-restart" {
				t.Fatalf("new member got %d records (first %q); want only the one produced after the restart", len(rs), rs[0].Value)
			}
			break
		}
	}
	groups, err := adm2.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if g := groups[group]; g.State != "Stable" && g.State != "CompletingRebalance" {
		t.Errorf("group state %q", g.State)
	}
}
