package admin

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The reports of `chronik isr describe`, `chronik cluster status` and
// `chronik doctor`: built from a ClusterView, printed as tables or as JSON
// and YAML of these types.

// NodeRef names a node that did not answer.
type NodeRef struct {
	Admin  string `json:"admin"`
	NodeID int32  `json:"node_id"` // -1 when unknown
	Error  string `json:"error"`
}

func unreachable(v ClusterView) []NodeRef {
	out := []NodeRef{}
	for _, n := range v.Nodes {
		if !n.Reachable() {
			out = append(out, NodeRef{Admin: n.Admin, NodeID: n.NodeID, Error: n.Error})
		}
	}
	return out
}

// ISRFilter selects partitions for `isr describe`; set conditions are ORed,
// no condition selects all. Topics, when set, restricts to those topics.
type ISRFilter struct {
	Topics          []string
	Node            int32 // > 0: only partitions with a replica on this node
	UnderReplicated bool  // |ISR| < |replicas|
	UnderMinISR     bool  // |ISR| < min.insync.replicas
	AtMinISR        bool  // |ISR| == min.insync.replicas
	Unavailable     bool  // no leader, or the leader did not answer
	Stalled         bool  // a replica not caught up for longer than the lag time
}

func (f ISRFilter) any() bool {
	return f.UnderReplicated || f.UnderMinISR || f.AtMinISR || f.Unavailable || f.Stalled
}

// Match reports whether a row passes the filter.
func (f ISRFilter) Match(r PartitionRow) bool {
	if len(f.Topics) > 0 && !slices.Contains(f.Topics, r.Topic) {
		return false
	}
	if f.Node > 0 && !slices.Contains(r.Replicas, f.Node) {
		return false
	}
	if !f.any() {
		return true
	}
	leaderDown := r.Leader < 0 || slices.Contains(r.Unreachable, r.Leader)
	return f.UnderReplicated && len(r.ISR) < len(r.Replicas) ||
		f.UnderMinISR && len(r.ISR) < r.MinISR ||
		f.AtMinISR && len(r.ISR) == r.MinISR ||
		f.Unavailable && leaderDown ||
		f.Stalled && len(r.Stalled) > 0
}

// ISRReport is `isr describe`'s -o json|yaml output.
type ISRReport struct {
	Partitions  []PartitionRow `json:"partitions"`
	Unreachable []NodeRef      `json:"unreachable_nodes"`
}

// BuildISRReport merges the cluster view and applies the filter.
func BuildISRReport(v ClusterView, f ISRFilter) ISRReport {
	rep := ISRReport{Partitions: []PartitionRow{}, Unreachable: unreachable(v)}
	for _, r := range MergePartitions(v) {
		if f.Match(r) {
			rep.Partitions = append(rep.Partitions, r)
		}
	}
	return rep
}

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
// replica (LEO, lag, last caught up, last fetch, in ISR) under it.
// Unreachable nodes are named on stderr by the caller.
func RenderISRTable(w io.Writer, rep ISRReport, verbose bool, opts TableOptions) error {
	header := []string{"TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "HW", "MAX LAG", "STATUS"}
	if verbose {
		header = append(header, "REPLICA", "LEO", "LAG", "CAUGHT UP", "LAST FETCH", "IN ISR")
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
			{Text: strconv.Itoa(int(r.LeaderEpoch))}, {Text: idList(r.Replicas)}, {Text: idList(r.ISR)},
			{Text: offsetCell(r.HighWatermark)}, {Text: strconv.FormatInt(r.MaxLag, 10)}, StatusCell(r.Status)}
		if !verbose {
			t.RowCells(cells...)
			continue
		}
		if len(r.ReplicaStates) == 0 {
			t.RowCells(append(cells, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"}, Cell{Text: "-"})...)
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
			caught := Cell{Text: secondsCell(rs.LastCaughtUpSeconds)}
			if slices.Contains(r.Stalled, rs.ID) {
				caught.Symbol, caught.Color = "⏸", ColorYellow
				caught.Text += " STALLED"
			}
			t.RowCells(append(slices.Clone(row), Cell{Text: strconv.Itoa(int(rs.ID))},
				Cell{Text: strconv.FormatInt(rs.LogEndOffset, 10)}, Cell{Text: strconv.FormatInt(rs.Lag, 10)},
				caught, Cell{Text: secondsCell(rs.LastFetchSeconds)}, Cell{Text: inISR})...)
		}
	}
	if t.Len() == 0 && opts.TTY {
		_, err := io.WriteString(w, "no partitions match\n")
		return err
	}
	return t.Render(w)
}

// BrokerRow is one broker in `cluster status`.
type BrokerRow struct {
	ID         int32  `json:"id"`
	KafkaAddr  string `json:"kafka_addr"`
	AdminAddr  string `json:"admin_addr"`
	State      string `json:"state"` // up, fenced, shut_down, unreachable
	Controller bool   `json:"controller"`
	// LastHeartbeatSeconds as the controller reports it.
	LastHeartbeatSeconds *float64 `json:"last_heartbeat_seconds"`
	RaftRole             string   `json:"raft_role,omitempty"`
}

// ClusterStatus is `cluster status`'s report.
type ClusterStatus struct {
	ControllerID int32          `json:"controller_id"` // -1: none known
	Brokers      []BrokerRow    `json:"brokers"`
	Partitions   map[string]int `json:"partitions"` // count by status
	Findings     map[string]int `json:"findings"`   // count by severity
	Healthy      bool           `json:"healthy"`    // no warning or critical finding
	Unreachable  []NodeRef      `json:"unreachable_nodes"`
}

// BuildClusterStatus summarizes the view: brokers (from the controller's
// list when it answered), partitions by status, findings by severity.
func BuildClusterStatus(v ClusterView, findings []Finding) ClusterStatus {
	cs := ClusterStatus{ControllerID: NoController, Brokers: []BrokerRow{}, Partitions: map[string]int{},
		Findings: map[string]int{}, Unreachable: unreachable(v)}
	list := v.BrokerList()
	reachable := map[int32]NodeView{}
	for _, n := range v.Nodes {
		if n.NodeID >= 0 {
			reachable[n.NodeID] = n
		}
	}
	if list != nil {
		cs.ControllerID = list.ControllerID
		for _, b := range list.Brokers {
			row := BrokerRow{ID: b.ID, KafkaAddr: b.KafkaAddr, AdminAddr: b.AdminAddr, State: "up",
				Controller: b.Controller, LastHeartbeatSeconds: b.LastHeartbeatSeconds}
			switch {
			case b.ShutDown:
				row.State = "shut_down"
			case b.Fenced:
				row.State = "fenced"
			}
			if n, ok := reachable[b.ID]; ok {
				if !n.Reachable() {
					row.State = "unreachable"
				} else if n.Raft != nil {
					row.RaftRole = n.Raft.Role
				}
			}
			cs.Brokers = append(cs.Brokers, row)
		}
	}
	for _, r := range MergePartitions(v) {
		cs.Partitions[r.Status]++
	}
	for _, f := range findings {
		cs.Findings[f.Severity]++
	}
	cs.Healthy = ExitCode(findings) == 0
	return cs
}

// RenderClusterStatus prints the brokers table and the summary lines.
func RenderClusterStatus(w io.Writer, cs ClusterStatus, opts TableOptions) error {
	t := NewTable(opts, "BROKER", "STATE", "CONTROLLER", "RAFT", "KAFKA", "ADMIN", "LAST HEARTBEAT")
	for _, b := range cs.Brokers {
		state := Cell{Text: b.State}
		switch b.State {
		case "up":
			state.Symbol, state.Color = "✓", ColorGreen
		case "unreachable", "fenced":
			state.Symbol, state.Color = "✗", ColorRed
		case "shut_down":
			state.Symbol, state.Color = "▲", ColorYellow
		}
		ctl := ""
		if b.Controller {
			ctl = "yes"
		}
		hb := "-"
		if b.LastHeartbeatSeconds != nil {
			hb = secondsCell(b.LastHeartbeatSeconds)
		}
		t.RowCells(Cell{Text: strconv.Itoa(int(b.ID))}, state, Cell{Text: ctl}, Cell{Text: orDash(b.RaftRole)},
			Cell{Text: b.KafkaAddr}, Cell{Text: orDash(b.AdminAddr)}, Cell{Text: hb})
	}
	if err := t.Render(w); err != nil {
		return err
	}
	if !opts.TTY {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ncontroller: %s\n", controllerText(cs.ControllerID))
	fmt.Fprintf(&b, "partitions: %s\n", countsText(cs.Partitions, []string{StatusOK, StatusUnderReplicated, StatusAtMinISR,
		StatusStalled, StatusUnderMinISR, StatusISRUninitialized, StatusOffline}))
	fmt.Fprintf(&b, "findings:   %s\n", countsText(cs.Findings, []string{SeverityCritical, SeverityWarning, SeverityInfo}))
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

// DoctorReport is `doctor`'s -o json|yaml output.
type DoctorReport struct {
	Findings    []Finding `json:"findings"`
	ExitCode    int       `json:"exit_code"` // 0 healthy, 3 warnings, 4 critical
	Unreachable []NodeRef `json:"unreachable_nodes"`
}

// BuildDoctorReport runs every rule over the view.
func BuildDoctorReport(v ClusterView) DoctorReport {
	fs := Diagnose(v)
	if fs == nil {
		fs = []Finding{}
	}
	return DoctorReport{Findings: fs, ExitCode: ExitCode(fs), Unreachable: unreachable(v)}
}

// RenderFindings prints each finding: severity, code, where, what; on a
// terminal followed by its evidence and next step.
func RenderFindings(w io.Writer, fs []Finding, opts TableOptions) error {
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
		sev := Cell{Text: strings.ToUpper(f.Severity)}
		switch f.Severity {
		case SeverityCritical:
			sev.Symbol, sev.Color = "✗", ColorRed
		case SeverityWarning:
			sev.Symbol, sev.Color = "▲", ColorYellow
		}
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

// Where names what a finding is about: "topic-partition", "node N",
// both, or "cluster".
func (f Finding) Where() string {
	var parts []string
	if f.Topic != "" {
		p := f.Topic
		if f.Partition != nil {
			p += "-" + strconv.Itoa(int(*f.Partition))
		}
		parts = append(parts, p)
	}
	if f.Node != nil {
		parts = append(parts, "node "+strconv.Itoa(int(*f.Node)))
	}
	if len(parts) == 0 {
		return "cluster"
	}
	return strings.Join(parts, " ")
}

// RenderFindingsString is RenderFindings as plain text, for logs and test
// failures.
func RenderFindingsString(fs []Finding) string {
	var b strings.Builder
	_ = RenderFindings(&b, fs, TableOptions{TTY: true})
	return b.String()
}
