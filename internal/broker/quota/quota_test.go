package quota

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// quotaState is a state holding the given quota values.
func quotaState(t *testing.T, alts ...state.QuotaAlteration) *state.State {
	t.Helper()
	s := state.New()
	apply := func(typ string, payload any) {
		b, err := state.Encode(typ, payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Apply(b); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	apply(state.TypeInitCluster, state.InitCluster{ClusterID: "c", MetadataVersion: state.SecurityMetadataVersion})
	if len(alts) > 0 {
		apply(state.TypeAlterClientQuotas, state.AlterClientQuotas{Alterations: alts})
	}
	return s
}

func setQuota(e state.QuotaEntity, key string, v float64) state.QuotaAlteration {
	return state.QuotaAlteration{Entity: e, Ops: []state.QuotaOp{{Key: key, Value: v}}}
}

// fakeClock is a manual clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func conn(user, clientID string) *kafka.Conn {
	c := &kafka.Conn{ClientID: clientID}
	if user != "" {
		c.SetPrincipal(kafka.Principal{Type: kafka.PrincipalUserType, Name: user})
	}
	return c
}

func produce(n int64) kafka.QuotaUsage { return kafka.QuotaUsage{Key: 0, RequestBytes: n} }

// TestPrecedence: each level of Kafka's precedence wins over every level
// below it, for each connection identity.
func TestPrecedence(t *testing.T) {
	u, du := state.Named("alice"), state.DefaultQuotaName()
	c, dc := state.Named("app"), state.DefaultQuotaName()
	levels := []state.QuotaEntity{
		{User: u, ClientID: c},
		{User: u, ClientID: dc},
		{User: u},
		{User: du, ClientID: c},
		{User: du, ClientID: dc},
		{User: du},
		{ClientID: c},
		{ClientID: dc},
	}
	for top := range levels {
		var alts []state.QuotaAlteration
		for i := top; i < len(levels); i++ {
			alts = append(alts, setQuota(levels[i], state.QuotaProducerByteRate, float64(1000*(i+1))))
		}
		st := quotaState(t, alts...)
		b := resolve(st.ClientQuotas, state.QuotaProducerByteRate, "alice", "app")
		if !b.ok || b.value != float64(1000*(top+1)) {
			t.Errorf("with levels %d.. set: got %v, want level %d (%s)", top, b, top, levels[top])
		}
	}
	// Another user and client id fall through to the defaults only.
	st := quotaState(t,
		setQuota(state.QuotaEntity{User: u}, state.QuotaProducerByteRate, 1),
		setQuota(state.QuotaEntity{ClientID: dc}, state.QuotaProducerByteRate, 2))
	if b := resolve(st.ClientQuotas, state.QuotaProducerByteRate, "bob", "other"); b.value != 2 || b.tags.user != "" || b.tags.clientID != "other" {
		t.Fatalf("bob: %+v", b)
	}
	// A user quota is shared by all of the user's client ids.
	if b := resolve(st.ClientQuotas, state.QuotaProducerByteRate, "alice", "x"); b.value != 1 || b.tags.user != "alice" || b.tags.clientID != "" {
		t.Fatalf("alice: %+v", b)
	}
	// Each type resolves on its own.
	if b := resolve(st.ClientQuotas, state.QuotaConsumerByteRate, "alice", "x"); b.ok {
		t.Fatalf("consumer quota resolved from producer values: %+v", b)
	}
}

// TestThrottleTimeIsKafkas: the throttle for a rate over its quota is
// (observed - quota) / quota * window, with the window at least
// (samples-1) whole sample windows.
func TestThrottleTimeIsKafkas(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	st := quotaState(t, setQuota(state.QuotaEntity{ClientID: state.Named("p")}, state.QuotaProducerByteRate, 1000))
	m := New(Config{State: func() *state.State { return st }, WindowNum: 11, WindowSize: time.Second, Now: clk.Now})

	// 10,000 bytes at once: exactly the quota over the minimum 10 s window.
	if d := m.Record(conn("", "p"), produce(10000)); d != 0 {
		t.Fatalf("at the quota: throttle %v", d)
	}
	// 12,000 more: 22,000 / 10 s = 2,200 B/s, (2200-1000)/1000 * 10 s = 12 s.
	if d := m.Record(conn("", "p"), produce(12000)); d != 12*time.Second {
		t.Fatalf("over the quota: throttle %v, want 12s", d)
	}
	// Another client id has no quota and is never throttled.
	if d := m.Record(conn("", "q"), produce(1<<30)); d != 0 {
		t.Fatalf("unquoted client throttled %v", d)
	}
	// Fetch requests do not count on the produce quota.
	if d := m.Record(conn("", "p"), kafka.QuotaUsage{Key: 1, RequestBytes: 1 << 30, ResponseRecordBytes: 1 << 30}); d != 0 {
		t.Fatalf("fetch throttled by the produce quota: %v", d)
	}
	// Once the samples expire (11 windows), the rate is back to zero.
	clk.Advance(11 * time.Second)
	if d := m.Record(conn("", "p"), produce(1)); d != 0 {
		t.Fatalf("after the window: throttle %v", d)
	}
}

func TestFetchAndRequestQuotas(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	st := quotaState(t,
		setQuota(state.QuotaEntity{User: state.Named("reader")}, state.QuotaConsumerByteRate, 100),
		setQuota(state.QuotaEntity{User: state.Named("busy")}, state.QuotaRequestPercentage, 10))
	m := New(Config{State: func() *state.State { return st }, WindowNum: 3, WindowSize: time.Second, Now: clk.Now})

	// Fetch: the response's record bytes count, 400 over a 2 s window is
	// 200 B/s, (200-100)/100 * 2 s = 2 s.
	if d := m.Record(conn("reader", "c"), kafka.QuotaUsage{Key: 1, RequestBytes: 100, ResponseRecordBytes: 400}); d != 2*time.Second {
		t.Fatalf("fetch throttle %v, want 2s", d)
	}
	// A replica's fetches are never throttled.
	rc := conn("reader", "c")
	rc.Replica = &kafka.ReplicaPeer{ID: 2}
	if d := m.Record(rc, kafka.QuotaUsage{Key: 1, ResponseRecordBytes: 1 << 30}); d != 0 {
		t.Fatalf("replica fetch throttled %v", d)
	}
	// Request time: 1 s of handler time over a 2 s window is 50% of a
	// thread against 10%: 8 s by the formula, bounded to one window.
	if d := m.Record(conn("busy", "c"), kafka.QuotaUsage{Key: 3, HandlerTime: time.Second}); d != time.Second {
		t.Fatalf("request throttle %v, want 1s (one window)", d)
	}
}

// TestInventedClientIDsStayBounded: a client sending 100,000 client ids
// under a /clients/<default> quota makes at most MaxEntities rates, and the
// memory they take stays bounded.
func TestInventedClientIDsStayBounded(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	st := quotaState(t, setQuota(state.QuotaEntity{ClientID: state.DefaultQuotaName()}, state.QuotaProducerByteRate, 1e6))
	const limit = 1000
	m := New(Config{State: func() *state.State { return st }, MaxEntities: limit, Now: clk.Now})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := 0; i < 100000; i++ {
		m.Record(conn("", fmt.Sprintf("invented-%d", i)), produce(10))
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
		}
	}
	m.mu.Lock()
	rates, lru, cached := len(m.rates), m.lru.Len(), len(m.resolved)
	m.mu.Unlock()
	if rates > limit || lru != rates || cached > limit {
		t.Fatalf("tracking %d rates (list %d), %d resolutions; limit %d", rates, lru, cached, limit)
	}
	// 1,000 rates and resolutions are well under 4 MiB; 100,000 would not be.
	if grown := int64(heap()) - int64(before); grown > 4<<20 {
		t.Fatalf("heap grew %d bytes", grown)
	}
	// Idle rates are dropped before active ones are evicted.
	clk.Advance(time.Minute)
	before2 := counterValue(t, m)
	m.Record(conn("", "fresh"), produce(1))
	if counterValue(t, m) != before2 {
		t.Fatal("an active rate was evicted while idle ones could go")
	}
}

// TestNoQuotasTracksNothing: with no quota stored, nothing is measured.
func TestNoQuotasTracksNothing(t *testing.T) {
	st := quotaState(t)
	m := New(Config{State: func() *state.State { return st }})
	for i := 0; i < 100; i++ {
		if d := m.Record(conn("", fmt.Sprint(i)), produce(math.MaxInt32)); d != 0 {
			t.Fatalf("throttled %v with no quotas", d)
		}
	}
	if len(m.rates) != 0 {
		t.Fatalf("%d rates tracked with no quotas", len(m.rates))
	}
}

// TestQuotaChangeTakesEffect: a new metadata state with a changed quota is
// used at once; the rate measured so far is kept.
func TestQuotaChangeTakesEffect(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	e := state.QuotaEntity{ClientID: state.Named("p")}
	st := quotaState(t, setQuota(e, state.QuotaProducerByteRate, 1e9))
	cur := st
	m := New(Config{State: func() *state.State { return cur }, Now: clk.Now})
	if d := m.Record(conn("", "p"), produce(20000)); d != 0 {
		t.Fatalf("throttle %v under a large quota", d)
	}
	cur = quotaState(t, setQuota(e, state.QuotaProducerByteRate, 1000))
	if d := m.Record(conn("", "p"), produce(1)); d <= 0 {
		t.Fatal("lowered quota not applied")
	}
}

func counterValue(t *testing.T, m *Manager) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.evicted.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}
