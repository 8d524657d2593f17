package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hist writes one histogram series in the text format, as client_golang
// does: buckets, _sum, _count.
func hist(name, labels string, sum float64, count uint64) string {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s_bucket{%s%sle=\"0.001\"} %d\n", name, labels, sep, count/2)
	fmt.Fprintf(&b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, count)
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(&b, "%s_sum%s %g\n%s_count%s %d\n", name, labels, sum, name, labels, count)
	return b.String()
}

func family(name string, series ...string) string {
	return fmt.Sprintf("# HELP %s test\n# TYPE %s histogram\n%s", name, name, strings.Join(series, ""))
}

const (
	reqDur   = "chronik_kafka_request_duration_seconds"
	waitDur  = "chronik_produce_wait_seconds"
	ackDur   = "chronik_replica_follower_ack_seconds"
	applyDur = "chronik_follower_apply_seconds"
)

// exposition is a node's /metrics with every breakdown series, each given
// as sum and count, plus series that must not be mistaken for them.
func exposition(produce, fetch, local, replicas, ack, copy, fsync, pass histTotals) string {
	return strings.Join([]string{
		"# HELP chronik_kafka_requests_total x\n# TYPE chronik_kafka_requests_total counter\nchronik_kafka_requests_total{api=\"Produce\"} 12345\n",
		family(reqDur,
			hist(reqDur, `api="Produce"`, produce.sum, produce.count),
			hist(reqDur, `api="Fetch"`, fetch.sum, fetch.count),
			hist(reqDur, `api="Metadata"`, 99, 99)),
		family(waitDur,
			hist(waitDur, `stage="local_fsync"`, local.sum, local.count),
			hist(waitDur, `stage="replicas"`, replicas.sum, replicas.count)),
		family(ackDur, hist(ackDur, "", ack.sum, ack.count)),
		family(applyDur,
			hist(applyDur, `stage="copy"`, copy.sum, copy.count),
			hist(applyDur, `stage="fsync"`, fsync.sum, fsync.count)),
		family(fsyncHistogram, hist(fsyncHistogram, "", pass.sum, pass.count)),
		"# TYPE go_goroutines gauge\ngo_goroutines 42\n",
	}, "")
}

func parse(t *testing.T, text string) map[string]histTotals {
	t.Helper()
	h, err := parseHistograms(strings.NewReader(text), breakdownSeries())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseHistograms(t *testing.T) {
	text := exposition(histTotals{1.5, 10}, histTotals{2, 4}, histTotals{0.25, 10}, histTotals{0.5, 10},
		histTotals{0.125, 3}, histTotals{0.01, 7}, histTotals{0.02, 7}, histTotals{0.3, 60})
	h := parse(t, text)
	want := map[string]histTotals{
		`chronik_kafka_request_duration_seconds{api="Produce"}`: {1.5, 10},
		`chronik_kafka_request_duration_seconds{api="Fetch"}`:   {2, 4},
		// Parsed (same family) but never asked for by the breakdown.
		`chronik_kafka_request_duration_seconds{api="Metadata"}`: {99, 99},
		`chronik_produce_wait_seconds{stage="local_fsync"}`:      {0.25, 10},
		`chronik_produce_wait_seconds{stage="replicas"}`:         {0.5, 10},
		`chronik_replica_follower_ack_seconds{}`:                 {0.125, 3},
		`chronik_follower_apply_seconds{stage="copy"}`:           {0.01, 7},
		`chronik_follower_apply_seconds{stage="fsync"}`:          {0.02, 7},
		`chronik_log_fsync_duration_seconds{}`:                   {0.3, 60},
	}
	if len(h) != len(want) {
		t.Fatalf("parsed %v, want %v", h, want)
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s: %+v, want %+v", k, h[k], v)
		}
	}
	for _, s := range breakdownSeries() {
		if _, ok := h[s.key()]; !ok {
			t.Errorf("series %s not found by its key", s.key())
		}
	}

	// A series with a further label is another series, not the one meant;
	// a counter of a wanted name is not a histogram.
	h = parse(t, family(reqDur, hist(reqDur, `api="Produce",listener="internal"`, 1, 1))+
		"# TYPE chronik_replica_follower_ack_seconds counter\nchronik_replica_follower_ack_seconds 5\n")
	if _, ok := h[seriesKey(reqDur, map[string]string{"api": "Produce"})]; ok || len(h) != 1 {
		t.Errorf("extra label or counter matched: %v", h)
	}

	// An older binary: none of the replication series.
	h = parse(t, family(reqDur, hist(reqDur, `api="Produce"`, 1, 2)))
	if len(h) != 1 {
		t.Errorf("old binary: %v", h)
	}

	for _, bad := range []string{
		"chronik_log_fsync_duration_seconds_count{ 3\n",
		"# TYPE x histogram\nx_count abc\n",
	} {
		if _, err := parseHistograms(strings.NewReader(bad), breakdownSeries()); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func near(v *float64, want float64) bool {
	return v != nil && math.Abs(*v-want) < 1e-9*math.Max(1, want)
}

func TestWindowBreakdown(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t1 := t0.Add(2 * time.Second)
	zero := histTotals{}
	// Node 1 leads: produce requests and fsync waits. Node 2 follows:
	// fetches, copies and fsyncs; no produce series moved there.
	n1a := parse(t, exposition(histTotals{1, 100}, histTotals{10, 20}, histTotals{0.2, 100}, histTotals{0.3, 100},
		histTotals{0.5, 100}, zero, zero, histTotals{0.4, 200}))
	n1b := parse(t, exposition(histTotals{2.5, 400}, histTotals{11, 30}, histTotals{0.8, 400}, histTotals{1.2, 400},
		histTotals{1.1, 250}, zero, zero, histTotals{0.7, 300}))
	n2a := parse(t, exposition(histTotals{0, 0}, histTotals{5, 10}, zero, zero, zero,
		histTotals{0.01, 10}, histTotals{0.04, 10}, histTotals{0.1, 50}))
	n2b := parse(t, exposition(histTotals{0, 0}, histTotals{6, 20}, zero, zero, zero,
		histTotals{0.03, 30}, histTotals{0.1, 30}, histTotals{0.2, 90}))
	before := []nodeScrape{{node: 1, at: t0, hists: n1a}, {node: 2, at: t0, hists: n2a}}
	after := []nodeScrape{{node: 1, at: t1, hists: n1b}, {node: 2, at: t1, hists: n2b}}
	b := windowBreakdown(before, after)
	if b.BreakdownErrors != "" {
		t.Fatalf("errors %q", b.BreakdownErrors)
	}
	checks := []struct {
		name string
		v    *float64
		want float64
	}{
		{"produce", b.ProduceRequestMs, 1.5 / 300 * 1000},    // node 2 added nothing
		{"fetch", b.FetchRequestMs, (1.0 + 1.0) / 20 * 1000}, // summed over nodes
		{"local fsync", b.LocalFsyncWaitMs, 0.6 / 300 * 1000},
		{"replicas", b.ReplicasWaitMs, 0.9 / 300 * 1000},
		{"follower ack", b.FollowerAckMs, 0.6 / 150 * 1000},
		{"follower copy", b.FollowerCopyMs, 0.02 / 20 * 1000},
		{"follower fsync", b.FollowerFsyncMs, 0.06 / 20 * 1000},
		{"fsync pass", b.FsyncPassMs, 0.4 / 140 * 1000},
	}
	for _, c := range checks {
		if !near(c.v, c.want) {
			t.Errorf("%s: %v, want %g", c.name, deref(c.v), c.want)
		}
	}
	if len(b.FsyncsPerSecByNode) != 2 || !near(b.FsyncsPerSecByNode[0], 50) || !near(b.FsyncsPerSecByNode[1], 20) {
		t.Errorf("fsyncs/s by node %v, want 50 and 20", derefs(b.FsyncsPerSecByNode))
	}

	// Nothing observed in the window (one node: no follower): n/a, not 0.
	one := windowBreakdown(before[:1], after[:1])
	if one.FollowerCopyMs != nil || one.FollowerFsyncMs != nil || one.BreakdownErrors != "" || !near(one.ProduceRequestMs, 5) {
		t.Errorf("single node: %+v", one)
	}

	// An older binary: only the request and fsync histograms exist.
	old := func(p, pass histTotals) map[string]histTotals {
		return parse(t, family(reqDur, hist(reqDur, `api="Produce"`, p.sum, p.count))+family(fsyncHistogram, hist(fsyncHistogram, "", pass.sum, pass.count)))
	}
	ob := windowBreakdown([]nodeScrape{{node: 1, at: t0, hists: old(histTotals{1, 10}, histTotals{1, 10})}},
		[]nodeScrape{{node: 1, at: t1, hists: old(histTotals{2, 20}, histTotals{1.5, 20})}})
	if ob.BreakdownErrors != "" || !near(ob.ProduceRequestMs, 100) || !near(ob.FsyncPassMs, 50) || ob.LocalFsyncWaitMs != nil ||
		ob.ReplicasWaitMs != nil || ob.FollowerAckMs != nil || ob.FetchRequestMs != nil || !near(ob.FsyncsPerSecByNode[0], 5) {
		t.Errorf("old binary: %+v", ob)
	}

	// A series created during the window counts from 0.
	late := windowBreakdown([]nodeScrape{{node: 1, at: t0, hists: map[string]histTotals{}}},
		[]nodeScrape{{node: 1, at: t1, hists: old(histTotals{0.03, 3}, histTotals{0, 0})}})
	if !near(late.ProduceRequestMs, 10) || late.FsyncPassMs != nil || !near(late.FsyncsPerSecByNode[0], 0) {
		t.Errorf("created in the window: %+v", late)
	}

	// A counter reset (a restarted node): that series is n/a and said why,
	// the others still count.
	resetAfter := parse(t, exposition(histTotals{0.1, 5}, histTotals{11, 30}, histTotals{0.8, 400}, histTotals{1.2, 400},
		histTotals{1.1, 250}, zero, zero, histTotals{0.05, 3}))
	rb := windowBreakdown(before[:1], []nodeScrape{{node: 1, at: t1, hists: resetAfter}})
	if rb.ProduceRequestMs != nil || rb.FsyncPassMs != nil || rb.FsyncsPerSecByNode[0] != nil || !near(rb.LocalFsyncWaitMs, 2) ||
		!strings.Contains(rb.BreakdownErrors, "node 1") || !strings.Contains(rb.BreakdownErrors, "counter reset") {
		t.Errorf("reset: %+v (%q)", rb, rb.BreakdownErrors)
	}
	gone := windowBreakdown(before[:1], []nodeScrape{{node: 1, at: t1, hists: map[string]histTotals{}}})
	if gone.ProduceRequestMs != nil || !strings.Contains(gone.BreakdownErrors, "gone") {
		t.Errorf("series gone: %+v", gone)
	}

	// A node that could not be read: every mean n/a (a sum without it
	// would be a different quantity), its fsync rate n/a, the error kept.
	failed := []nodeScrape{after[0], {node: 2, at: t1, err: fmt.Errorf("connection refused")}}
	fb := windowBreakdown(before, failed)
	for _, v := range []*float64{fb.ProduceRequestMs, fb.FetchRequestMs, fb.LocalFsyncWaitMs, fb.ReplicasWaitMs,
		fb.FollowerAckMs, fb.FollowerCopyMs, fb.FollowerFsyncMs, fb.FsyncPassMs} {
		if v != nil {
			t.Errorf("a mean with node 2 unreadable: %+v", fb)
			break
		}
	}
	if !near(fb.FsyncsPerSecByNode[0], 50) || fb.FsyncsPerSecByNode[1] != nil || !strings.Contains(fb.BreakdownErrors, "node 2: connection refused") {
		t.Errorf("unreadable node: %v %q", derefs(fb.FsyncsPerSecByNode), fb.BreakdownErrors)
	}
	if nb := windowBreakdown(nil, after); nb.ProduceRequestMs != nil || nb.BreakdownErrors == "" {
		t.Errorf("no first scrape: %+v", nb)
	}

	// The table: n/a cells, per-node fsync rates, one line per run.
	var out strings.Builder
	rp := &report{w: &out}
	_ = rp.add(row{Kind: kindMax, Nodes: 2, Partitions: 6, Producer: "defaults", breakdown: fb})
	_ = rp.add(row{Kind: kindLatency, Nodes: 2, Partitions: 6, Producer: "TUNED linger 0s", Target: "50% of max", TargetRate: 5000, breakdown: b})
	_ = rp.add(row{Kind: kindSweep, Nodes: 2, Partitions: 6, SameRunAs: "the max run above", breakdown: fb})
	rp.tables("setup")
	text := out.String()
	for _, want := range []string{
		"Where the time goes",
		breakdownHeader,
		"| 2 nodes, max, 6 partitions | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 50 / n/a |",
		"| 2 nodes, latency 50% of max (5,000 rec/s), 6 partitions, TUNED linger 0s | 5.000 | 2.000 | 3.000 | 4.000 | 1.000 | 3.000 | 2.857 | 50 / 20 |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in\n%s", want, text)
		}
	}
	if n := strings.Count(text, "| 2 nodes,"); n != 2 {
		t.Errorf("%d breakdown lines, want 2 (the reused sweep row is the max run)\n%s", n, text)
	}
}

func deref(v *float64) any {
	if v == nil {
		return "n/a"
	}
	return *v
}

func derefs(vs []*float64) []any {
	var out []any
	for _, v := range vs {
		out = append(out, deref(v))
	}
	return out
}

func TestScrapeMetrics(t *testing.T) {
	body := exposition(histTotals{1, 2}, histTotals{}, histTotals{}, histTotals{}, histTotals{}, histTotals{}, histTotals{}, histTotals{0.5, 5})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprint(w, body)
		default:
			http.Error(w, "no such page", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	h, err := scrapeMetrics(ctx, srv.Client(), addr, breakdownSeries())
	if err != nil || h[seriesKey(fsyncHistogram, nil)] != (histTotals{0.5, 5}) {
		t.Fatalf("%v %v", h, err)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	defer bad.Close()
	if _, err := scrapeMetrics(ctx, bad.Client(), strings.TrimPrefix(bad.URL, "http://"), breakdownSeries()); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Errorf("401 answer: %v", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := strings.TrimPrefix(closed.URL, "http://")
	closed.Close()
	if _, err := scrapeMetrics(ctx, http.DefaultClient, closedAddr, breakdownSeries()); err == nil {
		t.Error("a closed port scraped")
	}
}
