// Package quota enforces Kafka's client quotas on one node: produce and
// fetch byte rates and request handler time (KIP-13, KIP-55, KIP-124), with
// the values stored in the replicated metadata (state.ClientQuotas) and the
// rates measured here, per node, as Kafka measures them per broker.
//
// For each request the Manager resolves, per quota type, which entity's
// value applies to the connection's user and client id (Kafka's precedence,
// most specific first), records the request's cost on that entity's rate,
// and, when the rate is over the value, answers how long to throttle:
// Kafka's (observed - quota) / quota * measured window. The kafka server
// sends that as throttle_time_ms and mutes the connection for as long.
package quota

import (
	"container/list"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// Kafka's defaults for the rate windows: quota.window.num and
// quota.window.size.seconds.
const (
	DefaultWindowNum  = 11
	DefaultWindowSize = time.Second
	// DefaultMaxEntities bounds the rates tracked at once (about 500 bytes
	// each): past it the least recently used is forgotten.
	DefaultMaxEntities = 10000
)

// Config configures a Manager.
type Config struct {
	// State is the latest applied metadata, read for the quota values.
	State func() *state.State
	// WindowNum and WindowSize are the samples a rate keeps and the time
	// each covers (Kafka's quota.window.num and quota.window.size.seconds).
	WindowNum  int
	WindowSize time.Duration
	// MaxEntities bounds the rates tracked at once; idle ones (nothing
	// recorded for WindowNum windows, so their rate is zero) go first, then
	// the least recently used. Default DefaultMaxEntities.
	MaxEntities int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Type is a quota type, one per Kafka quota manager.
type Type int

// The quota types, each with its own rates and its own resolution.
const (
	Produce Type = iota // producer_byte_rate: request bytes of Produce
	Fetch               // consumer_byte_rate: record bytes of consumer Fetch responses
	Request             // request_percentage: handler time in % of one thread
	numTypes
)

func (t Type) key() string {
	return [...]string{state.QuotaProducerByteRate, state.QuotaConsumerByteRate, state.QuotaRequestPercentage}[t]
}

// String is the metrics label: Kafka's quota manager names.
func (t Type) String() string { return [...]string{"produce", "fetch", "request"}[t] }

const (
	produceKey int16 = 0
	fetchKey   int16 = 1
)

// Manager measures and throttles clients; it implements kafka.QuotaEnforcer.
type Manager struct {
	cfg Config

	mu       sync.Mutex
	rates    map[rateKey]*list.Element // of *tracked
	lru      list.List                 // front: most recently used
	resolved map[who]resolution        // cache for resolvedFor
	forState *state.State              // the state resolved was built from

	throttled    *prometheus.CounterVec
	throttleTime *prometheus.HistogramVec
	evicted      prometheus.Counter
}

// who is a connection's identity as quotas see it.
type who struct{ user, clientID string }

// rateKey names one rate: a quota type and the metric tags of the entity
// whose quota applies (Kafka's quota metric tags): the user and/or client id
// the quota entity names or defaults, "" for a part it does not have. All
// client ids of a user with a user-level quota share one rate; with a
// /clients/<default> quota, each client id has its own.
type rateKey struct {
	typ            Type
	user, clientID string
}

type tracked struct {
	key  rateKey
	rate *rate
	used time.Time
}

// bound is the quota that applies to a connection for one type.
type bound struct {
	value float64
	tags  rateKey
	ok    bool
}

type resolution [numTypes]bound

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.WindowNum < 2 {
		cfg.WindowNum = DefaultWindowNum
	}
	if cfg.WindowSize <= 0 {
		cfg.WindowSize = DefaultWindowSize
	}
	if cfg.MaxEntities <= 0 {
		cfg.MaxEntities = DefaultMaxEntities
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Manager{
		cfg:      cfg,
		rates:    make(map[rateKey]*list.Element),
		resolved: make(map[who]resolution),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chronik_quota_throttled_requests_total",
			Help: "Kafka requests answered with a throttle because the client was over a quota, by quota type " +
				"(produce: producer_byte_rate, fetch: consumer_byte_rate, request: request_percentage).",
		}, []string{"quota"}),
		throttleTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chronik_quota_throttle_time_seconds",
			Help:    "Throttle time given to clients over a quota (sent as throttle_time_ms, connection muted as long), by quota type.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"quota"}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chronik_quota_rates_evicted_total",
			Help: "Client quota rates forgotten while not idle because more entities than the tracking limit were active.",
		}),
	}
	for t := Type(0); t < numTypes; t++ {
		m.throttled.WithLabelValues(t.String())
		m.throttleTime.WithLabelValues(t.String())
	}
	return m
}

// Collectors are the Manager's metrics, for the node's registry.
func (m *Manager) Collectors() []prometheus.Collector {
	tracked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "chronik_quota_tracked_rates",
		Help: "Client quota rates this node is measuring (one per quota type and user/client id a quota applies to).",
	}, func() float64 {
		m.mu.Lock()
		defer m.mu.Unlock()
		return float64(len(m.rates))
	})
	return []prometheus.Collector{m.throttled, m.throttleTime, m.evicted, tracked}
}

// Record implements kafka.QuotaEnforcer: it records the request's cost on
// every quota that applies and returns the longest throttle among them.
// Replica connections (Conn.Replica) are inter-broker traffic, never
// throttled.
func (m *Manager) Record(c *kafka.Conn, u kafka.QuotaUsage) time.Duration {
	if c.Replica != nil {
		return 0
	}
	st := m.cfg.State()
	if st == nil || len(st.ClientQuotas) == 0 {
		return 0 // nothing to enforce, nothing to track
	}
	id := who{user: c.Principal().Name, clientID: c.ClientID}
	now := m.cfg.Now()

	m.mu.Lock()
	res := m.resolvedFor(st, id)
	var worst time.Duration
	var worstType Type
	for t := Type(0); t < numTypes; t++ {
		b := res[t]
		if !b.ok {
			continue
		}
		var v float64
		switch t {
		case Produce:
			if u.Key != produceKey {
				continue
			}
			v = float64(u.RequestBytes)
		case Fetch:
			if u.Key != fetchKey {
				continue
			}
			v = float64(u.ResponseRecordBytes)
		case Request:
			// Percent of one thread: handler seconds * 100 per second.
			v = u.HandlerTime.Seconds() * 100
		}
		d := m.record(b, now, v)
		if t == Request {
			// Kafka bounds a request-time throttle to one window
			// (ClientRequestQuotaManager).
			d = min(d, m.cfg.WindowSize)
		}
		if d > worst {
			worst, worstType = d, t
		}
	}
	m.mu.Unlock()

	if worst > 0 {
		// Counted where Kafka's quota managers would throttle: the type that
		// set the throttle.
		m.throttled.WithLabelValues(worstType.String()).Inc()
		m.throttleTime.WithLabelValues(worstType.String()).Observe(worst.Seconds())
	}
	return worst
}

// record adds v to the rate of b's entity and returns the throttle its
// quota calls for. m.mu is held.
func (m *Manager) record(b bound, now time.Time, v float64) time.Duration {
	window := m.cfg.WindowSize
	var tr *tracked
	if e, ok := m.rates[b.tags]; ok {
		m.lru.MoveToFront(e)
		tr = e.Value.(*tracked)
	} else {
		m.makeRoom(now)
		tr = &tracked{key: b.tags, rate: newRate(m.cfg.WindowNum)}
		m.rates[b.tags] = m.lru.PushFront(tr)
	}
	tr.used = now
	tr.rate.record(now, window, v)
	observed, span := tr.rate.measure(now, window)
	return throttle(observed, b.value, span)
}

// makeRoom keeps the tracked rates under MaxEntities before one is added:
// rates idle for the whole measured span are forgotten first (their rate is
// zero: nothing is lost), then the least recently used. m.mu is held.
func (m *Manager) makeRoom(now time.Time) {
	if len(m.rates) < m.cfg.MaxEntities {
		return
	}
	span := time.Duration(m.cfg.WindowNum) * m.cfg.WindowSize
	// The list is in recency order, so the idle ones are at the back.
	for e := m.lru.Back(); e != nil; {
		tr := e.Value.(*tracked)
		if now.Sub(tr.used) < span {
			break
		}
		prev := e.Prev()
		m.lru.Remove(e)
		delete(m.rates, tr.key)
		e = prev
	}
	if len(m.rates) >= m.cfg.MaxEntities {
		e := m.lru.Back()
		m.lru.Remove(e)
		delete(m.rates, e.Value.(*tracked).key)
		m.evicted.Inc()
	}
}

// resolvedFor is the quota of each type that applies to id, cached per
// metadata state (a published state never changes; a new one may change
// the quotas). The cache is bounded like the rates. m.mu is held.
func (m *Manager) resolvedFor(st *state.State, id who) resolution {
	if st != m.forState || len(m.resolved) >= m.cfg.MaxEntities {
		clear(m.resolved)
		m.forState = st
	}
	if r, ok := m.resolved[id]; ok {
		return r
	}
	var r resolution
	for t := Type(0); t < numTypes; t++ {
		r[t] = resolve(st.ClientQuotas, t.key(), id.user, id.clientID)
		r[t].tags.typ = t
	}
	m.resolved[id] = r
	return r
}

// resolve finds the quota of key for a user and client id with Kafka's
// precedence, most specific first:
//
//	/users/<user>/clients/<client-id>
//	/users/<user>/clients/<default>
//	/users/<user>
//	/users/<default>/clients/<client-id>
//	/users/<default>/clients/<default>
//	/users/<default>
//	/clients/<client-id>
//	/clients/<default>
//
// and the metric tags of the rate it is measured on.
func resolve(q state.ClientQuotas, key, user, clientID string) bound {
	u, c := state.Named(user), state.Named(clientID)
	du, dc := state.DefaultQuotaName(), state.DefaultQuotaName()
	for _, cand := range []struct {
		e          state.QuotaEntity
		tagU, tagC string
	}{
		{state.QuotaEntity{User: u, ClientID: c}, user, clientID},
		{state.QuotaEntity{User: u, ClientID: dc}, user, clientID},
		{state.QuotaEntity{User: u}, user, ""},
		{state.QuotaEntity{User: du, ClientID: c}, user, clientID},
		{state.QuotaEntity{User: du, ClientID: dc}, user, clientID},
		{state.QuotaEntity{User: du}, user, ""},
		{state.QuotaEntity{ClientID: c}, "", clientID},
		{state.QuotaEntity{ClientID: dc}, "", clientID},
	} {
		if v, ok := q.Value(cand.e, key); ok {
			return bound{value: v, tags: rateKey{user: cand.tagU, clientID: cand.tagC}, ok: true}
		}
	}
	return bound{}
}
