package broker

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replication"
)

// reassignmentCheckInterval is how often the controller looks for
// reassignments ready to complete besides on every metadata change: the
// periodic check covers a change it missed while it was not the leader.
const reassignmentCheckInterval = time.Second

// runReassignments completes partition reassignments while this node is the
// raft leader (controller.RunReassignments).
func (n *Node) runReassignments(ctx context.Context) {
	n.controller.RunReassignments(ctx, func() bool { return n.raft.Status().Role == "leader" }, n.raft.Changed, reassignmentCheckInterval)
}

// reassignmentMetrics export the reassignment throttle: its limit and the
// bytes fetched for adding replicas (rate() of it is the copy rate).
func (n *Node) reassignmentMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chronik_reassignment_throttle_bytes_per_second",
			Help: "Limit on what this broker fetches for replicas a reassignment adds to it (--reassignment-throttle); 0: none."},
			func() float64 { return float64(n.reassignThrottle.Rate()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chronik_reassignment_fetched_bytes_total",
			Help: "Bytes this broker fetched for replicas a reassignment adds to it."},
			func() float64 { return float64(n.reassignThrottle.Fetched()) }),
	}
}

// throttledHere names the partitions this node fetches as an adding
// replica of a reassignment: only their fetches are throttled.
func throttledHere(s *state.State, self int32) map[replication.TopicPartition]bool {
	out := map[replication.TopicPartition]bool{}
	for name, t := range s.Topics {
		for i, p := range t.Partitions {
			if slices.Contains(p.AddingReplicas, self) {
				out[replication.TopicPartition{Topic: name, Partition: int32(i)}] = true
			}
		}
	}
	return out
}
