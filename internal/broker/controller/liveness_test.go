package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// livenessMeta is a Metadata that applies fence and unfence commands to an
// in-memory broker table and counts them.
type livenessMeta struct {
	mu       sync.Mutex
	s        *state.State
	fences   map[int32]int
	unfences map[int32]int
}

func newLivenessMeta(brokers ...state.Broker) *livenessMeta {
	s := state.New()
	for _, b := range brokers {
		s.Brokers[b.ID] = &b
	}
	return &livenessMeta{s: s, fences: map[int32]int{}, unfences: map[int32]int{}}
}

func (m *livenessMeta) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s
}

func (m *livenessMeta) Propose(_ context.Context, typ string, payload any) (state.Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := payload.(state.FenceBroker).ID
	next := state.New()
	for bid, b := range m.s.Brokers {
		c := *b
		next.Brokers[bid] = &c
	}
	switch typ {
	case state.TypeFenceBroker:
		next.Brokers[id].Fenced = true
		m.fences[id]++
	case state.TypeUnfenceBroker:
		next.Brokers[id].Fenced = false
		m.unfences[id]++
	default:
		panic("unexpected proposal " + typ)
	}
	m.s = next
	return state.Result{}, nil
}

func (m *livenessMeta) broker(id int32) state.Broker {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.s.Brokers[id]
}

func (m *livenessMeta) counts(id int32) (fences, unfences int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fences[id], m.unfences[id]
}

// liveness runs RunLiveness on node 1 until the test ends, every 5 ms with a
// 100 ms session timeout, with raft's view given by activity, and returns
// how many checks have run so far.
func liveness(t *testing.T, md *livenessMeta, activity Activity) (checks func() int64) {
	t.Helper()
	return livenessWith(t, md, activity, nil, 100*time.Millisecond)
}

// livenessWith is liveness with the transport's refusals and a session
// timeout of the test's choosing.
func livenessWith(t *testing.T, md *livenessMeta, activity Activity, refused Refusals, session time.Duration) (checks func() int64) {
	t.Helper()
	var n atomic.Int64
	counted := func() (int32, bool, map[int32]time.Time) { n.Add(1); return activity() }
	c := New(Options{NodeID: 1, Logger: slog.New(slog.DiscardHandler)}, md)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.RunLiveness(ctx, counted, refused, 5*time.Millisecond, session) }()
	t.Cleanup(func() { cancel(); <-done })
	return n.Load
}

// Every combination of fenced, shut down, controller and heard, for the
// controller itself and for a peer. The one that was wrong: a node fenced
// by an earlier controller while it was cut off, that then won the raft
// election, stayed fenced (and out of every ISR) until it restarted,
// because raft keeps no contact time for the leader itself.
func TestLivenessEveryBrokerState(t *testing.T) {
	heardNow := func(ids ...int32) Activity {
		return func() (int32, bool, map[int32]time.Time) {
			m := map[int32]time.Time{}
			for _, id := range ids {
				m[id] = time.Now()
			}
			return 1, true, m
		}
	}
	tests := []struct {
		name         string
		broker       state.Broker
		activity     Activity
		wantFenced   bool
		wantFences   int // exactly, once settled
		wantUnfences int
	}{
		{"fenced controller unfences itself", state.Broker{ID: 1, Fenced: true}, heardNow(2), false, 0, 1},
		{"live controller is never fenced", state.Broker{ID: 1}, heardNow(), false, 0, 0},
		{"controller in controlled shutdown stays fenced", state.Broker{ID: 1, Fenced: true, ShutDown: true}, heardNow(2), true, 0, 0},
		{"fenced peer heard again is unfenced", state.Broker{ID: 2, Fenced: true}, heardNow(2), false, 0, 1},
		{"fenced peer still silent stays fenced", state.Broker{ID: 2, Fenced: true}, heardNow(), true, 0, 0},
		{"shut-down peer heard stays fenced until it registers", state.Broker{ID: 2, Fenced: true, ShutDown: true}, heardNow(2), true, 0, 0},
		{"silent peer is fenced after the session timeout", state.Broker{ID: 2}, heardNow(), true, 1, 0},
		{"heard peer stays unfenced", state.Broker{ID: 2}, heardNow(2), false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			others := []state.Broker{{ID: 1}, {ID: 2}}
			for i := range others {
				if others[i].ID == tt.broker.ID {
					others[i] = tt.broker
				}
			}
			md := newLivenessMeta(others...)
			checks := liveness(t, md, tt.activity)
			id := tt.broker.ID
			testharness.Eventually(t, 5*time.Second, "the expected fencing", func() bool {
				f, u := md.counts(id)
				return md.broker(id).Fenced == tt.wantFenced && f == tt.wantFences && u == tt.wantUnfences
			}, func() string {
				f, u := md.counts(id)
				return fmt.Sprintf("fenced=%v fences=%d unfences=%d", md.broker(id).Fenced, f, u)
			})
			// Settled: forty more checks (two session timeouts) change nothing.
			from := checks()
			testharness.Eventually(t, 5*time.Second, "forty more liveness checks", func() bool { return checks() >= from+40 })
			f, u := md.counts(id)
			if md.broker(id).Fenced != tt.wantFenced || f != tt.wantFences || u != tt.wantUnfences {
				t.Fatalf("after settling: fenced=%v fences=%d unfences=%d", md.broker(id).Fenced, f, u)
			}
		})
	}
}

// A peer whose cluster address refuses connections (its process is gone)
// is fenced long before the session timeout (a minute here), but only with
// RefusedDialsToFence refusals in a row and only while it is silent too; a
// silent peer without refusals (stopped, slow, cut off) keeps the session
// timeout.
func TestLivenessRefusedDialsFenceEarly(t *testing.T) {
	heardAt := func(at time.Time, ids ...int32) Activity {
		return func() (int32, bool, map[int32]time.Time) {
			m := map[int32]time.Time{}
			for _, id := range ids {
				m[id] = at
			}
			return 1, true, m
		}
	}
	heardNow := func(ids ...int32) Activity {
		return func() (int32, bool, map[int32]time.Time) {
			m := map[int32]time.Time{}
			for _, id := range ids {
				m[id] = time.Now()
			}
			return 1, true, m
		}
	}
	refusing := func(n int, ids ...int32) Refusals {
		return func(id int32) int {
			for _, r := range ids {
				if r == id {
					return n
				}
			}
			return 0
		}
	}
	lastHeard := time.Now().Add(-time.Second) // before the controller led: its grace applies
	tests := []struct {
		name       string
		broker     state.Broker
		activity   Activity
		refused    Refusals
		wantFenced bool
		wantFences int
	}{
		{"silent peer refusing dials is fenced early", state.Broker{ID: 2}, heardAt(lastHeard, 2), refusing(RefusedDialsToFence, 2), true, 1},
		{"peer never heard refusing dials is fenced early", state.Broker{ID: 2}, heardNow(), refusing(5, 2), true, 1},
		{"one refusal is not enough", state.Broker{ID: 2}, heardAt(lastHeard, 2), refusing(RefusedDialsToFence-1, 2), false, 0},
		{"silent peer without refusals keeps the session timeout", state.Broker{ID: 2}, heardAt(lastHeard, 2), refusing(0), false, 0},
		{"heard peer refusing dials stays unfenced", state.Broker{ID: 2}, heardNow(2), refusing(9, 2), false, 0},
		// Also: a new controller's grace is not contact; a fenced peer
		// last heard before it led stays fenced (it was unfenced at once).
		{"fenced refusing peer is not fenced again", state.Broker{ID: 2, Fenced: true}, heardAt(lastHeard, 2), refusing(9, 2), true, 0},
		{"controller is never fenced by refusals", state.Broker{ID: 1}, heardNow(), refusing(9, 1), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			others := []state.Broker{{ID: 1}, {ID: 2}}
			for i := range others {
				if others[i].ID == tt.broker.ID {
					others[i] = tt.broker
				}
			}
			md := newLivenessMeta(others...)
			checks := livenessWith(t, md, tt.activity, tt.refused, time.Minute)
			id := tt.broker.ID
			testharness.Eventually(t, 5*time.Second, "the expected fencing", func() bool {
				f, _ := md.counts(id)
				return md.broker(id).Fenced == tt.wantFenced && f == tt.wantFences
			}, func() string {
				f, _ := md.counts(id)
				return fmt.Sprintf("fenced=%v fences=%d", md.broker(id).Fenced, f)
			})
			// Settled: a hundred more checks (ten times the silence
			// required with refusals) change nothing.
			from := checks()
			testharness.Eventually(t, 5*time.Second, "a hundred more liveness checks", func() bool { return checks() >= from+100 })
			f, u := md.counts(id)
			if md.broker(id).Fenced != tt.wantFenced || f != tt.wantFences || u != 0 {
				t.Fatalf("after settling: fenced=%v fences=%d unfences=%d", md.broker(id).Fenced, f, u)
			}
		})
	}
}
