package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// The tables of `chronik isr describe`, `chronik cluster status` and
// `chronik doctor`, printed from the reports package diagnose builds (-o
// json and yaml print those reports as they are).

func idList(xs []int32) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, ",")
}

func secondsCell(p *float64) string {
	if p == nil {
		return "never"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64) + "s ago"
}

func offsetCell(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

// RenderISRTable prints one row per partition; verbose adds one row per
// replica (LEO, lag, last caught up, last fetch, in ISR) under it, and,
// when some partition is compacted, a last CLEANER column with its
// cleaning (dirty ratio, last clean, bytes reclaimed) on its first row.
// Unreachable nodes are named on stderr by the caller.
func RenderISRTable(w io.Writer, rep diagnose.ISRReport, verbose bool, opts TableOptions) error {
	header := []string{"TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "HW", "MAX LAG", "STATUS"}
	cleaner := verbose && slices.ContainsFunc(rep.Partitions, func(r api.PartitionRow) bool { return r.Cleaner != nil })
	if verbose {
		header = append(header, "REPLICA", "LEO", "LAG", "CAUGHT UP", "LAST FETCH", "IN ISR")
	}
	if cleaner {
		header = append(header, "CLEANER")
	}
	t := NewTable(opts, header...)
	for _, r := range rep.Partitions {
		leader := strconv.Itoa(int(r.Leader))
		if r.Leader < 0 {
			leader = "none"
		} else if slices.Contains(r.Unreachable, r.Leader) {
			leader += " (unreachable)"
		}
		cells := []Cell{{Text: r.Topic}, {Text: strconv.Itoa(int(r.Partition))}, {Text: leader},
			{Text: strconv.Itoa(int(r.LeaderEpoch))}, {Text: r.ReplicasText()}, {Text: idList(r.ISR)},
			{Text: offsetCell(r.HighWatermark)}, {Text: strconv.FormatInt(r.MaxLag, 10)}, StatusCell(r.Status)}
		if !verbose {
			t.RowCells(cells...)
			continue
		}
		var clean []Cell // the CLEANER cell of the partition's first row, then of the others
		if cleaner {
			clean = []Cell{cleanerCell(r.Cleaner), {}}
		}
		if len(r.ReplicaStates) == 0 {
			row := append(cells, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"})
			if cleaner {
				row = append(row, clean[0])
			}
			t.RowCells(row...)
			continue
		}
		for i, rs := range r.ReplicaStates {
			row := cells
			if i > 0 {
				row = make([]Cell, len(cells))
				row[0], row[1] = cells[0], cells[1] // keep topic and partition so piped rows stand alone
			}
			inISR := "yes"
			if !rs.InISR {
				inISR = "no"
			}
			if rs.Lagging {
				inISR += " (lagging)"
			}
			if rs.Adding {
				inISR += " (adding: " + rs.CopyProgress() + ")"
			}
			caught := Cell{Text: secondsCell(rs.LastCaughtUpSeconds)}
			if slices.Contains(r.Stalled, rs.ID) {
				caught.Symbol, caught.Color = "⏸", diagnose.ColorYellow
				caught.Text += " STALLED"
			}
			line := append(slices.Clone(row), Cell{Text: strconv.Itoa(int(rs.ID))},
				Cell{Text: strconv.FormatInt(rs.LogEndOffset, 10)}, Cell{Text: strconv.FormatInt(rs.Lag, 10)},
				caught, Cell{Text: secondsCell(rs.LastFetchSeconds)}, Cell{Text: inISR})
			if cleaner {
				line = append(line, clean[min(i, 1)])
			}
			t.RowCells(line...)
		}
	}
	if t.Len() == 0 && opts.TTY {
		_, err := io.WriteString(w, "no partitions match\n")
		return err
	}
	return t.Render(w)
}

// cleanerCell is a partition's cleaning in isr describe -v: "-" when its
// topic is not compacted, an uncleanable one marked in yellow.
func cleanerCell(c *api.PartitionCleaner) Cell {
	if c == nil {
		return Cell{Text: "-"}
	}
	cell := Cell{Text: c.Summary()}
	if c.Uncleanable != "" {
		cell.Symbol, cell.Color = "▲", diagnose.ColorYellow
	}
	return cell
}

// RenderClusterStatus prints the brokers table and the summary lines.
func RenderClusterStatus(w io.Writer, cs diagnose.ClusterStatus, opts TableOptions) error {
	// RACK only when some broker has one: clusters without racks keep
	// their table.
	racks := slices.ContainsFunc(cs.Brokers, func(b diagnose.BrokerRow) bool { return b.Rack != "" })
	headers := []string{"BROKER", "STATE", "CONTROLLER", "RAFT", "KAFKA", "ADMIN", "LAST HEARTBEAT"}
	if racks {
		headers = slices.Insert(headers, 4, "RACK")
	}
	t := NewTable(opts, headers...)
	for _, b := range cs.Brokers {
		state := Cell{Text: b.State}
		switch b.State {
		case "up":
			state.Symbol, state.Color = "✓", diagnose.ColorGreen
		case "unreachable", "fenced":
			state.Symbol, state.Color = "✗", diagnose.ColorRed
		case "shut_down":
			state.Symbol, state.Color = "▲", diagnose.ColorYellow
		}
		ctl := ""
		if b.Controller {
			ctl = "yes"
		}
		hb := "-"
		if b.LastHeartbeatSeconds != nil {
			hb = secondsCell(b.LastHeartbeatSeconds)
		}
		cells := []Cell{{Text: strconv.Itoa(int(b.ID))}, state, {Text: ctl}, {Text: orDash(b.RaftRole)},
			{Text: b.KafkaAddr}, {Text: orDash(b.AdminAddr)}, {Text: hb}}
		if racks {
			cells = slices.Insert(cells, 4, Cell{Text: orDash(b.Rack)})
		}
		t.RowCells(cells...)
	}
	if err := t.Render(w); err != nil {
		return err
	}
	if !opts.TTY {
		return nil
	}
	var b strings.Builder
	if cs.Partial {
		var waiting []string
		for _, n := range cs.Unreachable {
			if n.Error == api.PendingError {
				who := n.Admin
				if n.NodeID >= 0 {
					who = "node " + strconv.Itoa(int(n.NodeID))
				}
				waiting = append(waiting, who)
			}
		}
		fmt.Fprintf(&b, "\nPARTIAL: waiting for %s; what they own is not known yet\n", strings.Join(waiting, ", "))
	}
	fmt.Fprintf(&b, "\ncontroller: %s\n", controllerText(cs.ControllerID))
	byHealth := api.Statuses()
	slices.Reverse(byHealth) // OK first, as people read a summary
	fmt.Fprintf(&b, "partitions: %s\n", countsText(cs.Partitions, byHealth))
	fmt.Fprintf(&b, "findings:   %s\n", countsText(cs.Findings, []string{api.SeverityCritical, api.SeverityWarning, api.SeverityInfo}))
	health := "HEALTHY"
	if !cs.Healthy {
		health = "NOT HEALTHY — run `chronik doctor` for what and why"
	}
	fmt.Fprintf(&b, "health:     %s\n", health)
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func controllerText(id int32) string {
	if id < 0 {
		return "none known"
	}
	return "node " + strconv.Itoa(int(id))
}

func countsText(m map[string]int, order []string) string {
	var parts []string
	for _, k := range order {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// RenderDoctor prints the causes first, each with its effects, one next
// step and the codes of the findings under it; verbose adds every finding
// with its evidence after them. Piped, one tab-separated row per cause
// (severity, code, where, message, next step); verbose adds a blank line
// and the finding rows.
func RenderDoctor(w io.Writer, rep diagnose.DoctorReport, verbose bool, opts TableOptions) error {
	if len(rep.Causes) == 0 {
		return RenderFindings(w, rep.Findings, opts)
	}
	if !opts.TTY {
		t := NewTable(opts)
		for _, c := range rep.Causes {
			t.Row(c.Severity, c.Code, diagnose.CauseWhere(c), c.Message, c.NextStep)
		}
		if err := t.Render(w); err != nil {
			return err
		}
		if !verbose {
			return nil
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
		return RenderFindings(w, rep.Findings, opts)
	}
	var b strings.Builder
	for i, c := range rep.Causes {
		if i > 0 {
			b.WriteByte('\n')
		}
		t := NewTable(opts)
		cells := []Cell{severityCell(c.Severity), {Text: c.Code}, {Text: diagnose.CauseWhere(c)}}
		if c.Started != "" {
			cells = append(cells, Cell{Text: "since " + c.Started})
		}
		t.RowCells(cells...)
		if err := t.Render(&b); err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %s\n", clean(c.Message))
		for _, e := range c.Effects {
			fmt.Fprintf(&b, "    · %s\n", clean(e))
		}
		fmt.Fprintf(&b, "  next: %s\n", clean(c.NextStep))
		fmt.Fprintf(&b, "  findings: %s\n", findingCounts(rep.Findings, c.Findings))
	}
	if verbose {
		fmt.Fprintf(&b, "\nFINDINGS (%d)\n\n", len(rep.Findings))
		if err := RenderFindings(&b, rep.Findings, opts); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(&b, "\n%d %s under %d %s; `chronik doctor -v` shows each with its evidence\n",
			len(rep.Findings), plural(len(rep.Findings), "finding", "findings"), len(rep.Causes), plural(len(rep.Causes), "cause", "causes"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// findingCounts lists the codes of the findings at idx, "AT_MIN_ISR ×3"
// for repeats, in the order they first appear.
func findingCounts(fs []api.Finding, idx []int) string {
	var codes []string
	n := map[string]int{}
	for _, i := range idx {
		if i < 0 || i >= len(fs) {
			continue
		}
		code := fs[i].Code
		if n[code] == 0 {
			codes = append(codes, code)
		}
		n[code]++
	}
	for i, c := range codes {
		if n[c] > 1 {
			codes[i] = fmt.Sprintf("%s ×%d", c, n[c])
		}
	}
	return strings.Join(codes, ", ")
}

// severityCell marks a severity like a status: symbol and colour.
func severityCell(severity string) Cell {
	c := Cell{Text: strings.ToUpper(severity)}
	switch severity {
	case api.SeverityCritical:
		c.Symbol, c.Color = "✗", diagnose.ColorRed
	case api.SeverityWarning:
		c.Symbol, c.Color = "▲", diagnose.ColorYellow
	}
	return c
}

// RenderFindings prints each finding: severity, code, where, what; on a
// terminal followed by its evidence and next step.
func RenderFindings(w io.Writer, fs []api.Finding, opts TableOptions) error {
	if len(fs) == 0 {
		if opts.TTY {
			_, err := io.WriteString(w, "✓ no findings: the cluster looks healthy\n")
			return err
		}
		return nil
	}
	if !opts.TTY {
		t := NewTable(opts)
		for _, f := range fs {
			t.Row(f.Severity, f.Code, f.Where(), f.Message, f.NextStep)
		}
		return t.Render(w)
	}
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('\n')
		}
		sev := severityCell(f.Severity)
		t := NewTable(opts)
		t.RowCells(sev, Cell{Text: f.Code}, Cell{Text: f.Where()})
		if err := t.Render(&b); err != nil {
			return err
		}
		fmt.Fprintf(&b, "  %s\n", clean(f.Message))
		if len(f.Evidence) > 0 {
			keys := make([]string, 0, len(f.Evidence))
			for k := range f.Evidence {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var ev []string
			for _, k := range keys {
				ev = append(ev, fmt.Sprintf("%s=%v", k, f.Evidence[k]))
			}
			fmt.Fprintf(&b, "  evidence: %s\n", clean(strings.Join(ev, " ")))
		}
		fmt.Fprintf(&b, "  next: %s\n", clean(f.NextStep))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderFindingsString is RenderFindings as plain text, for logs and test
// failures.
func RenderFindingsString(fs []api.Finding) string {
	var b strings.Builder
	_ = RenderFindings(&b, fs, TableOptions{TTY: true})
	return b.String()
}
