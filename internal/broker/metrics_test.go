package broker_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// metrics is one scrape of a node's /metrics, parsed.
type metrics map[string]*dto.MetricFamily

// scrape serves one request through the node's metrics handler and parses
// the text exposition.
func scrape(t *testing.T, n *broker.Node) metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	n.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: content type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// value is the sample of name whose labels include labels (name, value
// pairs): a counter's or gauge's value, a histogram's count.
func (m metrics) value(name string, labels ...string) (float64, bool) {
	mf, ok := m[name]
	if !ok {
		return 0, false
	}
next:
	for _, s := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range s.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.GetCounter().GetValue(), true
		case s.Gauge != nil:
			return s.GetGauge().GetValue(), true
		case s.Histogram != nil:
			return float64(s.GetHistogram().GetSampleCount()), true
		case s.Untyped != nil:
			return s.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// must is value, failing the test when the series is missing.
func (m metrics) must(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := m.value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in /metrics", name, labels)
	}
	return v
}

// sum adds every sample of a counter or gauge family.
func (m metrics) sum(name string) float64 {
	var total float64
	for _, s := range m[name].GetMetric() {
		total += s.GetCounter().GetValue() + s.GetGauge().GetValue()
	}
	return total
}

func produceN(t *testing.T, n *broker.Node, topic string, count int) {
	t.Helper()
	cl := inproc.NodeClient(t, n)
	ctx := testharness.Context(t, 20*time.Second)
	for i := range count {
		r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "record %d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// TestMetricsSingleNode: after a produce and a fetch, the node's /metrics
// counts both APIs, its partition gauges agree with Node.Partitions, raft
// says it leads, and the Go and process collectors are there.
func TestMetricsSingleNode(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, n), "metered", 3, nil)
	produceN(t, n, "metered", 5)
	consumeN(t, n, "metered", 5)

	m := scrape(t, n)
	produces := m.must(t, "chronik_kafka_requests_total", "api", "Produce")
	if produces < 1 {
		t.Fatalf("chronik_kafka_requests_total{api=Produce} = %v, want >= 1", produces)
	}
	if got := m.must(t, "chronik_kafka_request_duration_seconds", "api", "Produce"); got != produces {
		t.Fatalf("Produce duration count %v, want one per request (%v)", got, produces)
	}
	if got := m.must(t, "chronik_kafka_request_errors_total", "api", "Produce"); got != 0 {
		t.Fatalf("chronik_kafka_request_errors_total{api=Produce} = %v, want 0", got)
	}
	if got := m.must(t, "chronik_kafka_requests_total", "api", "Fetch"); got < 1 {
		t.Fatalf("chronik_kafka_requests_total{api=Fetch} = %v, want >= 1", got)
	}
	if got := m.must(t, "chronik_kafka_requests_total", "api", "Metadata"); got < 1 {
		t.Fatalf("chronik_kafka_requests_total{api=Metadata} = %v, want >= 1", got)
	}
	// Served APIs nobody called are exported at zero.
	if got := m.must(t, "chronik_kafka_requests_total", "api", "DeleteTopics"); got != 0 {
		t.Fatalf("chronik_kafka_requests_total{api=DeleteTopics} = %v, want 0", got)
	}

	led := 0
	for _, p := range n.Partitions() {
		if p.Leader == n.NodeID() {
			led++
		}
	}
	if led < 3 {
		t.Fatalf("node leads %d partitions, want at least the topic's 3", led)
	}
	for name, want := range map[string]float64{
		"chronik_partitions_led":               float64(led),
		"chronik_partitions_under_replicated":  0,
		"chronik_partitions_under_min_isr":     0,
		"chronik_partitions_at_min_isr":        float64(led), // RF 1: ISR {self} = min ISR 1
		"chronik_partitions_offline":           0,
		"chronik_max_follower_lag_offsets":     0,
		"chronik_acks_all_waiting":             0,
		"chronik_acks_all_oldest_wait_seconds": 0,
		"chronik_raft_leader":                  1,
		"chronik_raft_has_leader":              1,
		"chronik_isr_shrinks_total":            0,
		"chronik_isr_expands_total":            0,
	} {
		if got := m.must(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if term := m.must(t, "chronik_raft_term"); term < 1 {
		t.Errorf("chronik_raft_term = %v, want >= 1", term)
	}
	commit, applied := m.must(t, "chronik_raft_commit_index"), m.must(t, "chronik_raft_applied_index")
	if applied < 1 || applied > commit {
		t.Errorf("raft applied %v, commit %v: want 1 <= applied <= commit", applied, commit)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		m.must(t, name)
	}
	for name, mf := range m {
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}
}

// TestMetricsNotSharedBetweenNodes: two nodes in one process each have their
// own registry; requests to one never show on the other.
func TestMetricsNotSharedBetweenNodes(t *testing.T) {
	a := inproc.StartNode(t, inproc.Config(t))
	b := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, a), "only-on-a", 2, nil)
	produceN(t, a, "only-on-a", 3)

	ma, mb := scrape(t, a), scrape(t, b)
	if got := ma.must(t, "chronik_kafka_requests_total", "api", "Produce"); got < 1 {
		t.Fatalf("node a: Produce requests %v, want >= 1", got)
	}
	if got := mb.sum("chronik_kafka_requests_total"); got != 0 {
		t.Fatalf("node b served no Kafka request but counts %v", got)
	}
	if got := mb.must(t, "chronik_kafka_requests_total", "api", "Produce"); got != 0 {
		t.Fatalf("node b: Produce requests %v, want 0", got)
	}
	if got := ma.must(t, "chronik_partitions_led"); got != 2 {
		t.Fatalf("node a leads %v partitions, want 2", got)
	}
	if got := mb.must(t, "chronik_partitions_led"); got != 0 {
		t.Fatalf("node b leads %v partitions, want 0", got)
	}
}

// TestMetricsClusterISRChanges: in a 3-node cluster, a stopped follower
// shows as under-replicated (and at min ISR) on the partition leader; when
// it comes back, the leader's ISR expansion is counted; exactly one node
// reports itself as raft leader.
func TestMetricsClusterISRChanges(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	leader := createRF3(t, c, "isr-metered", nil)
	follower := 0
	for follower+1 == int(leader) {
		follower++
	}
	// Sums over the running nodes: only a partition's leader reports it, and
	// that stays right should leadership move meanwhile.
	total := func(name string) float64 {
		var sum float64
		for _, n := range c.Nodes {
			if n != nil {
				sum += scrape(t, n).must(t, name)
			}
		}
		return sum
	}
	gauges := func() string {
		return fmt.Sprintf("under_replicated %v at_min_isr %v under_min_isr %v expands %v",
			total("chronik_partitions_under_replicated"), total("chronik_partitions_at_min_isr"),
			total("chronik_partitions_under_min_isr"), total("chronik_isr_expands_total"))
	}

	c.Stop(follower)
	testharness.Eventually(t, 10*time.Second, "the leader to report the partition under-replicated at min ISR", func() bool {
		return total("chronik_partitions_under_replicated") == 1 && total("chronik_partitions_at_min_isr") == 1 &&
			total("chronik_partitions_under_min_isr") == 0
	}, gauges)

	c.Start(follower)
	waitFullISR(t, c, "isr-metered", 20*time.Second)
	testharness.Eventually(t, 10*time.Second, "the ISR expansion counted and the partition fully replicated", func() bool {
		return total("chronik_isr_expands_total") >= 1 && total("chronik_partitions_under_replicated") == 0
	}, gauges)
	testharness.Eventually(t, 10*time.Second, "exactly one raft leader", func() bool {
		return total("chronik_raft_leader") == 1 && total("chronik_raft_has_leader") == 3
	})
}

// TestMetricsReplicationRoundTrip: acks=all produces to a replicated
// partition fill the round-trip histograms: on the leader its wait for its
// own fsync and for the replicas, and the followers' acknowledgements; on
// each follower the copy and fsync of what it fetched.
func TestMetricsReplicationRoundTrip(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	leader := createRF3(t, c, "round-trip", nil)
	li := int(leader) - 1
	produceN(t, c.Nodes[li], "round-trip", 20)
	m := scrape(t, c.Nodes[li])
	for _, stage := range []string{"local_fsync", "replicas"} {
		if n := m.must(t, "chronik_produce_wait_seconds", "stage", stage); n < 20 {
			t.Errorf("leader's produce wait %s: %v observations, want one per acks=all produce (20)", stage, n)
		}
	}
	if n := m.must(t, "chronik_replica_follower_ack_seconds"); n < 1 {
		t.Errorf("leader saw %v follower acknowledgements, want some", n)
	}
	for i, n := range c.Nodes {
		if i == li {
			continue
		}
		fm := scrape(t, n)
		for _, stage := range []string{"copy", "fsync"} {
			if v := fm.must(t, "chronik_follower_apply_seconds", "stage", stage); v < 1 {
				t.Errorf("follower node %d apply %s: %v observations, want some", i+1, stage, v)
			}
		}
	}
}
