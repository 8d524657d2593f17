package broker

import "github.com/prometheus/client_golang/prometheus"

// fetchSessionMetrics export the Kafka backend's incremental fetch session
// cache (kafka/fetch_session.go), read at scrape time.
func (n *Node) fetchSessionMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "chronik_fetch_sessions_open",
			Help: "Incremental fetch sessions (KIP-227) cached now (at most --max-incremental-fetch-session-cache-slots)."},
			func() float64 { return float64(n.backend.FetchSessions().Open) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chronik_fetch_session_evictions_total",
			Help: "Fetch sessions evicted to make room for new ones."},
			func() float64 { return float64(n.backend.FetchSessions().Evictions) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "chronik_fetch_session_create_failures_total",
			Help: "Fetches that asked for a new fetch session and were served sessionless: no slot free or evictable, or too many partitions."},
			func() float64 { return float64(n.backend.FetchSessions().Failures) }),
	}
}
