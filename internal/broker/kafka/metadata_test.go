package kafka

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// changingMeta is a Metadata whose state a test replaces, with the
// Changed channel raftnode.Node offers.
type changingMeta struct {
	mu      sync.Mutex
	st      *state.State
	changed chan struct{}
}

func newChangingMeta(st *state.State) *changingMeta {
	return &changingMeta{st: st, changed: make(chan struct{})}
}

func (m *changingMeta) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

func (m *changingMeta) LeaderID() uint64 { return 1 }

func (m *changingMeta) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *changingMeta) set(st *state.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = st
	close(m.changed)
	m.changed = make(chan struct{})
}

// goneLeaderState: brokers 1-3, topic "t" with partition 0 led by broker 2
// (epoch 4) and partition 1 led by broker 1, this node.
func goneLeaderState(p0Leader, p0Epoch int32, fenced2 bool) *state.State {
	st := state.New()
	for id := int32(1); id <= 3; id++ {
		st.Brokers[id] = &state.Broker{ID: id, KafkaAddr: "127.0.0.1:1000" + string(rune('0'+id))}
	}
	st.Brokers[2].Fenced = fenced2
	st.Topics["t"] = &state.Topic{Name: "t", Partitions: []state.Partition{
		{Replicas: []int32{2, 1, 3}, Leader: p0Leader, LeaderEpoch: p0Epoch, ISR: []int32{2, 1, 3}},
		{Replicas: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2, 3}},
	}}
	return st
}

func metadataReq(topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	if topics == nil {
		req.Topics = nil
		return req
	}
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// answer runs the handler like the server: at once, or its Pending.
func answer(t *testing.T, b *Backend, req *kmsg.MetadataRequest) (resp *kmsg.MetadataResponse, held bool) {
	t.Helper()
	return answerWhileHeld(t, b, req, nil)
}

// answerWhileHeld is answer that, when the answer is held, runs whileHeld
// alongside the held Pending.
func answerWhileHeld(t *testing.T, b *Backend, req *kmsg.MetadataRequest, whileHeld func()) (resp *kmsg.MetadataResponse, held bool) {
	t.Helper()
	r, pending, err := b.handleMetadata(context.Background(), &Conn{}, req)
	if err != nil {
		t.Fatal(err)
	}
	if pending != nil {
		if whileHeld != nil {
			go whileHeld()
		}
		done := make(chan kmsg.Response, 1)
		go func() { done <- pending(context.Background()) }()
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("held Metadata answer not given within 10 s")
		}
	}
	return r.(*kmsg.MetadataResponse), pending != nil
}

func partition0(t *testing.T, resp *kmsg.MetadataResponse) (p0, p1 kmsg.MetadataResponseTopicPartition) {
	t.Helper()
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("response %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
}

// A partition whose leader's cluster address refuses this node's dials, or
// whose leader is fenced, is answered LEADER_NOT_AVAILABLE with leader -1;
// other partitions as the metadata says.
func TestMetadataGoneLeaderIsNotAdvertised(t *testing.T) {
	var refused atomic.Int32
	b := NewBackend(BackendConfig{NodeID: 1, Meta: staticMeta{goneLeaderState(2, 4, false)}, Logger: slog.New(slog.DiscardHandler),
		PeerReach: refusing(2, &refused)})
	p0, p1 := partition0(t, must(answer(t, b, metadataReq("t"))))
	if p0.ErrorCode != 0 || p0.Leader != 2 || p0.LeaderEpoch != 4 || p1.ErrorCode != 0 || p1.Leader != 1 {
		t.Fatalf("leader reachable: p0 %d/%d err %d, p1 %d err %d", p0.Leader, p0.LeaderEpoch, p0.ErrorCode, p1.Leader, p1.ErrorCode)
	}
	refused.Store(1)
	for _, req := range []*kmsg.MetadataRequest{metadataReq("t"), metadataReq()} {
		resp, held := answer(t, b, req)
		if held {
			t.Fatal("held without GoneLeaderWait")
		}
		p0, p1 = partition0(t, resp)
		if p0.ErrorCode != kerr.LeaderNotAvailable.Code || p0.Leader != -1 || p1.ErrorCode != 0 || p1.Leader != 1 {
			t.Fatalf("leader refusing dials: p0 %d err %d, p1 %d err %d", p0.Leader, p0.ErrorCode, p1.Leader, p1.ErrorCode)
		}
	}
	// Fenced in the metadata: gone without any refusal.
	refused.Store(0)
	b.Meta = staticMeta{goneLeaderState(2, 4, true)}
	if p0, _ = partition0(t, must(answer(t, b, metadataReq("t")))); p0.ErrorCode != kerr.LeaderNotAvailable.Code || p0.Leader != -1 {
		t.Fatalf("fenced leader: p0 %d err %d", p0.Leader, p0.ErrorCode)
	}
}

// refusing is a PeerReach where broker id's address refused *n dials in a
// row (disconnected since a second ago while n > 0) and every other broker
// is connected.
func refusing(id int32, n *atomic.Int32) func(int32) PeerReach {
	return func(b int32) PeerReach {
		if b != id || n.Load() == 0 {
			return PeerReach{Connected: true}
		}
		return PeerReach{DownSince: time.Now().Add(-time.Second), RefusedDials: int(n.Load())}
	}
}

func must(resp *kmsg.MetadataResponse, _ bool) *kmsg.MetadataResponse { return resp }

// With GoneLeaderWait, a request naming such a topic is held until the
// metadata names another leader, or the old one accepts connections
// again, or the wait ends (then LEADER_NOT_AVAILABLE). A request for
// every topic is never held.
func TestMetadataHeldUntilANewLeader(t *testing.T) {
	var refused atomic.Int32
	refused.Store(3)
	meta := newChangingMeta(goneLeaderState(2, 4, false))
	b := NewBackend(BackendConfig{NodeID: 1, Meta: meta, Logger: slog.New(slog.DiscardHandler), GoneLeaderWait: time.Minute,
		PeerReach: refusing(2, &refused)})

	if _, held := answer(t, b, metadataReq()); held {
		t.Fatal("a request for every topic was held")
	}

	// A new leader: the held answer names it.
	resp, held := answerWhileHeld(t, b, metadataReq("t"), func() { meta.set(goneLeaderState(3, 5, true)) })
	p0, _ := partition0(t, resp)
	if !held || p0.ErrorCode != 0 || p0.Leader != 3 || p0.LeaderEpoch != 5 {
		t.Fatalf("held %v, p0 leader %d epoch %d err %d; want held, then leader 3 epoch 5", held, p0.Leader, p0.LeaderEpoch, p0.ErrorCode)
	}

	// The old leader back (dials accepted, no metadata change).
	meta.set(goneLeaderState(2, 4, false))
	resp, held = answerWhileHeld(t, b, metadataReq("t"), func() { refused.Store(0) })
	if p0, _ = partition0(t, resp); !held || p0.ErrorCode != 0 || p0.Leader != 2 {
		t.Fatalf("held %v, p0 leader %d err %d; want held, then leader 2", held, p0.Leader, p0.ErrorCode)
	}

	// Nothing changes: LEADER_NOT_AVAILABLE when the wait ends.
	refused.Store(3)
	b.GoneLeaderWait = 100 * time.Millisecond
	resp, held = answer(t, b, metadataReq("t"))
	if p0, _ = partition0(t, resp); !held || p0.ErrorCode != kerr.LeaderNotAvailable.Code || p0.Leader != -1 {
		t.Fatalf("held %v, p0 leader %d err %d; want held, then LEADER_NOT_AVAILABLE", held, p0.Leader, p0.ErrorCode)
	}

	// Stopping the backend answers at once.
	b.GoneLeaderWait = time.Minute
	b.Stop()
	resp, _ = answer(t, b, metadataReq("t"))
	if p0, _ = partition0(t, resp); p0.ErrorCode != kerr.LeaderNotAvailable.Code {
		t.Fatalf("after Stop: p0 leader %d err %d", p0.Leader, p0.ErrorCode)
	}
}

// A connection to the leader that broke a moment ago, redial pending: a
// request naming its topic is held until the redial tells (here: it
// connects again, so the leader is answered as it is); one that broke
// long ago without refusals (a timeout: no evidence) is answered at once
// with the leader.
func TestMetadataHeldWhileTheLeaderConnectionIsRedialed(t *testing.T) {
	var mu sync.Mutex
	reach := PeerReach{DownSince: time.Now()}
	b := NewBackend(BackendConfig{NodeID: 1, Meta: staticMeta{goneLeaderState(2, 4, false)}, Logger: slog.New(slog.DiscardHandler),
		GoneLeaderWait: time.Minute,
		PeerReach: func(id int32) PeerReach {
			if id != 2 {
				return PeerReach{Connected: true}
			}
			mu.Lock()
			defer mu.Unlock()
			return reach
		}})
	resp, held := answerWhileHeld(t, b, metadataReq("t"), func() {
		mu.Lock()
		reach = PeerReach{Connected: true}
		mu.Unlock()
	})
	if p0, _ := partition0(t, resp); !held || p0.ErrorCode != 0 || p0.Leader != 2 {
		t.Fatalf("held %v, p0 leader %d err %d; want held, then leader 2", held, p0.Leader, p0.ErrorCode)
	}

	mu.Lock()
	reach = PeerReach{DownSince: time.Now().Add(-time.Hour)}
	mu.Unlock()
	resp, held = answer(t, b, metadataReq("t"))
	if p0, _ := partition0(t, resp); held || p0.ErrorCode != 0 || p0.Leader != 2 {
		t.Fatalf("long-silent leader: held %v, p0 leader %d err %d; want leader 2 at once", held, p0.Leader, p0.ErrorCode)
	}
}
