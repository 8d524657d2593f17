package broker

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every node owns its registry, so several nodes in one process (tests, an
// embedded cluster) never share or collide on a metric.

// apiTableSize bounds the per-key cache: Kafka API keys are small (kmsg knows
// up to the 90s); keys at or above it share the "Unknown" series, as do the
// keys kmsg does not know.
const apiTableSize = 128

// nodeMetrics is one node's Prometheus registry with the metrics the node
// updates as things happen. Partition and raft gauges are computed at scrape
// time by collectors over the node's own views.
type nodeMetrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// apis caches each key's series so the per-request path is a few atomic
	// operations with no label hashing or allocation. Served keys are filled
	// at start (so their series exist at zero); others on first sight.
	apis    [apiTableSize]atomic.Pointer[apiMetrics]
	unknown *apiMetrics // keys outside the table

	isrShrinks prometheus.Counter
	isrExpands prometheus.Counter
}

// apiMetrics are one API's series.
type apiMetrics struct {
	requests prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
}

// requestDurationBuckets span a sub-millisecond Metadata to a long-poll
// Fetch or an acks=all Produce waiting out a 30 s request timeout.
func requestDurationBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
}

// newNodeMetrics creates a registry with the request and ISR-change metrics
// and the Go runtime and process collectors.
func newNodeMetrics() (*nodeMetrics, error) {
	m := &nodeMetrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chronik_kafka_requests_total",
			Help: "Kafka requests read, by API, including those that failed.",
		}, []string{"api"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chronik_kafka_request_errors_total",
			Help: "Kafka requests that closed the connection instead of being answered: malformed or oversized frame " +
				"(api=\"Unknown\" when the header was unreadable), unknown API or unsupported version, handler error or panic. " +
				"Kafka error codes inside a response are not counted.",
		}, []string{"api"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chronik_kafka_request_duration_seconds",
			Help: "Time from reading a Kafka request to its response being ready to write, by API. " +
				"Includes waiting: a long-poll Fetch's max wait and an acks=all Produce's wait for the in-sync replicas.",
			Buckets: requestDurationBuckets(),
		}, []string{"api"}),
		isrShrinks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chronik_isr_shrinks_total",
			Help: "Committed ISR changes, made by this node as partition leader, that removed at least one replica.",
		}),
		isrExpands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chronik_isr_expands_total",
			Help: "Committed ISR changes, made by this node as partition leader, that added at least one replica.",
		}),
	}
	if err := m.register(
		m.requests, m.errors, m.duration, m.isrShrinks, m.isrExpands,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	); err != nil {
		return nil, err
	}
	m.unknown = m.newAPIMetrics(kmsg.NameForKey(-1))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m, nil
}

func (m *nodeMetrics) register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// registerNode adds the collectors that read the node at scrape time, and
// the fsync histogram the partition logs fill; call it once the node's
// raft, controller and replicas exist.
func (m *nodeMetrics) registerNode(n *Node) error {
	cs := []prometheus.Collector{newPartitionCollector(n), newRaftCollector(n), newCleanerCollector(n), newTxnCollector(n), n.fsyncSeconds}
	cs = append(cs, n.replTimings.collectors()...)
	return m.register(append(cs, n.fileMetrics()...)...)
}

// newFsyncHistogram is the duration of partition log fsync passes. The
// replicas open before the registry exists, so the node creates it then and
// registerNode adds it. Buckets span an SSD's sub-millisecond fsync to a
// disk stalled for seconds; 0.1 and 0.5 are doctor's SLOW_FSYNC thresholds.
func newFsyncHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "chronik_log_fsync_duration_seconds",
		Help: "Time of each partition log fsync pass (group commit: one pass makes everything appended before it durable), " +
			"over all partition logs of this node.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
}

func (m *nodeMetrics) newAPIMetrics(name string) *apiMetrics {
	return &apiMetrics{
		requests: m.requests.WithLabelValues(name),
		errors:   m.errors.WithLabelValues(name),
		duration: m.duration.WithLabelValues(name),
	}
}

// preloadAPIs creates the request series of every API s serves, so they
// are exported at zero before the first request (a rate over a series that
// appears only with its first request misses that request).
func (m *nodeMetrics) preloadAPIs(s *kafka.Server) {
	for key := range s.Stats().Requests {
		m.api(key)
	}
}

// api returns key's series, creating them on first use.
func (m *nodeMetrics) api(key int16) *apiMetrics {
	if key < 0 || key >= apiTableSize {
		return m.unknown
	}
	if a := m.apis[key].Load(); a != nil {
		return a
	}
	// Racing creators get the same children from the vectors.
	a := m.newAPIMetrics(kmsg.NameForKey(key))
	m.apis[key].Store(a)
	return a
}

// observeRequest is the Kafka server's RequestObserver.
func (m *nodeMetrics) observeRequest(key, _ int16, elapsed time.Duration, failed bool) {
	a := m.api(key)
	a.requests.Inc()
	if failed {
		a.errors.Inc()
	}
	a.duration.Observe(elapsed.Seconds())
}

// isrChanged counts a committed ISR change from before to after.
func (m *nodeMetrics) isrChanged(before, after []int32) {
	if m == nil {
		return
	}
	for _, id := range before {
		if !slices.Contains(after, id) {
			m.isrShrinks.Inc()
			break
		}
	}
	for _, id := range after {
		if !slices.Contains(before, id) {
			m.isrExpands.Inc()
			break
		}
	}
}

// MetricsHandler serves this node's metrics in the Prometheus exposition
// format; the admin server mounts it at GET /metrics.
func (n *Node) MetricsHandler() http.Handler { return n.metrics.handler }

// partitionCollector computes the partition gauges from Node.Partitions at
// scrape time, so they never disagree with what the admin API shows.
type partitionCollector struct {
	n                                                *Node
	led, underReplicated, underMinISR, atMinISR      *prometheus.Desc
	offline, maxFollowerLag, acksWaiting, acksOldest *prometheus.Desc
}

func newPartitionCollector(n *Node) *partitionCollector {
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &partitionCollector{
		n:   n,
		led: desc("chronik_partitions_led", "Partitions whose leader, in the metadata applied on this node, is this node."),
		underReplicated: desc("chronik_partitions_under_replicated",
			"Partitions led by this node whose ISR is smaller than their replica set."),
		underMinISR: desc("chronik_partitions_under_min_isr",
			"Partitions led by this node whose ISR is smaller than the effective min.insync.replicas; acks=all produces are refused."),
		atMinISR: desc("chronik_partitions_at_min_isr",
			"Partitions led by this node whose ISR is exactly the effective min.insync.replicas; one more loss refuses acks=all produces."),
		offline: desc("chronik_partitions_offline",
			"Partitions hosted by this node that have no leader (leader -1). Each hosting node reports them; do not sum across nodes."),
		maxFollowerLag: desc("chronik_max_follower_lag_offsets",
			"Largest lag, in offsets, of any follower behind this node's log end, over the partitions this node leads."),
		acksWaiting: desc("chronik_acks_all_waiting",
			"acks=all produce requests waiting for the in-sync replicas, over the partitions this node leads."),
		acksOldest: desc("chronik_acks_all_oldest_wait_seconds",
			"How long the oldest waiting acks=all produce request has waited, over the partitions this node leads; 0 when none waits."),
	}
}

// Describe implements prometheus.Collector.
func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.led, c.underReplicated, c.underMinISR, c.atMinISR,
		c.offline, c.maxFollowerLag, c.acksWaiting, c.acksOldest} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	self := c.n.NodeID()
	var led, underRep, underMin, atMin, offline, waiting int
	var maxLag int64
	var oldest time.Duration
	for _, p := range c.n.Partitions() {
		if p.Leader < 0 {
			offline++
			continue
		}
		if p.Leader != self {
			continue
		}
		led++
		if len(p.ISR) < len(p.Replicas) {
			underRep++
		}
		if len(p.ISR) < p.MinISR {
			underMin++
		}
		if len(p.ISR) == p.MinISR {
			atMin++
		}
		for _, f := range p.Followers {
			maxLag = max(maxLag, p.LogEndOffset-f.LogEndOffset)
		}
		waiting += p.AcksAllWaiting
		oldest = max(oldest, p.AcksAllOldest)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.led, float64(led))
	gauge(c.underReplicated, float64(underRep))
	gauge(c.underMinISR, float64(underMin))
	gauge(c.atMinISR, float64(atMin))
	gauge(c.offline, float64(offline))
	gauge(c.maxFollowerLag, float64(maxLag))
	gauge(c.acksWaiting, float64(waiting))
	gauge(c.acksOldest, oldest.Seconds())
}

// raftCollector reports this node's view of the raft metadata quorum.
type raftCollector struct {
	n                                     *Node
	term, commit, applied, leader, hasLdr *prometheus.Desc
}

func newRaftCollector(n *Node) *raftCollector {
	desc := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &raftCollector{
		n:       n,
		term:    desc("chronik_raft_term", "Current raft term of the metadata quorum, as this node knows it."),
		commit:  desc("chronik_raft_commit_index", "Highest raft log index this node knows to be committed."),
		applied: desc("chronik_raft_applied_index", "Highest raft log index applied to this node's metadata state."),
		leader:  desc("chronik_raft_leader", "1 if this node is the raft leader (the controller), else 0."),
		hasLdr:  desc("chronik_raft_has_leader", "1 if this node knows a raft leader, else 0."),
	}
}

// Describe implements prometheus.Collector.
func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.term, c.commit, c.applied, c.leader, c.hasLdr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.n.RaftStatus()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(c.term, float64(st.Term))
	gauge(c.commit, float64(st.Commit))
	gauge(c.applied, float64(st.Applied))
	gauge(c.leader, boolGauge(st.Role == "leader"))
	gauge(c.hasLdr, boolGauge(st.Lead != 0))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
