package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeTimeout bounds one GET /metrics; a node that does not answer in it
// makes the run's breakdown n/a rather than stalling the benchmark.
const scrapeTimeout = 10 * time.Second

// breakdown is where an acks=all round trip's time went in a run's measured
// window: the mean of each broker histogram over the window (delta sum /
// delta count, summed over the nodes), in ms, and each node's fsync passes
// per second. nil is "n/a": the series is absent (a binary older than it),
// nothing was observed in the window, or a node could not be read
// (BreakdownErrors says why). Never a made-up 0.
type breakdown struct {
	ProduceRequestMs   *float64   `json:"produce_request_ms"`
	FetchRequestMs     *float64   `json:"fetch_request_ms"`
	LocalFsyncWaitMs   *float64   `json:"local_fsync_wait_ms"`
	ReplicasWaitMs     *float64   `json:"replicas_wait_ms"`
	FollowerAckMs      *float64   `json:"follower_ack_ms"`
	FollowerCopyMs     *float64   `json:"follower_copy_ms"`
	FollowerFsyncMs    *float64   `json:"follower_fsync_ms"`
	FsyncPassMs        *float64   `json:"fsync_pass_ms"`
	FsyncsPerSecByNode []*float64 `json:"fsyncs_per_s_by_node"` // in node order
	BreakdownErrors    string     `json:"breakdown_errors,omitempty"`
}

// histSeries is one histogram series of a node's /metrics, selected by its
// name and its exact label set, and the breakdown field its mean goes to.
type histSeries struct {
	name   string
	labels map[string]string
	slot   func(*breakdown) **float64
}

const fsyncHistogram = "chronik_log_fsync_duration_seconds"

// breakdownSeries lists the histograms of the breakdown (docs/admin-api.md,
// the metrics table), in the order of the "where the time goes" table.
func breakdownSeries() []histSeries {
	return []histSeries{
		{"chronik_kafka_request_duration_seconds", map[string]string{"api": "Produce"}, func(b *breakdown) **float64 { return &b.ProduceRequestMs }},
		{"chronik_kafka_request_duration_seconds", map[string]string{"api": "Fetch"}, func(b *breakdown) **float64 { return &b.FetchRequestMs }},
		{"chronik_produce_wait_seconds", map[string]string{"stage": "local_fsync"}, func(b *breakdown) **float64 { return &b.LocalFsyncWaitMs }},
		{"chronik_produce_wait_seconds", map[string]string{"stage": "replicas"}, func(b *breakdown) **float64 { return &b.ReplicasWaitMs }},
		{"chronik_replica_follower_ack_seconds", nil, func(b *breakdown) **float64 { return &b.FollowerAckMs }},
		{"chronik_follower_apply_seconds", map[string]string{"stage": "copy"}, func(b *breakdown) **float64 { return &b.FollowerCopyMs }},
		{"chronik_follower_apply_seconds", map[string]string{"stage": "fsync"}, func(b *breakdown) **float64 { return &b.FollowerFsyncMs }},
		{fsyncHistogram, nil, func(b *breakdown) **float64 { return &b.FsyncPassMs }},
	}
}

// key names the series as the text format would: name{k="v",...}, labels
// sorted.
func (s histSeries) key() string { return seriesKey(s.name, s.labels) }

func seriesKey(name string, labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// histTotals are a histogram series' cumulative _sum and _count.
type histTotals struct {
	sum   float64
	count uint64
}

// parseHistograms reads a Prometheus text exposition and returns the
// totals of every histogram series of want's names, keyed by seriesKey (the
// full label set, so a series is only ever matched exactly). A series
// missing from the text is missing from the map.
func parseHistograms(r io.Reader, want []histSeries) (map[string]histTotals, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	out := make(map[string]histTotals)
	for _, s := range want {
		mf, ok := mfs[s.name]
		if !ok {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue // same name, not a histogram: not the series meant
			}
			labels := make(map[string]string, len(m.GetLabel()))
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			out[seriesKey(s.name, labels)] = histTotals{sum: h.GetSampleSum(), count: h.GetSampleCount()}
		}
	}
	return out, nil
}

// nodeScrape is one node's histogram totals at one moment, or why they
// could not be read.
type nodeScrape struct {
	node  int32
	at    time.Time
	hists map[string]histTotals
	err   error
}

// scrapeMetrics reads and parses one node's /metrics.
func scrapeMetrics(ctx context.Context, hc *http.Client, adminAddr string, want []histSeries) (map[string]histTotals, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	url := "http://" + adminAddr + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: status %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	h, err := parseHistograms(resp.Body, want)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return h, nil
}

// scrapeAll reads every node's /metrics at once, so the nodes' snapshots
// are of nearly the same moment. Failures are in the results, not an error:
// they make the breakdown n/a, never the run fail.
func (cr *clusterRun) scrapeAll(ctx context.Context) []nodeScrape {
	want := breakdownSeries()
	out := make([]nodeScrape, len(cr.cluster.Nodes))
	var wg sync.WaitGroup
	for i, n := range cr.cluster.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := scrapeMetrics(ctx, cr.httpClient, n.AdminAddr, want)
			out[i] = nodeScrape{node: n.ID, at: time.Now(), hists: h, err: err}
		}()
	}
	wg.Wait()
	return out
}

// windowBreakdown computes the breakdown between two scrapeAll results of
// the same nodes. Per series and node: absent in both is absent (an older
// binary); absent only before is a series created in the window (from 0);
// present before but absent after, or a _sum or _count that went down, is a
// counter reset (the node restarted): its mean is n/a, since the part
// before the reset is lost.
func windowBreakdown(before, after []nodeScrape) breakdown {
	var b breakdown
	if len(before) != len(after) {
		// Not one window of the same nodes (a scrape never taken): all n/a.
		b.BreakdownErrors = fmt.Sprintf("%d nodes scraped before the window, %d after", len(before), len(after))
		return b
	}
	var problems []string
	failed := false
	for i := range after {
		for _, s := range []nodeScrape{before[i], after[i]} {
			if s.err != nil {
				failed = true
				problems = append(problems, fmt.Sprintf("node %d: %v", s.node, s.err))
			}
		}
	}
	for _, s := range breakdownSeries() {
		key := s.key()
		var dsum float64
		var dcount uint64
		present, reset := false, false
		for i := range after {
			if before[i].err != nil || after[i].err != nil {
				continue
			}
			d, ok, err := delta(before[i].hists, after[i].hists, key)
			if err != nil {
				reset = true
				problems = append(problems, fmt.Sprintf("node %d: %v", after[i].node, err))
				continue
			}
			if ok {
				present = true
				dsum += d.sum
				dcount += d.count
			}
		}
		if failed || reset || !present || dcount == 0 {
			continue
		}
		ms := dsum / float64(dcount) * 1000
		*s.slot(&b) = &ms
	}
	fsync := seriesKey(fsyncHistogram, nil)
	for i := range after {
		var v *float64
		if before[i].err == nil && after[i].err == nil {
			// The reset, if any, was reported with the fsync pass mean.
			if d, ok, err := delta(before[i].hists, after[i].hists, fsync); err == nil && ok {
				if w := after[i].at.Sub(before[i].at).Seconds(); w > 0 {
					perSec := float64(d.count) / w
					v = &perSec
				}
			}
		}
		b.FsyncsPerSecByNode = append(b.FsyncsPerSecByNode, v)
	}
	b.BreakdownErrors = strings.Join(problems, "; ")
	return b
}

// errCounterReset: a series went down between two scrapes.
var errCounterReset = errors.New("counter reset (the node restarted?)")

// delta is the growth of series key from before to after; ok is false when
// the node exports no such series.
func delta(before, after map[string]histTotals, key string) (d histTotals, ok bool, err error) {
	a, okA := after[key]
	b, okB := before[key]
	switch {
	case !okA && !okB:
		return d, false, nil
	case !okA:
		return d, false, fmt.Errorf("%s: gone from the second scrape: %w", key, errCounterReset)
	case a.count < b.count || a.sum < b.sum:
		return d, false, fmt.Errorf("%s: count %d -> %d, sum %g -> %g: %w", key, b.count, a.count, b.sum, a.sum, errCounterReset)
	}
	return histTotals{sum: a.sum - b.sum, count: a.count - b.count}, true, nil
}

// measureBreakdown turns the window's two scrapes into the row's breakdown
// and says on stderr why any of it is n/a.
func (cr *clusterRun) measureBreakdown(r *row, before, after []nodeScrape) {
	r.breakdown = windowBreakdown(before, after)
	if r.BreakdownErrors != "" {
		cr.log.Warn("round-trip breakdown incomplete (n/a)", "kind", r.Kind, "partitions", r.Partitions, "target", r.Target, "errors", r.BreakdownErrors)
	}
}

// Markdown of the "where the time goes" table.
const breakdownHeader = "| run | produce request ms | local fsync wait ms | replicas wait ms | follower ack ms | follower copy ms | follower fsync ms | fsync pass ms | fsyncs/s/node |\n" +
	"|---|---|---|---|---|---|---|---|---|"

func (r row) breakdownLine() string {
	cells := []string{r.runLabel()}
	for _, v := range []*float64{r.ProduceRequestMs, r.LocalFsyncWaitMs, r.ReplicasWaitMs, r.FollowerAckMs,
		r.FollowerCopyMs, r.FollowerFsyncMs, r.FsyncPassMs} {
		cells = append(cells, msCell(v))
	}
	var perNode []string
	for _, v := range r.FsyncsPerSecByNode {
		if v == nil {
			perNode = append(perNode, "n/a")
		} else {
			perNode = append(perNode, fmt.Sprintf("%.0f", *v))
		}
	}
	if len(perNode) == 0 {
		perNode = []string{"n/a"}
	}
	cells = append(cells, strings.Join(perNode, " / "))
	return "| " + strings.Join(cells, " | ") + " |"
}

// runLabel names a run in the breakdown table.
func (r row) runLabel() string {
	s := fmt.Sprintf("%d node", r.Nodes)
	if r.Nodes != 1 {
		s += "s"
	}
	switch r.Kind {
	case kindLatency:
		s += fmt.Sprintf(", latency %s (%s rec/s)", r.Target, thousands(float64(r.TargetRate)))
	default:
		s += fmt.Sprintf(", %s", r.Kind)
	}
	s += fmt.Sprintf(", %d partitions", r.Partitions)
	if r.Producer != "defaults" {
		s += ", " + r.Producer
	}
	return s
}

func msCell(v *float64) string {
	switch {
	case v == nil:
		return "n/a"
	case *v < 10:
		return fmt.Sprintf("%.3f", *v)
	default:
		return fmt.Sprintf("%.1f", *v)
	}
}
