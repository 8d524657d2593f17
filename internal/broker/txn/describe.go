package txn

import (
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func msTime(ms int64) time.Time {
	if ms < 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// Describe describes the ids, in order (DescribeTransactions).
func (c *Coordinator) Describe(ids []string) []TxnDescription {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]TxnDescription, 0, len(ids))
	for _, id := range ids {
		d := TxnDescription{TransactionalID: id, ProducerID: -1, ProducerEpoch: -1}
		p, m, err := c.lookup(id)
		d.CoordinatorPartition = p
		switch {
		case err != nil:
			d.Err = err
		case m == nil || m.state == StateDead:
			d.Err = kerr.TransactionalIDNotFound
		default:
			d.State, d.TimeoutMs, d.ProducerID, d.ProducerEpoch = m.state, m.timeoutMs, m.pid, m.epoch
			d.StartTime, d.LastUpdate = msTime(m.startMs), msTime(m.updateMs)
			d.CoordinatorEpoch = c.part(p).epoch
			d.Partitions = map[string][]int32{}
			for _, t := range m.sortedTopics() {
				d.Partitions[t] = m.partitionsOf(t)
			}
		}
		out = append(out, d)
	}
	return out
}

// List lists the transactions of the loaded partitions that pass filter,
// sorted by id (ListTransactions). loading reports that some partition of
// this node is still loading, so the list may be incomplete (Kafka answers
// COORDINATOR_LOAD_IN_PROGRESS then).
func (c *Coordinator) List(filter ListFilter) []TxnSummary {
	out, _ := c.ListLoaded(filter)
	return out
}

// ListLoaded is List that also reports whether a partition is loading.
func (c *Coordinator) ListLoaded(filter ListFilter) (out []TxnSummary, loading bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	nowMs := c.now().UnixMilli()
	for i, tp := range c.parts {
		switch tp.status {
		case partitionLoading, partitionFailed:
			loading = true
			continue
		case partitionUnloaded:
			continue
		}
		for _, m := range tp.ids {
			switch {
			case m.state == StateDead:
			case len(filter.States) > 0 && !slices.Contains(filter.States, m.state):
			case len(filter.ProducerIDs) > 0 && !slices.Contains(filter.ProducerIDs, m.pid):
			case filter.MinDuration > 0 && (m.startMs < 0 || nowMs-m.startMs <= filter.MinDuration.Milliseconds()):
			default:
				out = append(out, TxnSummary{TransactionalID: m.id, ProducerID: m.pid, ProducerEpoch: m.epoch,
					State: m.state, StartTime: msTime(m.startMs), TimeoutMs: m.timeoutMs, Partitions: m.count(),
					CoordinatorPartition: i})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out, loading
}
