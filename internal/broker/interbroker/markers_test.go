package interbroker

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/txn"
)

// fakeMeta is metadata a test changes.
type fakeMeta struct {
	mu      sync.Mutex
	st      *state.State
	changed chan struct{}
}

func newFakeMeta(leaders map[string][]int32) *fakeMeta {
	m := &fakeMeta{changed: make(chan struct{})}
	m.set(leaders)
	return m
}

func (m *fakeMeta) set(leaders map[string][]int32) {
	st := &state.State{Topics: map[string]*state.Topic{}}
	for name, ls := range leaders {
		t := &state.Topic{Name: name}
		for _, l := range ls {
			t.Partitions = append(t.Partitions, state.Partition{Leader: l})
		}
		st.Topics[name] = t
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = st
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *fakeMeta) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

func (m *fakeMeta) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// markerAnswer answers a WriteTxnMarkers request with code for every
// partition.
func markerAnswer(req kmsg.Request, code func(topic string, p int32) int16) kmsg.Response {
	resp := echoMarkers(nil, req).(*kmsg.WriteTxnMarkersResponse)
	for i := range resp.Markers {
		for j := range resp.Markers[i].Topics {
			rt := &resp.Markers[i].Topics[j]
			for k := range rt.Partitions {
				rt.Partitions[k].ErrorCode = code(rt.Topic, rt.Partitions[k].Partition)
			}
		}
	}
	return resp
}

// twoPeers is a client whose nodes 1 and 2 are fake peers.
func twoPeers(t *testing.T, h1, h2 func(net.Conn, kmsg.Request) kmsg.Response) *Client {
	p1, p2 := newFakePeer(t, h1), newFakePeer(t, h2)
	return newTestClient(t, func(ctx context.Context, node int32) (net.Conn, error) {
		switch node {
		case 1:
			return p1.dial(ctx, node)
		case 2:
			return p2.dial(ctx, node)
		}
		return nil, errors.New("no such node")
	})
}

// A leader that answers NOT_LEADER_OR_FOLLOWER is asked no more once the
// metadata names the new leader, which gets the marker; markers of one
// producer to one leader travel in one request.
func TestMarkersFollowTheLeader(t *testing.T) {
	meta := newFakeMeta(map[string][]int32{"t": {1, 2, 2}})
	var toNode2 atomic.Int32
	var requests2 atomic.Int32
	c := twoPeers(t,
		func(_ net.Conn, req kmsg.Request) kmsg.Response {
			meta.set(map[string][]int32{"t": {2, 2, 2}}) // the leadership moved
			return markerAnswer(req, func(string, int32) int16 { return kerr.NotLeaderForPartition.Code })
		},
		func(_ net.Conn, req kmsg.Request) kmsg.Response {
			requests2.Add(1)
			for _, m := range req.(*kmsg.WriteTxnMarkersRequest).Markers {
				for _, t := range m.Topics {
					toNode2.Add(int32(len(t.Partitions)))
				}
			}
			return markerAnswer(req, func(string, int32) int16 { return 0 })
		})
	w := &MarkerWriter{Client: c, Meta: meta}
	ms := []txn.Marker{
		{Topic: "t", Partition: 0, ProducerID: 7, ProducerEpoch: 1, Commit: true, CoordinatorEpoch: 3},
		{Topic: "t", Partition: 1, ProducerID: 7, ProducerEpoch: 1, Commit: true, CoordinatorEpoch: 3},
		{Topic: "t", Partition: 2, ProducerID: 7, ProducerEpoch: 1, Commit: true, CoordinatorEpoch: 3},
	}
	for i, err := range w.WriteMarkers(ctxFor(t, 10*time.Second), ms) {
		if err != nil {
			t.Fatalf("marker %d: %v", i, err)
		}
	}
	if got := toNode2.Load(); got != 3 {
		t.Fatalf("node 2 got %d partitions' markers, want 3", got)
	}
	if got := requests2.Load(); got != 2 {
		t.Fatalf("node 2 got %d requests, want 2 (partitions 1 and 2 together, then 0)", got)
	}
}

// A deleted partition answers UNKNOWN_TOPIC_OR_PARTITION without a request;
// a fenced coordinator or producer epoch is returned, not retried; the
// context ending returns the last retriable failure with it.
func TestMarkerOutcomes(t *testing.T) {
	meta := newFakeMeta(map[string][]int32{"fenced": {1}, "epoch": {1}, "stuck": {2}})
	var asked1 atomic.Int32
	c := twoPeers(t,
		func(_ net.Conn, req kmsg.Request) kmsg.Response {
			asked1.Add(1)
			return markerAnswer(req, func(topic string, _ int32) int16 {
				if topic == "fenced" {
					return kerr.TransactionCoordinatorFenced.Code
				}
				return kerr.InvalidProducerEpoch.Code
			})
		},
		func(_ net.Conn, req kmsg.Request) kmsg.Response {
			return markerAnswer(req, func(string, int32) int16 { return kerr.NotEnoughReplicas.Code })
		})
	w := &MarkerWriter{Client: c, Meta: meta}
	errs := w.WriteMarkers(ctxFor(t, 500*time.Millisecond), []txn.Marker{
		{Topic: "gone", Partition: 0, ProducerID: 1},
		{Topic: "fenced", Partition: 0, ProducerID: 1},
		{Topic: "epoch", Partition: 0, ProducerID: 2},
		{Topic: "stuck", Partition: 0, ProducerID: 1},
		{Topic: "epoch", Partition: 5, ProducerID: 2},
	})
	for i, want := range []error{kerr.UnknownTopicOrPartition, kerr.TransactionCoordinatorFenced, kerr.InvalidProducerEpoch, kerr.NotEnoughReplicas, kerr.UnknownTopicOrPartition} {
		if !errors.Is(errs[i], want) {
			t.Errorf("marker %d: err = %v, want %v", i, errs[i], want)
		}
	}
	if !errors.Is(errs[3], context.DeadlineExceeded) {
		t.Errorf("stuck marker: err = %v, want the deadline too", errs[3])
	}
	if n := asked1.Load(); n != 1 {
		t.Errorf("node 1 asked %d times, want once (its answers are final)", n)
	}
}
