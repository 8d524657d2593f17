package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// cleanerCollector reports the log cleaner at scrape time, from the same
// views the admin API serves. The per-partition dirty ratio exists only
// for the compacted partition replicas running here, so its series are
// bounded by them.
type cleanerCollector struct {
	n                                                 *Node
	running, passes, reclaimed, uncleanable, lastPass *prometheus.Desc
	dirtyRatio                                        *prometheus.Desc
}

func newCleanerCollector(n *Node) *cleanerCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &cleanerCollector{
		n: n,
		running: desc("chronik_log_cleaner_running",
			"1 if the log cleaner goroutine runs, else 0 (disabled with --log-cleaner-enable=false, or stopped)."),
		passes: desc("chronik_log_cleaner_passes_total", "Log cleaning passes completed since the node started."),
		reclaimed: desc("chronik_log_cleaner_bytes_reclaimed_total",
			"Bytes the log cleaner's passes removed from compacted partition logs since the node started."),
		uncleanable: desc("chronik_log_cleaner_uncleanable_partitions",
			"Compacted partition replicas the log cleaner skips because a pass failed on them (see chronik doctor)."),
		lastPass: desc("chronik_log_cleaner_last_pass_timestamp_seconds",
			"Unix time at which the last log cleaning pass ended; 0 before the first."),
		dirtyRatio: desc("chronik_log_cleaner_dirty_ratio",
			"Share of a compacted partition replica's cleanable bytes not yet cleaned; the cleaner picks it at min.cleanable.dirty.ratio.",
			"topic", "partition"),
	}
}

// Describe implements prometheus.Collector.
func (c *cleanerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.running, c.passes, c.reclaimed, c.uncleanable, c.lastPass, c.dirtyRatio} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *cleanerCollector) Collect(ch chan<- prometheus.Metric) {
	info := c.n.CleanerInfo()
	metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	metric(c.running, prometheus.GaugeValue, boolGauge(info.Running))
	metric(c.passes, prometheus.CounterValue, float64(info.Passes))
	metric(c.reclaimed, prometheus.CounterValue, float64(info.BytesReclaimed))
	metric(c.uncleanable, prometheus.GaugeValue, float64(info.Uncleanable))
	last := 0.0
	if !info.LastPass.IsZero() {
		last = float64(info.LastPass.UnixNano()) / 1e9
	}
	metric(c.lastPass, prometheus.GaugeValue, last)
	for _, p := range c.n.replicas.All() {
		if st, ok := p.CleanerStatus(); ok {
			metric(c.dirtyRatio, prometheus.GaugeValue, st.State.DirtyRatio, p.Topic, strconv.Itoa(int(p.Index)))
		}
	}
}
