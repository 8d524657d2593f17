package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Row kinds.
const (
	kindMax     = "max"     // closed-loop maximum on --partitions
	kindLatency = "latency" // open loop at a fixed rate
	kindSweep   = "sweep"   // closed-loop maximum per partition count
)

// row is one measurement; JSON is its machine-readable form.
type row struct {
	Kind       string  `json:"kind"`
	Nodes      int     `json:"nodes"`
	RF         int     `json:"replication_factor"`
	MinISR     int     `json:"min_insync_replicas"`
	Partitions int     `json:"partitions"`
	Producer   string  `json:"producer"` // "defaults" or the tuned options
	RecordSize int     `json:"record_size"`
	Seconds    float64 `json:"seconds"` // measured window
	Load1      float64 `json:"load1"`   // 1-minute load average when the run began

	// max and sweep
	MBPerSec           float64 `json:"mb_per_s,omitempty"` // 10^6 bytes acknowledged per second
	RecordsPerSec      float64 `json:"records_per_s,omitempty"`
	NodeCPUMsPerMB     float64 `json:"node_cpu_ms_per_mb,omitempty"`
	NodeCores          float64 `json:"node_cores,omitempty"` // node CPU seconds per second
	ProducerCPUMsPerMB float64 `json:"producer_cpu_ms_per_mb,omitempty"`
	ProducerCores      float64 `json:"producer_cores,omitempty"`
	SameRunAs          string  `json:"same_run_as,omitempty"` // a sweep row taken from the max run

	// latency
	Target     string  `json:"target,omitempty"` // "50% of max" or "absolute"
	TargetRate int64   `json:"target_records_per_s,omitempty"`
	Achieved   float64 `json:"achieved_records_per_s,omitempty"`
	Measured   int64   `json:"latency_records,omitempty"` // records in the histogram
	P50Ms      float64 `json:"p50_ms,omitempty"`
	P90Ms      float64 `json:"p90_ms,omitempty"`
	P99Ms      float64 `json:"p99_ms,omitempty"`
	P999Ms     float64 `json:"p999_ms,omitempty"`
	MaxMs      float64 `json:"max_ms,omitempty"`
	Saturated  bool    `json:"saturated,omitempty"`

	Errors   int64  `json:"errors"` // failed records, warm-up included
	FirstErr string `json:"first_error,omitempty"`

	// every run: where the round trip's time went (its fields inline)
	breakdown
}

func (r row) rf() string { return fmt.Sprintf("%d / %d", r.RF, r.MinISR) }

func (r row) errorsCol() string {
	if r.Errors == 0 {
		return "0"
	}
	return fmt.Sprintf("**%d** (%s)", r.Errors, strings.ReplaceAll(r.FirstErr, "|", "/"))
}

const throughputHeader = "| nodes | RF / min ISR | partitions | producer | MB/s | records/s | node CPU ms/MB | node cores | producer CPU ms/MB | producer cores | errors | load |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|"

func (r row) throughputLine() string {
	p := r.Producer
	if r.SameRunAs != "" {
		p += " (" + r.SameRunAs + ")"
	}
	return fmt.Sprintf("| %d | %s | %d | %s | %.1f | %s | %.2f | %.2f | %.2f | %.2f | %s | %.1f |",
		r.Nodes, r.rf(), r.Partitions, p, r.MBPerSec, thousands(r.RecordsPerSec),
		r.NodeCPUMsPerMB, r.NodeCores, r.ProducerCPUMsPerMB, r.ProducerCores, r.errorsCol(), r.Load1)
}

const latencyHeader = "| nodes | RF / min ISR | partitions | producer | target | target rec/s | achieved rec/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | records | errors | load |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

func (r row) latencyLine() string {
	achieved := thousands(r.Achieved)
	if r.Saturated {
		achieved += " **saturated**"
	}
	return fmt.Sprintf("| %d | %s | %d | %s | %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s | %.1f |",
		r.Nodes, r.rf(), r.Partitions, r.Producer, r.Target, thousands(float64(r.TargetRate)), achieved,
		r.P50Ms, r.P90Ms, r.P99Ms, r.P999Ms, r.MaxMs, thousands(float64(r.Measured)), r.errorsCol(), r.Load1)
}

// thousands formats a non-negative count with thousands separators.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// report receives the rows as they are measured: as JSON lines at once, or
// kept for the markdown tables printed at the end.
type report struct {
	w    io.Writer
	json bool
	rows []row
}

func (rp *report) add(r row) error {
	rp.rows = append(rp.rows, r)
	if rp.json {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode row: %w", err)
		}
		_, err = fmt.Fprintf(rp.w, "%s\n", b)
		return err
	}
	return nil
}

// errors sums the rows' producer errors, each run once.
func (rp *report) errors() int64 {
	var n int64
	for _, r := range rp.rows {
		if r.SameRunAs == "" {
			n += r.Errors
		}
	}
	return n
}

// tables prints the markdown tables of the rows so far (nothing in JSON
// mode, which printed them already).
func (rp *report) tables(header string) {
	if rp.json {
		return
	}
	fmt.Fprintln(rp.w, header)
	sections := []struct {
		kind, title, head string
		line              func(row) string
	}{
		{kindMax, "Max throughput (closed loop)", throughputHeader, row.throughputLine},
		{kindLatency, "Open-loop latency (from each record's intended send time to its acknowledgement)", latencyHeader, row.latencyLine},
		{kindSweep, "Throughput vs partitions (closed loop)", throughputHeader, row.throughputLine},
	}
	for _, s := range sections {
		var lines []string
		for _, r := range rp.rows {
			if r.Kind == s.kind {
				lines = append(lines, s.line(r))
			}
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(rp.w, "\n%s\n\n%s\n%s\n", s.title, s.head, strings.Join(lines, "\n"))
	}
	var lines []string
	for _, r := range rp.rows {
		if r.SameRunAs == "" { // one line per run
			lines = append(lines, r.breakdownLine())
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(rp.w, "\nWhere the time goes (broker histograms: mean over the measured window, all nodes; n/a: not exported, not observed, or unreadable)\n\n%s\n%s\n",
			breakdownHeader, strings.Join(lines, "\n"))
	}
}

func msOfUs(us int64) float64 { return float64(us) / 1000 }
