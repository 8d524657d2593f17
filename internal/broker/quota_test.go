package broker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

func strp(s string) *string { return &s }

// incompressible is n random bytes: quotas count the bytes on the wire, and
// a client compresses (franz-go: snappy by default).
func incompressible(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func quotaEntity(parts ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for i := 0; i+1 < len(parts); i += 2 {
		c := kadm.ClientQuotaEntityComponent{Type: parts[i]}
		if parts[i+1] != "<default>" {
			c.Name = strp(parts[i+1])
		}
		e = append(e, c)
	}
	return e
}

func setQuotas(t *testing.T, adm *kadm.Client, e kadm.ClientQuotaEntity, kv ...any) {
	t.Helper()
	entry := kadm.AlterClientQuotaEntry{Entity: e}
	for i := 0; i+1 < len(kv); i += 2 {
		entry.Ops = append(entry.Ops, kadm.AlterClientQuotaOp{Key: kv[i].(string), Value: kv[i+1].(float64)})
	}
	res, err := adm.AlterClientQuotas(testharness.Context(t, 10*time.Second), []kadm.AlterClientQuotaEntry{entry})
	if err != nil {
		t.Fatalf("alter client quotas: %v", err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter client quotas %v: %v (%s)", r.Entity, r.Err, r.ErrMessage)
		}
	}
}

// describeKeys describes with the filter and renders each entity and its
// values, sorted, e.g. "user=alice,client-id=<default>:producer_byte_rate=100".
func describeKeys(t *testing.T, adm *kadm.Client, strict bool, comps ...kadm.DescribeClientQuotaComponent) string {
	t.Helper()
	got, err := adm.DescribeClientQuotas(testharness.Context(t, 10*time.Second), strict, comps)
	if err != nil {
		t.Fatalf("describe client quotas: %v", err)
	}
	var out []string
	for _, d := range got {
		var parts, vals []string
		for _, c := range d.Entity {
			parts = append(parts, c.String())
		}
		for _, v := range d.Values {
			vals = append(vals, fmt.Sprintf("%s=%g", v.Key, v.Value))
		}
		sort.Strings(vals)
		out = append(out, strings.Join(parts, ",")+":"+strings.Join(vals, ","))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestClientQuotasAlterAndDescribe: kadm's AlterClientQuotas and
// DescribeClientQuotas with Kafka's entities, defaults, filters and
// per-entry errors.
func TestClientQuotasAlterAndDescribe(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	ctx := testharness.Context(t, 30*time.Second)

	setQuotas(t, adm, quotaEntity("user", "alice"), "producer_byte_rate", 1024.0, "request_percentage", 25.5)
	setQuotas(t, adm, quotaEntity("user", "alice", "client-id", "<default>"), "consumer_byte_rate", 2048.0)
	setQuotas(t, adm, quotaEntity("client-id", "<default>"), "producer_byte_rate", 4096.0)
	setQuotas(t, adm, quotaEntity("user", "<default>"), "consumer_byte_rate", 8192.0)

	// One request with valid and invalid entries: each answered on its own,
	// the valid ones applied.
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("client-id", "app"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 100}}},
		{Entity: quotaEntity("client-id", "neg"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: -1}}},
		{Entity: quotaEntity("client-id", "frac"), Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 1.5}}},
		{Entity: quotaEntity("client-id", "bad"), Ops: []kadm.AlterClientQuotaOp{{Key: "no_such_quota", Value: 1}}},
		{Entity: quotaEntity("client-id", "mut"), Ops: []kadm.AlterClientQuotaOp{{Key: "controller_mutation_rate", Value: 1}}},
		{Entity: quotaEntity("ip", "10.0.0.1"), Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}}},
		{Entity: quotaEntity("group", "g"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: nil, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: quotaEntity("user", ""), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: quotaEntity("client-id", "nan"), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: math.NaN()}}},
		{Entity: quotaEntity("client-id", "inf"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: math.Inf(1)}}},
		{Entity: quotaEntity("client-id", "twice"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: quotaEntity("client-id", "twice"), Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 13 {
		t.Fatalf("%d results for 13 entries", len(res))
	}
	if res[0].Err != nil {
		t.Fatalf("valid entry failed: %v %s", res[0].Err, res[0].ErrMessage)
	}
	for _, r := range res[1:] {
		if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage == "" {
			t.Errorf("%v: %v %q, want INVALID_REQUEST with a message", r.Entity, r.Err, r.ErrMessage)
		}
	}

	// validate_only checks without changing anything.
	vres, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: quotaEntity("client-id", "only-validated"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: quotaEntity("client-id", "x"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 0}}},
	})
	if err != nil || vres[0].Err != nil || !errors.Is(vres[1].Err, kerr.InvalidRequest) {
		t.Fatalf("validate only: %v %+v", err, vres)
	}

	all := describeKeys(t, adm, false)
	want := "client-id=<default>:producer_byte_rate=4096 client-id=app:producer_byte_rate=100 " +
		"user=<default>:consumer_byte_rate=8192 user=alice,client-id=<default>:consumer_byte_rate=2048 " +
		"user=alice:producer_byte_rate=1024,request_percentage=25.5"
	if all != want {
		t.Fatalf("describe all:\n got %s\nwant %s", all, want)
	}
	if strings.Contains(all, "only-validated") {
		t.Fatal("validate_only changed the quotas")
	}

	exactAlice := kadm.DescribeClientQuotaComponent{Type: "user", MatchName: strp("alice"), MatchType: 0}
	for desc, tc := range map[string]struct {
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   string
	}{
		"alice":        {false, []kadm.DescribeClientQuotaComponent{exactAlice}, "user=alice,client-id=<default>:consumer_byte_rate=2048 user=alice:producer_byte_rate=1024,request_percentage=25.5"},
		"alice strict": {true, []kadm.DescribeClientQuotaComponent{exactAlice}, "user=alice:producer_byte_rate=1024,request_percentage=25.5"},
		"default user": {true, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 1}}, "user=<default>:consumer_byte_rate=8192"},
		"any client strict": {true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}},
			"client-id=<default>:producer_byte_rate=4096 client-id=app:producer_byte_rate=100"},
		"alice's default client": {true, []kadm.DescribeClientQuotaComponent{exactAlice, {Type: "client-id", MatchType: 1}},
			"user=alice,client-id=<default>:consumer_byte_rate=2048"},
	} {
		if got := describeKeys(t, adm, tc.strict, tc.comps...); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", desc, got, tc.want)
		}
	}
	// A malformed filter is an error, not an empty answer.
	if _, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0}}); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("EXACT without a name: %v", err)
	}
	if _, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "group", MatchType: 2}}); !errors.Is(err, kerr.UnsupportedVersion) {
		t.Fatalf("unknown entity type: %v", err)
	}

	// Removing the last value removes the entity.
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: quotaEntity("client-id", "app"),
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("remove: %v %+v", err, res)
	}
	if got := describeKeys(t, adm, true, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 2}); got != "client-id=<default>:producer_byte_rate=4096" {
		t.Fatalf("after remove: %s", got)
	}
}

// quotaNode is a node whose quota rates use short windows (11 x 100 ms), so
// a few seconds of traffic measure a settled rate, and whose logs do not
// fsync, so the disk does not bound the unthrottled clients.
func quotaNode(t *testing.T) *broker.Node {
	t.Helper()
	cfg := inproc.Config(t)
	cfg.QuotaWindowNum = 11
	cfg.QuotaWindowSize = 100 * time.Millisecond
	cfg.LogFlush = partlog.FlushNever
	return inproc.StartNode(t, cfg)
}

// throttleSeen counts the throttles a client was told about.
type throttleSeen struct {
	count atomic.Int64
	max   atomic.Int64 // milliseconds
}

func (h *throttleSeen) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.count.Add(1)
	if ms := d.Milliseconds(); ms > h.max.Load() {
		h.max.Store(ms)
	}
}

const quotaRate = 200 << 10 // 200 KiB/s

// produceFor produces 1 KiB records as fast as the client may for d and
// returns the acknowledged bytes per second.
func produceFor(t *testing.T, cl *kgo.Client, topic string, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithCancel(testharness.Context(t, d+30*time.Second))
	defer cancel()
	var acked atomic.Int64
	var failed atomic.Value
	// Distinct values: identical ones compress to nothing within a batch.
	values := incompressible(1 << 20)
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; time.Now().Before(deadline); i++ {
		off := (i * 1031) % (len(values) - 1024)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: values[off : off+1024]}, func(r *kgo.Record, err error) {
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					failed.Store(err)
				}
				return
			}
			if time.Now().Before(deadline) {
				acked.Add(int64(len(r.Value)))
			}
		})
	}
	rate := float64(acked.Load()) / d.Seconds()
	cancel()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return rate
}

// TestProduceQuotaThrottles: a producer over its producer_byte_rate gets
// throttle_time_ms and is held to about its quota, while an unthrottled
// client id on the same broker is not slowed; the throttles are counted in
// the node's metrics.
func TestProduceQuotaThrottles(t *testing.T) {
	n := quotaNode(t)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "slow", 1, nil)
	createTopic(t, adm, "fast", 1, nil)
	setQuotas(t, adm, quotaEntity("client-id", "slow-producer"), "producer_byte_rate", float64(quotaRate))

	// Small batches, as a steady producer sends: one 1 MiB batch alone would
	// be five seconds of this quota.
	opts := []kgo.Opt{kgo.ProducerBatchMaxBytes(16 << 10), kgo.ProducerLinger(0)}
	var slowThrottles, fastThrottles throttleSeen
	slow := inproc.NodeClient(t, n, append(opts, kgo.ClientID("slow-producer"), kgo.WithHooks(&slowThrottles))...)
	fast := inproc.NodeClient(t, n, append(opts, kgo.ClientID("fast-producer"), kgo.WithHooks(&fastThrottles))...)

	const d = 3 * time.Second
	var slowRate, fastRate float64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); slowRate = produceFor(t, slow, "slow", d) }()
	go func() { defer wg.Done(); fastRate = produceFor(t, fast, "fast", d) }()
	wg.Wait()
	t.Logf("throttled producer %.0f KiB/s (quota %d KiB/s, %d throttles, max %d ms); unthrottled %.0f KiB/s",
		slowRate/1024, quotaRate>>10, slowThrottles.count.Load(), slowThrottles.max.Load(), fastRate/1024)

	if slowRate > 2*quotaRate || slowRate < quotaRate/4 {
		t.Errorf("throttled producer achieved %.0f B/s, want about the quota %d B/s (below twice it)", slowRate, quotaRate)
	}
	if slowThrottles.count.Load() == 0 || slowThrottles.max.Load() <= 0 {
		t.Error("the throttled producer never saw throttle_time_ms > 0")
	}
	if fastThrottles.count.Load() != 0 {
		t.Errorf("the unthrottled producer saw %d throttles", fastThrottles.count.Load())
	}
	if fastRate < 3*quotaRate {
		t.Errorf("unthrottled producer achieved only %.0f B/s, below 3x the other's quota", fastRate)
	}
	m := scrape(t, n)
	if v, _ := m.value("chronik_quota_throttled_requests_total", "quota", "produce"); v < 1 {
		t.Errorf("chronik_quota_throttled_requests_total{quota=produce} = %v", v)
	}
	if v, _ := m.value("chronik_quota_throttle_time_seconds", "quota", "produce"); v < 1 {
		t.Errorf("chronik_quota_throttle_time_seconds{quota=produce} has %v samples", v)
	}
}

// consumeFor reads from the topic's start for at most d (or until want
// bytes) and returns the record bytes per second.
func consumeFor(t *testing.T, cl *kgo.Client, d time.Duration, want int64) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(testharness.Context(t, d+30*time.Second), d)
	defer cancel()
	var got int64
	start := time.Now()
	for got < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got += int64(len(r.Value)) })
	}
	return float64(got) / time.Since(start).Seconds()
}

// TestFetchQuotaThrottles: a consumer over its consumer_byte_rate is held to
// about it, another client id reading the same data is not slowed.
func TestFetchQuotaThrottles(t *testing.T) {
	n := quotaNode(t)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "data", 1, nil)
	const total = 4 << 20
	loader := inproc.NodeClient(t, n, kgo.ProducerBatchMaxBytes(16<<10))
	value := incompressible(total)
	ctx := testharness.Context(t, 60*time.Second)
	for off := 0; off < total; off += 1024 {
		loader.Produce(ctx, &kgo.Record{Topic: "data", Value: value[off : off+1024]}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("load: %v", err)
			}
		})
	}
	if err := loader.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	setQuotas(t, adm, quotaEntity("client-id", "slow-consumer"), "consumer_byte_rate", float64(quotaRate))

	// Small fetches, as with small batches above.
	opts := []kgo.Opt{kgo.ConsumeTopics("data"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(32 << 10), kgo.FetchMaxPartitionBytes(32 << 10)}
	var slowThrottles, fastThrottles throttleSeen
	slow := inproc.NodeClient(t, n, append(opts, kgo.ClientID("slow-consumer"), kgo.WithHooks(&slowThrottles))...)
	fast := inproc.NodeClient(t, n, append(opts, kgo.ClientID("fast-consumer"), kgo.WithHooks(&fastThrottles))...)

	const d = 3 * time.Second
	var slowRate, fastRate float64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); slowRate = consumeFor(t, slow, d, total) }()
	go func() { defer wg.Done(); fastRate = consumeFor(t, fast, d, total) }()
	wg.Wait()
	t.Logf("throttled consumer %.0f KiB/s (quota %d KiB/s, %d throttles, max %d ms); unthrottled %.0f KiB/s",
		slowRate/1024, quotaRate>>10, slowThrottles.count.Load(), slowThrottles.max.Load(), fastRate/1024)

	if slowRate > 2*quotaRate || slowRate < quotaRate/4 {
		t.Errorf("throttled consumer read %.0f B/s, want about the quota %d B/s (below twice it)", slowRate, quotaRate)
	}
	if slowThrottles.count.Load() == 0 {
		t.Error("the throttled consumer never saw throttle_time_ms > 0")
	}
	if fastThrottles.count.Load() != 0 || fastRate < 3*quotaRate {
		t.Errorf("unthrottled consumer: %.0f B/s, %d throttles", fastRate, fastThrottles.count.Load())
	}
	if v, _ := scrape(t, n).value("chronik_quota_throttled_requests_total", "quota", "fetch"); v < 1 {
		t.Errorf("chronik_quota_throttled_requests_total{quota=fetch} = %v", v)
	}
}

// TestMutedConnectionDoesNotDelayShutdown: a connection muted for hours by
// a tiny quota does not hold up the node's graceful close.
func TestMutedConnectionDoesNotDelayShutdown(t *testing.T) {
	n := quotaNode(t)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "t", 1, nil)
	setQuotas(t, adm, quotaEntity("client-id", "muted"), "producer_byte_rate", 1.0)
	var seen throttleSeen
	cl := inproc.NodeClient(t, n, kgo.ClientID("muted"), kgo.WithHooks(&seen))
	ctx := testharness.Context(t, 10*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: incompressible(10 << 10)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 5*time.Second, "throttle seen", func() bool { return seen.max.Load() > int64(time.Hour/time.Millisecond) })
	// Another request on the muted connection waits in the socket.
	cl.Produce(context.Background(), &kgo.Record{Topic: "t", Value: []byte("x")}, func(*kgo.Record, error) {})

	start := time.Now()
	inproc.CloseNode(t, n)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("close took %v with a muted connection", took)
	}
}

// TestClientQuotasNeedClusterConfigRights: with ACLs on and none granted,
// describing and altering quotas is CLUSTER_AUTHORIZATION_FAILED and
// changes nothing; a super user may.
func TestClientQuotasNeedClusterConfigRights(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.Authorizer = broker.AuthorizerACL
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n) // User:ANONYMOUS, no ACLs
	ctx := testharness.Context(t, 10*time.Second)
	if _, err := adm.DescribeClientQuotas(ctx, false, nil); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("describe without DESCRIBE_CONFIGS: %v", err)
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: quotaEntity("client-id", "c"),
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 100}}}})
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alter without ALTER_CONFIGS: %v %+v", err, res)
	}

	cfg2 := inproc.Config(t)
	cfg2.Authorizer = broker.AuthorizerACL
	cfg2.SuperUsers = "User:ANONYMOUS"
	n2 := inproc.StartNode(t, cfg2)
	setQuotas(t, inproc.NodeAdmin(t, n2), quotaEntity("client-id", "c"), "producer_byte_rate", 100.0)
}

// TestRequestPercentageThrottles: a client over its request_percentage (the
// handler time of its requests) is throttled, at most one window at a time;
// another client id is not.
func TestRequestPercentageThrottles(t *testing.T) {
	n := quotaNode(t)
	adm := inproc.NodeAdmin(t, n)
	setQuotas(t, adm, quotaEntity("client-id", "busy"), "request_percentage", 0.001)
	var busy, idle throttleSeen
	busyCl := inproc.NodeClient(t, n, kgo.ClientID("busy"), kgo.WithHooks(&busy))
	idleCl := inproc.NodeClient(t, n, kgo.ClientID("idle"), kgo.WithHooks(&idle))
	ctx := testharness.Context(t, 20*time.Second)
	for i := 0; i < 20; i++ {
		for _, cl := range []*kgo.Client{busyCl, idleCl} {
			if _, err := kadm.NewClient(cl).ListBrokers(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if busy.count.Load() == 0 {
		t.Fatal("a client over its request_percentage was never throttled")
	}
	if m := busy.max.Load(); m > 100 {
		t.Fatalf("request throttle %d ms, above one 100 ms window", m)
	}
	if idle.count.Load() != 0 {
		t.Fatalf("the client without a quota was throttled %d times", idle.count.Load())
	}
}

// TestClientQuotasReplicated: a quota set through one node is in the raft
// metadata: every node describes it, and the node a client produces to
// enforces it.
func TestClientQuotasReplicated(t *testing.T) {
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		cfg.QuotaWindowSize = 100 * time.Millisecond
		cfg.LogFlush = partlog.FlushNever
	})
	c.StartAll()
	setQuotas(t, kadm.NewClient(c.Client(1)), quotaEntity("client-id", "everywhere"), "producer_byte_rate", 1.0)
	cl0 := c.Client(0)
	for i := range c.Nodes {
		id := c.Cfgs[i].NodeID
		testharness.Eventually(t, 10*time.Second, fmt.Sprintf("node %d to describe the quota", id), func() bool {
			// Asked of that broker itself: kadm would pick any.
			resp, err := cl0.Broker(int(id)).Request(testharness.Context(t, 5*time.Second), kmsg.NewPtrDescribeClientQuotasRequest())
			if err != nil {
				return false
			}
			r := resp.(*kmsg.DescribeClientQuotasResponse)
			return r.ErrorCode == 0 && len(r.Entries) == 1 && len(r.Entries[0].Values) == 1 &&
				r.Entries[0].Values[0].Key == "producer_byte_rate" && r.Entries[0].Values[0].Value == 1
		})
	}
	adm := kadm.NewClient(c.Client(2))
	createTopic(t, adm, "r", 1, nil) // one partition, led by one node: the client goes there
	var seen throttleSeen
	cl := c.Client(2, kgo.ClientID("everywhere"), kgo.WithHooks(&seen))
	if err := cl.ProduceSync(testharness.Context(t, 10*time.Second), &kgo.Record{Topic: "r", Value: incompressible(4096)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 5*time.Second, "the leader of r throttles the client", func() bool { return seen.count.Load() > 0 })
}
