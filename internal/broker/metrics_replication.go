package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// replicationTimings are the histograms that break one acks=all round trip
// down (docs/metrics.md, "Where replication time goes"): the leader's wait
// for its own fsync and then for the high watermark, the time from the
// leader's append until each follower reports the batch, and on the
// follower the copy and fsync of each fetch response. The replicas and the
// fetch loops fill them before the registry exists, so the node creates them
// with the replicas and registerNode adds them.
type replicationTimings struct {
	produceWait *prometheus.HistogramVec
	followerAck prometheus.Histogram
	apply       *prometheus.HistogramVec
}

// replicationBuckets span a loopback round trip's tenth of a millisecond to
// a stalled disk's seconds.
func replicationBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
}

func newReplicationTimings() *replicationTimings {
	return &replicationTimings{
		produceWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chronik_produce_wait_seconds",
			Help: "An acks=all produce's wait on the partition leader once appended, by stage: local_fsync (until the leader's own fsync of the batch) " +
				"and replicas (from then until the high watermark passes the batch).",
			Buckets: replicationBuckets(),
		}, []string{"stage"}),
		followerAck: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chronik_replica_follower_ack_seconds",
			Help: "On a partition leader: from appending a batch until a follower's fetch reports it has the batch durably " +
				"(sampled: the latest append of each partition).",
			Buckets: replicationBuckets(),
		}),
		apply: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chronik_follower_apply_seconds",
			Help: "On a follower, per fetch response that carried data, by stage: copy (appending every partition's batches) " +
				"and fsync (from then until every partition's fsync finished).",
			Buckets: replicationBuckets(),
		}, []string{"stage"}),
	}
}

// observer feeds the leader-side histograms from the replicas.
func (t *replicationTimings) observer() replica.Observer {
	local, replicas := t.produceWait.WithLabelValues("local_fsync"), t.produceWait.WithLabelValues("replicas")
	return replica.Observer{
		ProduceWait: func(l, r time.Duration) {
			local.Observe(l.Seconds())
			replicas.Observe(r.Seconds())
		},
		FollowerAck: func(d time.Duration) { t.followerAck.Observe(d.Seconds()) },
	}
}

// onApply feeds the follower-side histogram from the fetch loops.
func (t *replicationTimings) onApply() func(copy, fsync time.Duration) {
	cp, fs := t.apply.WithLabelValues("copy"), t.apply.WithLabelValues("fsync")
	return func(c, f time.Duration) {
		cp.Observe(c.Seconds())
		fs.Observe(f.Seconds())
	}
}

func (t *replicationTimings) collectors() []prometheus.Collector {
	return []prometheus.Collector{t.produceWait, t.followerAck, t.apply}
}
