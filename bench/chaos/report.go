package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/chronik-dev/chronik/bench/internal/workload"
)

// stallLead is how long before a fault a record may have been sent and still
// count toward that fault's stall: it was in flight when the fault hit.
const stallLead = time.Second

// faultEnd is the end of a fault's window: healthy again, or the deadline.
func faultEnd(f *fault, settle time.Duration) time.Time {
	if !f.healthyAt.IsZero() {
		return f.healthyAt
	}
	return f.healed.Add(settle)
}

// stalls fills each fault's stall: the longest wait for an ack of a record
// sent from stallLead before the fault until the cluster was healthy again;
// and, for a fault that stopped every ack until its heal (a lost quorum),
// how long after the heal acks resumed.
func stalls(faults []*fault, outcomes []workload.Ack, settle time.Duration) {
	for _, f := range faults {
		from, to := f.start.Add(-stallLead), faultEnd(f, settle)
		var lastBeforeHeal, firstAfterHeal time.Time
		for _, a := range outcomes {
			if a.Err != "" {
				continue
			}
			if !a.Sent.Before(from) && a.Sent.Before(to) {
				f.stall = max(f.stall, a.Done.Sub(a.Sent))
			}
			switch {
			case a.Done.Before(f.healed):
				if a.Done.After(lastBeforeHeal) {
					lastBeforeHeal = a.Done
				}
			case firstAfterHeal.IsZero() || a.Done.Before(firstAfterHeal):
				firstAfterHeal = a.Done
			}
		}
		f.resumed = -1
		if !firstAfterHeal.IsZero() && f.healed.Sub(lastBeforeHeal) > resumeGap {
			f.resumed = firstAfterHeal.Sub(f.healed)
		}
	}
}

// resumeGap: no ack for this long before a heal means acks had stopped.
const resumeGap = time.Second

// interval is a span of the run, as offsets from its start.
type interval struct{ from, to time.Duration }

// stallTimeline merges the waits longer than threshold into intervals.
func stallTimeline(t0 time.Time, outcomes []workload.Ack, threshold time.Duration) []interval {
	var ivs []interval
	for _, a := range outcomes {
		if a.Err == "" && a.Done.Sub(a.Sent) > threshold {
			ivs = append(ivs, interval{a.Sent.Sub(t0), a.Done.Sub(t0)})
		}
	}
	slices.SortFunc(ivs, func(a, b interval) int { return int(a.from - b.from) })
	var out []interval
	for _, iv := range ivs {
		if n := len(out); n > 0 && iv.from <= out[n-1].to {
			out[n-1].to = max(out[n-1].to, iv.to)
			continue
		}
		out = append(out, iv)
	}
	return out
}

// latencies is the acknowledged records' wait for their acks.
func latencies(outcomes []workload.Ack) *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, (10 * time.Minute).Microseconds(), 3)
	for _, a := range outcomes {
		if a.Err == "" {
			_ = h.RecordValue(max(a.Done.Sub(a.Sent).Microseconds(), 1))
		}
	}
	return h
}

// percentile is the nearest-rank percentile of a few values.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// kindSummary is one fault kind's numbers in the JSON line.
type kindSummary struct {
	N            int       `json:"n"`
	StallMS      []float64 `json:"stall_ms"`
	StallP50MS   float64   `json:"stall_p50_ms"`
	StallP90MS   float64   `json:"stall_p90_ms"`
	StallMaxMS   float64   `json:"stall_max_ms"`
	RecoverMaxS  float64   `json:"recover_max_s"`              // heal to healthy
	ResumedMS    []float64 `json:"resumed_ms,omitempty"`       // heal to the first ack, where acks had stopped
	DoctorNamed  int       `json:"doctor_named"`               // probes that named the faulted node
	DoctorCause  int       `json:"doctor_cause"`               // probes whose causes named the fault's expected cause
	DoctorPart   int       `json:"doctor_partition,omitempty"` // kill-leader probes that named the partition
	DoctorProbes int       `json:"doctor_probes"`
	Unhealthy    int       `json:"unhealthy"`
	Errors       int       `json:"errors"`
}

// summary is the JSON line of one run.
type summary struct {
	Seed            uint64                `json:"seed"`
	Client          string                `json:"client"`
	OK              bool                  `json:"ok"`
	Error           string                `json:"error,omitempty"`
	ElapsedS        float64               `json:"elapsed_s"`
	Faults          int                   `json:"faults"`
	Sent            int64                 `json:"sent"`
	Acked           int                   `json:"acked"`
	Failed          int                   `json:"failed"`
	Unanswered      int                   `json:"unanswered"`
	Lost            int                   `json:"lost"`
	Moved           int                   `json:"moved"`
	Duplicated      int                   `json:"duplicated"`
	Reordered       int                   `json:"reordered"`
	Vanished        int                   `json:"vanished"`
	Malformed       int                   `json:"malformed"`
	ReplicaMismatch int                   `json:"replica_mismatches"`
	Unhealthy       int                   `json:"unhealthy"`
	FencedWhileUp   int                   `json:"fenced_while_up"`
	LatencyP50MS    float64               `json:"latency_p50_ms"`
	LatencyP99MS    float64               `json:"latency_p99_ms"`
	LatencyP999MS   float64               `json:"latency_p999_ms"`
	LatencyMaxMS    float64               `json:"latency_max_ms"`
	QuietProbes     int                   `json:"quiet_probes"` // doctor asked between faults
	FalseAlarms     int                   `json:"false_alarms"` // of those, answers with a warning or worse
	Kinds           map[kind]*kindSummary `json:"kinds"`
	Skipped         map[kind]string       `json:"skipped,omitempty"`
}

func (r *runResult) summarize(settle time.Duration) summary {
	v := r.verdict
	s := summary{
		Seed: r.seed, Client: string(r.client), OK: r.ok(), ElapsedS: r.elapsed.Seconds(), Faults: len(r.faults),
		Sent: r.sent, Acked: v.acked, Failed: v.failed, Unanswered: v.unanswered,
		Lost: v.lost, Moved: v.moved, Duplicated: v.duplicated, Reordered: v.reordered, Vanished: v.vanished,
		Malformed: v.malformed, ReplicaMismatch: v.replicas, Kinds: map[kind]*kindSummary{}, Skipped: r.skipped,
	}
	if r.err != nil {
		s.Error = r.err.Error()
	}
	s.QuietProbes = len(r.quietProbes)
	for _, q := range r.quietProbes {
		if q.exit != 0 {
			s.FalseAlarms++
		}
	}
	h := latencies(r.outcomes)
	us := func(v int64) float64 { return float64(v) / 1000 }
	s.LatencyP50MS, s.LatencyP99MS = us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(99))
	s.LatencyP999MS, s.LatencyMaxMS = us(h.ValueAtQuantile(99.9)), us(h.Max())
	byKind := map[kind][]time.Duration{}
	for _, f := range r.faults {
		k := s.Kinds[f.kind]
		if k == nil {
			k = &kindSummary{}
			s.Kinds[f.kind] = k
		}
		k.N++
		byKind[f.kind] = append(byKind[f.kind], f.stall)
		k.StallMS = append(k.StallMS, ms(f.stall))
		if f.resumed >= 0 {
			k.ResumedMS = append(k.ResumedMS, ms(f.resumed))
		}
		if f.healthyAt.IsZero() {
			k.Unhealthy++
			s.Unhealthy++
		} else {
			k.RecoverMaxS = max(k.RecoverMaxS, f.healthyAt.Sub(f.healed).Seconds())
		}
		if len(f.fencedUp) > 0 {
			s.FencedWhileUp++
		}
		if f.err != nil {
			k.Errors++
		}
		if f.doctor.ran {
			k.DoctorProbes++
			if f.doctor.namedNode {
				k.DoctorNamed++
			}
			if f.doctor.namedRule {
				k.DoctorCause++
			}
			if f.doctor.namedPart && f.kind == killLeader {
				k.DoctorPart++
			}
		}
	}
	for kd, ds := range byKind {
		k := s.Kinds[kd]
		k.StallP50MS, k.StallP90MS, k.StallMaxMS = ms(percentile(ds, .5)), ms(percentile(ds, .9)), ms(percentile(ds, 1))
	}
	return s
}

// report prints the run: faults, stall timeline, problems, JSON line.
func (r *runResult) report(w io.Writer, o options) {
	stalls(r.faults, r.outcomes, o.settle)
	t0 := r.start
	for i, f := range r.faults {
		line := fmt.Sprintf("  %2d  %7s  %-44s", i+1, since(t0, f.start), f.describe())
		switch {
		case f.healthyAt.IsZero():
			line += fmt.Sprintf("  NOT HEALTHY %s after heal: %s", o.settle, f.unhealthy)
		default:
			line += fmt.Sprintf("  healthy %.1fs after heal", f.healthyAt.Sub(f.healed).Seconds())
		}
		line += fmt.Sprintf("  stall %.2fs", f.stall.Seconds())
		if f.resumed >= 0 {
			line += fmt.Sprintf(" (acks resumed %.2fs after heal)", f.resumed.Seconds())
		}
		if f.doctor.ran {
			verdict := "missed the node"
			switch {
			case f.doctor.namedRule:
				verdict = "named the cause"
			case f.doctor.namedNode:
				verdict = "named the node"
			}
			codes := "causes " + strings.Join(f.doctor.causes, ",") + "; findings " + strings.Join(f.doctor.codes, ",")
			if f.doctor.err != "" {
				codes = f.doctor.err
			}
			line += fmt.Sprintf("  doctor@%.1fs %s [%s]", f.doctor.after.Seconds(), verdict, codes)
		}
		if len(f.fencedUp) > 0 {
			line += fmt.Sprintf("  FENCED WHILE UP: %s", joinIDs(f.fencedUp))
		}
		if f.err != nil {
			line += fmt.Sprintf("  ERROR: %v", f.err)
		}
		fmt.Fprintln(w, line)
	}
	if tl := stallTimeline(t0, r.outcomes, o.stallThreshold); len(tl) > 0 {
		fmt.Fprintf(w, "  stalls (a record waited over %s for its ack):\n", o.stallThreshold)
		for _, iv := range tl {
			fmt.Fprintf(w, "    %7.1fs - %7.1fs  (%.2fs)  %s\n", iv.from.Seconds(), iv.to.Seconds(), (iv.to - iv.from).Seconds(), activeFault(r.faults, t0, iv))
		}
	}
	for i, q := range r.quietProbes {
		if q.exit != 0 {
			what := strings.Join(q.codes, ",")
			if q.err != "" {
				what = q.err
			}
			fmt.Fprintf(w, "  FALSE ALARM: the doctor on the healthy cluster after fault %d: exit %d [%s]\n", i+1, q.exit, what)
		}
	}
	for k, why := range r.skipped {
		fmt.Fprintf(w, "  skipped %s: %s\n", k, why)
	}
	if r.err != nil {
		fmt.Fprintf(w, "  RUN ERROR: %v\n", r.err)
	}
	for _, e := range r.verdict.failures {
		n, first := 0, time.Time{}
		for _, a := range r.outcomes {
			if a.Err == e {
				n++
				if first.IsZero() || a.Done.Before(first) {
					first = a.Done
				}
			}
		}
		at := first.Sub(t0)
		fmt.Fprintf(w, "  FAILED RECORDS: %d at %.1fs (%s): %s\n", n, at.Seconds(), activeFault(r.faults, t0, interval{at, at}), e)
	}
	for _, e := range r.verdict.examples {
		fmt.Fprintf(w, "  VIOLATION: %s\n", e)
	}
	b, _ := json.Marshal(r.summarize(o.settle))
	fmt.Fprintln(w, string(b))
}

// activeFault names the fault whose window overlaps iv.
func activeFault(faults []*fault, t0 time.Time, iv interval) string {
	for i, f := range faults {
		from, to := f.start.Add(-stallLead).Sub(t0), f.healed.Sub(t0)+30*time.Second
		if !f.healthyAt.IsZero() {
			to = f.healthyAt.Sub(t0)
		}
		if iv.from < to && iv.to > from {
			return fmt.Sprintf("during fault %d (%s)", i+1, f.kind)
		}
	}
	return "no fault active"
}

// writeAggregate prints the per-kind stall percentiles over several runs
// and one JSON line with them.
func writeAggregate(w io.Writer, rs []*runResult) {
	byKind := map[kind][]time.Duration{}
	named, causes, probes := map[kind]int{}, map[kind]int{}, map[kind]int{}
	okRuns := 0
	var violations, records, quiet, alarms int
	for _, r := range rs {
		if r.ok() {
			okRuns++
		}
		v := r.verdict
		violations += v.lost + v.moved + v.duplicated + v.reordered + v.vanished + v.replicas
		records += v.acked
		for _, q := range r.quietProbes {
			quiet++
			if q.exit != 0 {
				alarms++
			}
		}
		for _, f := range r.faults {
			byKind[f.kind] = append(byKind[f.kind], f.stall)
			if f.doctor.ran {
				probes[f.kind]++
				if f.doctor.namedNode {
					named[f.kind]++
				}
				if f.doctor.namedRule {
					causes[f.kind]++
				}
			}
		}
	}
	fmt.Fprintf(w, "\n%d of %d runs passed; %d acknowledged records checked, %d violations; doctor on the healthy loaded cluster: %d false alarms in %d probes\n", okRuns, len(rs), records, violations, alarms, quiet)
	fmt.Fprintf(w, "  %-16s %4s %9s %9s %9s %9s  %s\n", "fault", "n", "p50", "p90", "p99", "max", "doctor named: node, cause")
	type agg struct {
		N                                int
		P50MS, P90MS, P99MS, MaxMS       float64
		DoctorNamed, DoctorCause, Probes int
	}
	out := map[kind]agg{}
	for _, k := range allKinds {
		ds := byKind[k]
		if len(ds) == 0 {
			continue
		}
		a := agg{len(ds), ms(percentile(ds, .5)), ms(percentile(ds, .9)), ms(percentile(ds, .99)), ms(percentile(ds, 1)), named[k], causes[k], probes[k]}
		out[k] = a
		fmt.Fprintf(w, "  %-16s %4d %8.0fms %8.0fms %8.0fms %8.0fms  %d/%d, %d/%d\n", k, a.N, a.P50MS, a.P90MS, a.P99MS, a.MaxMS, a.DoctorNamed, a.Probes, a.DoctorCause, a.Probes)
	}
	b, _ := json.Marshal(map[string]any{"runs": len(rs), "passed": okRuns, "acked": records, "violations": violations, "quiet_probes": quiet, "false_alarms": alarms, "stall_by_kind": out})
	fmt.Fprintln(w, string(b))
}
