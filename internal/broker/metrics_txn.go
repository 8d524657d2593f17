package broker

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// txnCollector reports the transactions open on the partitions this node
// leads, at scrape time, from the same replica state the admin API serves.
// Only the leader's copy counts (followers hold the same transactions), and
// the per-partition series exist only for partitions with an open
// transaction, so they are bounded by those.
type txnCollector struct {
	n                *Node
	ongoing, oldest  *prometheus.Desc
	partitionsWithTx *prometheus.Desc
	// The coordinator's side: the transactional ids this node coordinates
	// (the __transaction_state partitions it leads), by state, and how long
	// the oldest transaction among them has been open.
	coordIDs, coordOldest *prometheus.Desc
}

func newTxnCollector(n *Node) *txnCollector {
	return &txnCollector{
		n: n,
		ongoing: prometheus.NewDesc("chronik_partition_ongoing_transactions",
			"Transactions open on a partition this node leads; only partitions with at least one. Its last stable offset stays at the oldest one's first offset.",
			[]string{"topic", "partition"}, nil),
		oldest: prometheus.NewDesc("chronik_txn_oldest_age_seconds",
			"Age of the oldest transaction open on any partition this node leads; 0 when none is. Above the max transaction timeout (--transaction-max-timeout) it is hanging: see chronik doctor.",
			nil, nil),
		partitionsWithTx: prometheus.NewDesc("chronik_partitions_with_ongoing_transactions",
			"Partitions this node leads with at least one open transaction.", nil, nil),
		coordIDs: prometheus.NewDesc("chronik_txn_coordinator_transactional_ids",
			"Transactional ids this node coordinates (it leads their __transaction_state partition), by state (Kafka's names); only states with any.",
			[]string{"state"}, nil),
		coordOldest: prometheus.NewDesc("chronik_txn_coordinator_oldest_open_seconds",
			"How long the oldest transaction this node coordinates has been open; 0 when none is.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *txnCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ongoing
	ch <- c.oldest
	ch <- c.partitionsWithTx
	ch <- c.coordIDs
	ch <- c.coordOldest
}

// Collect implements prometheus.Collector.
func (c *txnCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	oldest := 0.0
	with := 0
	for _, p := range c.n.replicas.All() {
		if !p.IsLeader() {
			continue
		}
		txns := p.OngoingTxns()
		if len(txns) == 0 {
			continue
		}
		with++
		ch <- prometheus.MustNewConstMetric(c.ongoing, prometheus.GaugeValue, float64(len(txns)), p.Topic, strconv.Itoa(int(p.Index)))
		for _, t := range txns {
			if !t.Started.IsZero() {
				oldest = max(oldest, now.Sub(t.Started).Seconds())
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, oldest)
	ch <- prometheus.MustNewConstMetric(c.partitionsWithTx, prometheus.GaugeValue, float64(with))
	c.collectCoordinator(ch, now)
}

func (c *txnCollector) collectCoordinator(ch chan<- prometheus.Metric, now time.Time) {
	byState := map[string]int{}
	oldest := 0.0
	for _, s := range c.n.CoordinatedTxns() {
		byState[string(s.State)]++
		// A completed transaction keeps its start time; only open ones age.
		if TxnOpen(s.State) && !s.StartTime.IsZero() {
			oldest = max(oldest, now.Sub(s.StartTime).Seconds())
		}
	}
	for state, count := range byState {
		ch <- prometheus.MustNewConstMetric(c.coordIDs, prometheus.GaugeValue, float64(count), state)
	}
	ch <- prometheus.MustNewConstMetric(c.coordOldest, prometheus.GaugeValue, oldest)
}
