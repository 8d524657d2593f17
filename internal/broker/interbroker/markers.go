package interbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/txn"
)

// Metadata is the applied cluster metadata as this node sees it (the raft
// node).
type Metadata interface {
	State() *state.State
	// Changed is closed at the next change after the call.
	Changed() <-chan struct{}
}

// DefaultAttemptTimeout bounds one WriteTxnMarkers request: a leader
// answers once its followers have the markers, which a healthy ISR does in
// milliseconds, and answers REQUEST_TIMED_OUT after Kafka's
// request.timeout.ms (30 s); the margin lets that answer arrive rather than
// cut the connection.
const DefaultAttemptTimeout = 40 * time.Second

// MarkerWriter is txn.MarkerWriter over WriteTxnMarkers (v1): markers are
// grouped by their partition's leader in this node's metadata, one request
// per leader; a partition whose leader moved or is not ready is resolved
// again and retried until ctx ends, as Kafka's TransactionMarkerChannelManager
// does.
type MarkerWriter struct {
	Client *Client
	Meta   Metadata
	// AttemptTimeout bounds each request; DefaultAttemptTimeout when 0.
	AttemptTimeout time.Duration
	Logger         *slog.Logger
}

var _ txn.MarkerWriter = (*MarkerWriter)(nil)

// Retry pacing while leaders move: the first retry soon, then doubling,
// and at once when the metadata changes.
const (
	retryMin = 50 * time.Millisecond
	retryMax = time.Second
)

// WriteMarkers writes every marker and returns one error per marker, in
// order: nil when the leader appended it and its high watermark passed it;
// an error wrapping kerr.UnknownTopicOrPartition when the partition no
// longer exists in the metadata (the coordinator gives up on it, as
// Kafka); kerr.InvalidProducerEpoch or kerr.TransactionCoordinatorFenced
// as the leader answered (a newer producer epoch or coordinator exists);
// ErrClosed when the node is stopping; otherwise the last retriable
// failure wrapped with ctx's error once ctx ended.
func (w *MarkerWriter) WriteMarkers(ctx context.Context, markers []txn.Marker) []error {
	errs := make([]error, len(markers))
	todo := make([]int, len(markers))
	for i := range todo {
		todo[i] = i
	}
	wait := retryMin
	for {
		changed := w.Meta.Changed() // before State: a change after it wakes the wait below
		st := w.Meta.State()
		var retry []int
		byLeader := make(map[int32][]int)
		for _, i := range todo {
			m := markers[i]
			t := st.Topics[m.Topic]
			if t == nil || m.Partition < 0 || int(m.Partition) >= len(t.Partitions) {
				errs[i] = fmt.Errorf("marker for %s/%d: the partition no longer exists: %w", m.Topic, m.Partition, kerr.UnknownTopicOrPartition)
				continue
			}
			leader := t.Partitions[m.Partition].Leader
			if leader < 0 {
				errs[i] = fmt.Errorf("marker for %s/%d: no leader: %w", m.Topic, m.Partition, kerr.LeaderNotAvailable)
				retry = append(retry, i)
				continue
			}
			byLeader[leader] = append(byLeader[leader], i)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for leader, idx := range byLeader {
			wg.Go(func() {
				results := w.send(ctx, leader, markers, idx)
				mu.Lock()
				defer mu.Unlock()
				for j, i := range idx {
					var ke *kerr.Error
					if ctx.Err() != nil && errs[i] != nil && results[j] != nil && !errors.As(results[j], &ke) {
						// Cut by ctx: the previous answer says more.
						retry = append(retry, i)
						continue
					}
					errs[i] = results[j]
					if results[j] != nil && retriable(results[j]) {
						retry = append(retry, i)
					}
				}
			})
		}
		wg.Wait()
		if len(retry) == 0 {
			return errs
		}
		if ctx.Err() != nil {
			for _, i := range retry {
				errs[i] = fmt.Errorf("%w (last attempt: %w)", ctx.Err(), errs[i])
			}
			return errs
		}
		w.logger().Debug("transaction markers to retry", "markers", len(retry), "first_err", errs[retry[0]], "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		wait = min(2*wait, retryMax)
		todo = retry
	}
}

func (w *MarkerWriter) logger() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}

// retriable reports whether a marker that failed with err is tried again:
// the leader moved or is not ready, replication is short, the connection
// failed. What the leader refused for good (a fenced producer epoch or
// coordinator, a malformed request) and the client closing end it.
func retriable(err error) bool {
	if errors.Is(err, ErrClosed) {
		return false
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return true // the connection, not the leader's answer
	}
	switch ke {
	case kerr.NotLeaderForPartition, kerr.UnknownTopicOrPartition, kerr.LeaderNotAvailable,
		kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut,
		kerr.KafkaStorageError, kerr.FencedLeaderEpoch, kerr.UnsupportedVersion:
		// UNKNOWN_TOPIC_OR_PARTITION from the leader: it does not host the
		// replica yet; the metadata tells when the partition is gone.
		// UNSUPPORTED_VERSION: an older leader mid-upgrade; the partition
		// may move to a newer one.
		return true
	}
	return ke.Retriable
}

// markerKey groups a request's markers: one WriteTxnMarkers marker per
// producer, epoch, result and coordinator epoch.
type markerKey struct {
	pid              int64
	epoch            int16
	commit           bool
	coordinatorEpoch int32
}

// send writes markers[idx] with one request to leader and returns their
// results in idx's order.
func (w *MarkerWriter) send(ctx context.Context, leader int32, markers []txn.Marker, idx []int) []error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	type slot struct{ marker, topic int } // where a marker went in req
	groups := make(map[markerKey]int)
	topics := make(map[slot]int) // (request marker, topic name index) -> topic position
	names := make(map[string]int)
	where := make([]slot, len(idx))
	for j, i := range idx {
		m := markers[i]
		k := markerKey{m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch}
		g, ok := groups[k]
		if !ok {
			g = len(req.Markers)
			groups[k] = g
			rm := kmsg.NewWriteTxnMarkersRequestMarker()
			rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
			req.Markers = append(req.Markers, rm)
		}
		n, ok := names[m.Topic]
		if !ok {
			n = len(names)
			names[m.Topic] = n
		}
		tk := slot{g, n}
		ti, ok := topics[tk]
		if !ok {
			ti = len(req.Markers[g].Topics)
			topics[tk] = ti
			rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			rt.Topic = m.Topic
			req.Markers[g].Topics = append(req.Markers[g].Topics, rt)
		}
		rt := &req.Markers[g].Topics[ti]
		rt.Partitions = append(rt.Partitions, m.Partition)
		where[j] = slot{g, ti}
	}

	out := make([]error, len(idx))
	actx, cancel := context.WithTimeout(ctx, cmp.Or(w.AttemptTimeout, DefaultAttemptTimeout))
	defer cancel()
	kresp, err := w.Client.Request(actx, leader, req)
	if err != nil {
		for j := range out {
			out[j] = fmt.Errorf("write transaction markers: %w", err)
		}
		return out
	}
	resp := kresp.(*kmsg.WriteTxnMarkersResponse)
	for j, i := range idx {
		m := markers[i]
		out[j] = fmt.Errorf("write transaction marker: node %d did not answer for %s/%d", leader, m.Topic, m.Partition)
		g := where[j].marker
		if g >= len(resp.Markers) || resp.Markers[g].ProducerID != m.ProducerID {
			continue
		}
		for _, rt := range resp.Markers[g].Topics {
			if rt.Topic != m.Topic {
				continue
			}
			for _, rp := range rt.Partitions {
				if rp.Partition == m.Partition {
					out[j] = nil
					if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
						out[j] = fmt.Errorf("write transaction marker to %s/%d on node %d: %w", m.Topic, m.Partition, leader, e)
					}
				}
			}
		}
	}
	return out
}
