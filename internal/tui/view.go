package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// The screen: a breadcrumb and status line, the view tabs, the body of the
// current view, a message line (filter, confirmation, results) and the key
// help. View returns it as one string of exactly the window's height, no
// line wider than the window, so every frame replaces the last in place.

// The smallest window worth drawing into.
const (
	minWidth  = 40
	minHeight = 10
	// chromeLines are the lines around the body: two above, two below.
	chromeLines = 4
	// slowSnapshot: a snapshot that took longer has its time shown (a node
	// that does not answer costs the request timeout).
	slowSnapshot = 300 * time.Millisecond
)

func (m *Model) size() (int, int) {
	w, h := m.width, m.height
	if w <= 0 {
		w = 80
	}
	if h <= 0 {
		h = 24
	}
	return w, h
}

func (m *Model) bodyHeight() int {
	_, h := m.size()
	return max(0, h-chromeLines)
}

// listHeight is how many data rows the partitions table shows (one body
// line is its header).
func (m *Model) listHeight() int { return max(1, m.bodyHeight()-1) }

// nodeListHeight is the rows of the node table: the overview keeps room
// for its summary, the raft view shares its body with the peer table.
func (m *Model) nodeListHeight() int {
	if m.view == viewRaft {
		return max(1, (m.bodyHeight()-3)/2)
	}
	return max(1, m.bodyHeight()-8)
}

// maxCauseLines bounds the causes listed above the findings, so the list
// and the selected finding keep most of the screen.
const maxCauseLines = 4

// causeLines is how many body lines the causes take (with a blank line).
func (m *Model) causeLines() int {
	if len(m.causes) == 0 {
		return 0
	}
	return min(len(m.causes), maxCauseLines) + 1
}

// findingsListHeight is the rows of the findings list; the causes above it
// and the selected finding's details take the rest of the body.
func (m *Model) findingsListHeight() int {
	return max(1, min(len(m.findings), (m.bodyHeight()-1-m.causeLines())/2))
}

// View renders the screen.
func (m *Model) View() string {
	w, h := m.size()
	if w < minWidth || h < minHeight {
		lines := []string{fit(fmt.Sprintf("window too small (need %dx%d)", minWidth, minHeight), w)}
		for len(lines) < h {
			lines = append(lines, "")
		}
		return strings.Join(lines[:h], "\n")
	}
	bodyH := h - chromeLines
	var body []string
	switch {
	case m.showHelp:
		body = m.fullHelpBody(w)
	case !m.have:
		body = []string{"", "  waiting for the first snapshot…"}
	default:
		switch m.view {
		case viewOverview:
			body = m.overviewBody(w, bodyH)
		case viewPartitions:
			body = m.partitionsBody(w, bodyH)
		case viewDetail:
			body = m.detailBody(w, bodyH)
		case viewRaft:
			body = m.raftBody(w, bodyH)
		case viewFindings:
			body = m.findingsBody(w, bodyH)
		}
	}
	if len(body) > bodyH {
		body = body[:bodyH]
	}
	lines := make([]string, 0, h)
	lines = append(lines, m.headerLine(w), m.tabsLine(w))
	lines = append(lines, body...)
	for len(lines) < h-2 {
		lines = append(lines, "")
	}
	lines = append(lines, m.messageLine(w), m.footerLine(w))
	for i, l := range lines {
		lines[i] = fit(l, w)
	}
	return strings.Join(lines, "\n")
}

// breadcrumb is where the user is: chronik › view › what is selected.
func (m *Model) breadcrumb() string {
	parts := []string{"chronik"}
	if m.showHelp {
		return strings.Join(append(parts, "Help"), " › ")
	}
	switch m.view {
	case viewPartitions:
		t := fmt.Sprintf("Partitions (%d", len(m.visible))
		if len(m.visible) != len(m.rows) {
			t += fmt.Sprintf(" of %d", len(m.rows))
		}
		parts = append(parts, t+")")
		if m.filterText != "" {
			parts = append(parts, "filter “"+m.filterText+"”")
		}
	case viewDetail:
		parts = append(parts, m.detailFrom.title())
		if m.haveDetail {
			parts = append(parts, tpName(m.detail))
		} else {
			parts = append(parts, "Partition")
		}
	case viewOverview, viewRaft:
		parts = append(parts, m.view.title())
		if m.nodeSel >= 0 && m.nodeIndex() >= 0 {
			parts = append(parts, "node "+strconv.Itoa(int(m.nodeSel)))
		}
	default:
		parts = append(parts, m.view.title())
	}
	return strings.Join(parts, " › ")
}

// refreshStatus is the right end of the header: live or paused, when the
// shown snapshot was taken, and how many nodes did not answer.
func (m *Model) refreshStatus() string {
	var parts []string
	waiting := 0
	for _, n := range m.status.Unreachable {
		if n.Error == api.PendingError {
			waiting++
		}
	}
	nodes := func(n int) string {
		if n == 1 {
			return "1 node"
		}
		return strconv.Itoa(n) + " nodes"
	}
	if n := len(m.status.Unreachable) - waiting; m.have && n > 0 {
		parts = append(parts, m.st.paint(stRed, "✗ "+nodes(n)+" unreachable"))
	}
	if m.have && waiting > 0 {
		// A partial view: what answered is shown, the rest is on its way.
		parts = append(parts, m.st.paint(stMagenta, "◐ partial: waiting for "+nodes(waiting)))
	}
	switch {
	case m.paused:
		parts = append(parts, m.st.paint(stYellow, "❚❚ PAUSED"))
	default:
		parts = append(parts, m.st.paint(stGreen, "●")+" every "+m.refresh.String())
	}
	if m.have {
		at := m.at.Format("15:04:05")
		if m.took >= slowSnapshot {
			at += " (took " + m.took.Round(100*time.Millisecond).String() + ")"
		}
		parts = append(parts, at)
	} else {
		parts = append(parts, "connecting…")
	}
	return strings.Join(parts, " · ")
}

func (m *Model) headerLine(w int) string {
	right := m.refreshStatus()
	left := fit(m.st.paint(stBold, m.breadcrumb()), max(0, w-width(right)-1))
	return left + strings.Repeat(" ", max(1, w-width(left)-width(right))) + right
}

func (m *Model) tabsLine(w int) string {
	var b strings.Builder
	for v := viewOverview; v <= viewFindings; v++ {
		label := strconv.Itoa(int(v)) + " " + v.title()
		if v == viewFindings && m.have {
			label += " (" + strconv.Itoa(len(m.findings)) + ")"
		}
		if v == m.view && !m.showHelp {
			b.WriteString(m.st.paint(stTabActive, "["+label+"]"))
		} else {
			b.WriteString(" " + label + " ")
		}
		b.WriteString(" ")
	}
	return fit(b.String(), w)
}

// messageLine is the line above the help: the election question, the
// filter being typed, or the latest result or hint.
func (m *Model) messageLine(w int) string {
	switch {
	case m.confirm != nil:
		q := "Elect the preferred leader of " + tpName(*m.confirm)
		if i := slices.IndexFunc(m.rows, func(r api.PartitionRow) bool { return tpOf(r) == *m.confirm }); i >= 0 && len(m.rows[i].Replicas) > 0 {
			r := m.rows[i]
			q += fmt.Sprintf(" (replica %d; the leader now is %s)", r.Replicas[0], leaderText(r.Leader))
		}
		return fit(m.st.paint(stYellow, q+"? y/n"), w)
	case m.editing:
		return fit("/"+m.filterText+"█"+m.st.paint(stFaint, "  enter keeps · esc clears · words match topics; status:stalled leader:1 node:2"), w)
	case m.msg != "":
		k := stNone
		switch m.msgKind {
		case msgOK:
			k = stGreen
		case msgErr:
			k = stRed
		}
		return fit(m.st.paint(k, oneLine(m.msg)), w)
	case m.view == viewPartitions && len(m.filt.bad) > 0:
		return fit(m.st.paint(stYellow, "filter: ignored "+strings.Join(m.filt.bad, " ")+" (keys are status:, leader:, node:, topic:)"), w)
	}
	return ""
}

func (m *Model) footerLine(w int) string {
	hm := m.help
	hm.Width = w
	if m.showHelp {
		return hm.ShortHelpView([]key.Binding{m.keys.Help, m.keys.Back, m.keys.Quit})
	}
	return hm.ShortHelpView(m.keys.helpFor(m.view).short)
}

// fullHelpBody is the key map (from the same bindings as the footer) and
// what the symbols mean.
func (m *Model) fullHelpBody(w int) []string {
	hm := m.help
	hm.Width = w
	out := []string{""}
	out = append(out, strings.Split(hm.FullHelpView(m.keys.helpFor(m.view).full), "\n")...)
	legend := []string{
		"",
		"status   ✓ OK   ▲ UNDER_REPLICATED / AT_MIN_ISR   ⏸ STALLED   ✗ UNDER_MIN_ISR / ISR_UNINITIALIZED / OFFLINE   ? LEADER_UNREACHABLE",
		"max lag  ↑ grew  ↓ shrank  → unchanged since the previous refresh",
		"filter   words match topics; status:stalled  leader:N  node:N  topic:NAME (same kind: any; kinds: all)",
	}
	if m.elect == nil {
		legend = append(legend, "actions  read-only: start with --allow-actions for preferred-leader elections (e in a partition)")
	}
	return append(out, legend...)
}

func leaderText(id int32) string {
	if id < 0 {
		return "none"
	}
	return strconv.Itoa(int(id))
}

func idList(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// secs formats a duration in seconds as the API reports it.
func secs(p *float64) string {
	if p == nil {
		return "never"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64) + "s"
}

func ago(p *float64) string {
	if p == nil {
		return "never"
	}
	return secs(p) + " ago"
}

func num(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func unum(n uint64) string { return strconv.FormatUint(n, 10) }

// stateCell marks a node state with a symbol and colour.
func stateCell(state string) cell {
	switch state {
	case "up":
		return cell{text: "✓ up", style: stGreen}
	case "shut down":
		return cell{text: "▲ shut down", style: stYellow}
	case "waiting":
		return cell{text: "◐ waiting", style: stMagenta}
	}
	return cell{text: "✗ " + state, style: stRed}
}

func nodeName(id int32) string {
	if id < 0 {
		return "?"
	}
	return strconv.Itoa(int(id))
}

func (m *Model) overviewBody(w, h int) []string {
	t := table{selectable: true, sel: m.nodeIndex(), cols: []column{
		{title: "NODE"}, {title: "STATE", flex: true, min: 15}, {title: "RAFT"}, {title: "TERM", right: true},
		{title: "COMMIT", right: true}, {title: "APPLIED", right: true}, {title: "CONTACT", right: true},
		{title: "HEARTBEAT", right: true}, {title: "ADMIN", optional: true},
	}}
	for _, n := range m.nodes {
		role, term, commit, applied := "-", "-", "-", "-"
		if n.raft != nil {
			role, term, commit, applied = n.raft.Role, unum(n.raft.Term), unum(n.raft.Commit), unum(n.raft.Applied)
		}
		contact, hb := "-", "-"
		if n.peer != nil {
			contact = secs(n.peer.LastContactSeconds)
		}
		if n.heartbeat != nil {
			hb = secs(n.heartbeat)
		}
		id := nodeName(n.id)
		if n.controller {
			id += " ★"
		}
		t.rows = append(t.rows, []cell{plain(id), stateCell(n.state), plain(role), plain(term), plain(commit),
			plain(applied), plain(contact), plain(hb), plain(strings.TrimPrefix(n.admin, "http://"))})
	}
	rows := min(len(m.nodes), m.nodeListHeight())
	out := t.render(m.st, w, m.nodeOff, rows)
	if len(m.nodes) > rows {
		out = append(out, m.st.paint(stFaint, fmt.Sprintf("  … %d nodes, ↑/↓ scrolls", len(m.nodes))))
	}
	out = append(out, "")

	ctl := "none known"
	if m.status.ControllerID >= 0 {
		ctl = "node " + strconv.Itoa(int(m.status.ControllerID)) + " ★"
	}
	out = append(out, "controller  "+ctl)
	var parts []string
	total := 0
	for _, s := range api.Statuses() {
		n := m.status.Partitions[s]
		total += n
		if n > 0 {
			c := statusCell(s)
			sym, name, _ := strings.Cut(c.text, " ")
			parts = append(parts, m.st.paint(c.style, sym+" "+strconv.Itoa(n)+" "+name))
		}
	}
	out = append(out, fmt.Sprintf("partitions  %d", total)+listSuffix(parts))
	fparts := []string{
		m.st.paint(stRed, fmt.Sprintf("✗ %d critical", m.status.Findings[api.SeverityCritical])),
		m.st.paint(stYellow, fmt.Sprintf("▲ %d warning", m.status.Findings[api.SeverityWarning])),
		fmt.Sprintf("· %d info", m.status.Findings[api.SeverityInfo]),
	}
	out = append(out, "findings    "+strings.Join(fparts, "  ")+m.st.paint(stFaint, "   (5 lists them)"))
	if m.status.Healthy {
		out = append(out, "health      "+m.st.paint(stGreen, "✓ HEALTHY"))
	} else {
		out = append(out, "health      "+m.st.paint(stRed, "✗ NOT HEALTHY"))
	}
	for _, n := range m.nodes {
		if n.err != "" && len(out) < h {
			out = append(out, m.st.paint(stRed, "node "+nodeName(n.id)+": ")+oneLine(n.err))
		}
	}
	return out
}

func listSuffix(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "  ")
}

func (m *Model) partitionsBody(w, h int) []string {
	if len(m.rows) == 0 {
		return []string{"", "  no partitions: create a topic, or check that the nodes host replicas"}
	}
	mark := func(c sortColumn, title string) string {
		if m.sortBy != c {
			return title
		}
		if m.sortRev {
			return title + "▲"
		}
		return title + "▼"
	}
	t := table{selectable: true, sel: m.partIndex(), cols: []column{
		{title: mark(sortTopic, "TOPIC"), flex: true, min: 5},
		{title: "P", right: true},
		{title: mark(sortLeader, "LEADER")},
		{title: mark(sortEpoch, "EPOCH"), right: true},
		{title: "REPLICAS", flex: true, min: 3},
		{title: mark(sortISR, "ISR"), flex: true, min: 3},
		{title: mark(sortHW, "HW"), right: true},
		{title: mark(sortLag, "MAX LAG"), right: true},
		{title: mark(sortStatus, "STATUS")},
	}}
	moving := reassigning(m.visible)
	if moving {
		t.cols = append(t.cols, column{title: "COPYING", flex: true, min: 5})
	}
	for _, r := range m.visible {
		leader := leaderText(r.Leader)
		if slices.Contains(r.Unreachable, r.Leader) {
			leader += " ✗"
		}
		lag := "-"
		if r.HighWatermark >= 0 {
			lag = strconv.FormatInt(r.MaxLag, 10) + " " + m.trends[tpOf(r)].arrow()
		}
		isr := cell{text: idList(r.ISR)}
		if r.UnderReplicated() {
			isr.style = stYellow
		}
		row := []cell{plain(r.Topic), plain(strconv.Itoa(int(r.Partition))), plain(leader),
			plain(strconv.Itoa(int(r.LeaderEpoch))), plain(r.ReplicasText()), isr, plain(num(r.HighWatermark)),
			plain(lag), statusCell(r.Status)}
		if moving {
			row = append(row, copyingCell(r))
		}
		t.rows = append(t.rows, row)
	}
	if len(m.visible) == 0 {
		return append(t.render(m.st, w, 0, 0), "", "  no partition matches “"+m.filterText+"”; esc clears the filter")
	}
	return t.render(m.st, w, m.partOff, h-1)
}

// detailRow is the partition the detail view shows.
func (m *Model) detailRow() (api.PartitionRow, bool) {
	i := slices.IndexFunc(m.rows, func(r api.PartitionRow) bool { return tpOf(r) == m.detail })
	if i < 0 {
		return api.PartitionRow{}, false
	}
	return m.rows[i], true
}

func (m *Model) detailBody(w, h int) []string {
	if !m.haveDetail {
		return []string{"", "  no partition selected: pick one in Partitions (2) and press enter"}
	}
	r, ok := m.detailRow()
	if !ok {
		return []string{"", "  " + tpName(m.detail) + " is not in the latest snapshot (deleted, or its nodes did not answer)"}
	}
	tp := tpOf(r)
	sc := statusCell(r.Status)
	out := []string{
		fmt.Sprintf("%s  leader %s (epoch %d)  partition epoch %d  min ISR %d  lag time max %gs",
			m.st.paint(stBold, tpName(tp)), leaderText(r.Leader), r.LeaderEpoch, r.PartitionEpoch, r.MinISR, r.LagTimeMaxSeconds),
	}
	status := "status " + m.st.paint(sc.style, sc.text)
	if len(r.Stalled) > 0 {
		status += "  stalled: " + idList(r.Stalled)
	}
	var silent, waiting []int32
	for _, id := range r.Unreachable {
		if m.waiting(id) {
			waiting = append(waiting, id)
		} else {
			silent = append(silent, id)
		}
	}
	if len(silent) > 0 {
		status += "  unreachable: " + idList(silent)
	}
	if len(waiting) > 0 {
		status += "  waiting for: " + idList(waiting)
	}
	status += m.st.paint(stFaint, "  (metadata from node "+strconv.Itoa(int(r.Source))+")")
	out = append(out, status)
	out = append(out, copyLines(r)...)
	if r.HighWatermark < 0 {
		out = append(out, m.st.paint(stRed, "the leader did not answer: positions unknown; metadata from node "+strconv.Itoa(int(r.Source))))
	} else {
		wait := fmt.Sprintf("acks=all waiting %d", r.AcksAllWaiting)
		if r.AcksAllWaiting > 0 {
			wait += fmt.Sprintf(" (oldest %.2fs)", r.AcksAllOldestWaitSeconds)
		}
		out = append(out, fmt.Sprintf("HW %d  LEO %d  %s", r.HighWatermark, r.LogEndOffset, wait))
	}
	out = append(out, m.txnLines(r)...)
	out = append(out, m.cleanerLines(r)...)

	t := table{cols: []column{
		{title: "REPLICA"}, {title: "ROLE"}, {title: "LEO", right: true}, {title: "LAG", right: true},
		{title: "CAUGHT UP"}, {title: "LAST FETCH"}, {title: "ISR"}, {title: "FETCHER", flex: true, min: 5},
	}}
	var fetchErrs []string
	for _, id := range r.Replicas {
		inISR := slices.Contains(r.ISR, id)
		isr := cell{text: "✓ yes", style: stGreen}
		if !inISR {
			isr = cell{text: "✗ no", style: stRed}
		}
		down := slices.Contains(r.Unreachable, id)
		fetcher := plain("-")
		if down && m.waiting(id) {
			fetcher = cell{text: "◐ waiting for its answer", style: stMagenta}
		} else if down {
			fetcher = cell{text: "✗ node unreachable", style: stRed}
		} else if f, ok := fetcherOf(m.cluster, tp, id); ok && f != nil {
			switch {
			case f.LastError != "":
				fetcher = cell{text: "✗ error (below)", style: stRed}
				fetchErrs = append(fetchErrs, fmt.Sprintf("replica %d fetcher: %s", id, f.LastError))
			case !f.Running:
				fetcher = cell{text: "▲ not running", style: stYellow}
			default:
				fetcher = plain("✓ from " + strconv.Itoa(int(f.Leader)) + ", " + ago(f.LastFetchSeconds))
			}
		}
		if id == r.Leader {
			role := replicaRole(r, id)
			if down {
				role += " ✗"
			}
			t.rows = append(t.rows, []cell{plain(strconv.Itoa(int(id))), plain(role), plain(num(r.LogEndOffset)),
				plain("0"), plain("-"), plain("-"), isr, fetcher})
			continue
		}
		i := slices.IndexFunc(r.ReplicaStates, func(rs api.ReplicaState) bool { return rs.ID == id })
		if i < 0 {
			t.rows = append(t.rows, []cell{plain(strconv.Itoa(int(id))), plain(replicaRole(r, id)), plain("-"), plain("-"),
				plain("-"), plain("-"), isr, fetcher})
			continue
		}
		rs := r.ReplicaStates[i]
		caught := plain(ago(rs.LastCaughtUpSeconds))
		if slices.Contains(r.Stalled, id) {
			caught = cell{text: "⏸ " + caught.text, style: stYellow}
		}
		if rs.Lagging {
			isr.text += " (lagging)"
		}
		t.rows = append(t.rows, []cell{plain(strconv.Itoa(int(id))), plain(replicaRole(r, id)), plain(num(rs.LogEndOffset)),
			plain(strconv.FormatInt(rs.Lag, 10)), caught, plain(ago(rs.LastFetchSeconds)), isr, fetcher})
	}
	out = append(out, "")
	out = append(out, t.render(m.st, w, 0, len(t.rows))...)
	for _, e := range fetchErrs {
		out = append(out, m.st.paint(stRed, oneLine(e)))
	}
	out = append(out, "")
	out = append(out, m.sparklines(tp, r, w, h-len(out))...)
	return out
}

// sparklines plot the partition's HW and each replica's LEO over the kept
// history, all on one scale so a replica falling behind stands out.
func (m *Model) sparklines(tp api.TopicPartition, r api.PartitionRow, w, h int) []string {
	hs := m.hist[tp]
	if h < 2 {
		return nil
	}
	if len(hs) < 2 {
		return []string{m.st.paint(stFaint, "history: the sparklines fill in over the next refreshes")}
	}
	const labelW = 8
	numW := 0
	lo, hi := hs[0].hw, hs[0].hw
	for _, s := range hs {
		lo, hi = min(lo, s.hw), max(hi, s.hw)
		for _, v := range s.leo {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	numW = len(strconv.FormatInt(hi, 10))
	n := min(len(hs), max(4, w-labelW-numW-2))
	hs = hs[len(hs)-n:]
	span := hs[len(hs)-1].at.Sub(hs[0].at).Round(time.Second)
	out := []string{m.st.paint(stFaint, fmt.Sprintf("last %v: HW and each replica's LEO, one scale %d…%d", span, lo, hi))}
	series := func(label string, get func(sample) (int64, bool)) string {
		vals := make([]int64, len(hs))
		ok := make([]bool, len(hs))
		var last int64 = -1
		for i, s := range hs {
			vals[i], ok[i] = get(s)
			if ok[i] {
				last = vals[i]
			}
		}
		return pad(label, labelW, false) + sparkline(vals, ok, lo, hi) + " " + num(last)
	}
	out = append(out, series("HW", func(s sample) (int64, bool) { return s.hw, true }))
	for _, id := range r.Replicas {
		if len(out) >= h {
			break
		}
		out = append(out, series("LEO "+strconv.Itoa(int(id)), func(s sample) (int64, bool) {
			v, ok := s.leo[id]
			return v, ok
		}))
	}
	return out
}

func (m *Model) raftBody(w, h int) []string {
	t := table{selectable: true, sel: m.nodeIndex(), cols: []column{
		{title: "NODE"}, {title: "ROLE"}, {title: "TERM", right: true}, {title: "LEADER", right: true},
		{title: "COMMIT", right: true}, {title: "APPLIED", right: true}, {title: "SNAPSHOT", right: true},
		{title: "VOTERS", flex: true, min: 3}, {title: "LEARNERS", flex: true, min: 3},
	}}
	var stopped []string
	for _, n := range m.nodes {
		if n.raft == nil {
			role := cell{text: "-"}
			if n.down {
				role = stateCell(n.state)
			}
			t.rows = append(t.rows, []cell{plain(nodeName(n.id)), role, plain("-"), plain("-"), plain("-"), plain("-"), plain("-"), plain("-"), plain("-")})
			continue
		}
		rs := n.raft
		role := plain(rs.Role)
		switch rs.Role {
		case api.RoleLeader:
			role.style = stBold
		case api.RoleStopped:
			role.style = stRed
			stopped = append(stopped, fmt.Sprintf("node %d stopped as a voter: %s", n.id, rs.Error))
		case api.RoleCandidate, api.RolePreCandidate:
			role.style = stYellow
		}
		leader := "-"
		if rs.LeaderID != 0 {
			leader = unum(rs.LeaderID)
		}
		t.rows = append(t.rows, []cell{plain(nodeName(n.id)), role, plain(unum(rs.Term)), plain(leader), plain(unum(rs.Commit)),
			plain(unum(rs.Applied)), plain(unum(rs.SnapshotIndex)), plain(idsText(rs.Voters)), plain(idsText(rs.Learners))})
	}
	rows := min(len(m.nodes), m.nodeListHeight())
	out := t.render(m.st, w, m.nodeOff, rows)
	for _, s := range stopped {
		out = append(out, m.st.paint(stRed, oneLine(s)))
	}
	out = append(out, "")
	lv, ok := raftLeader(m.cluster)
	if !ok {
		return append(out, m.st.paint(stRed, "✗ no answering node leads raft: metadata changes (ISR, leaders, topics) wait for an election"))
	}
	out = append(out, fmt.Sprintf("raft leader node %d (term %d, commit %d): its peers; %s", lv.Raft.NodeID, lv.Raft.Term, lv.Raft.Commit, votersLine(lv.Raft)))
	pt := table{selectable: true, sel: -1, cols: []column{
		{title: "PEER"}, {title: "MEMBER"}, {title: "MATCH", right: true}, {title: "NEXT", right: true}, {title: "LAG", right: true},
		{title: "STATE"}, {title: "ACTIVE"}, {title: "CONNECTED"}, {title: "CONTACT", right: true},
		{title: "ERROR", flex: true, min: 5},
	}}
	for i, p := range lv.Raft.Peers {
		if int32(p.ID) == m.nodeSel {
			pt.sel = i
		}
		st := plain(p.State)
		if p.State != api.PeerReplicate {
			st.style = stYellow
		}
		yes := func(b bool) cell {
			if b {
				return cell{text: "✓ yes", style: stGreen}
			}
			return cell{text: "✗ no", style: stRed}
		}
		// The transport keeps its latest error for good; while the peer is
		// connected and active it is history, not the state.
		errText := "-"
		if p.LastError != "" && (!p.Connected || !p.RecentActive) {
			errText = p.LastError
		}
		pt.rows = append(pt.rows, []cell{plain(unum(p.ID)), memberCell(p), plain(unum(p.Match)), plain(unum(p.Next)), plain(unum(p.Lag)), st,
			yes(p.RecentActive), yes(p.Connected), plain(secs(p.LastContactSeconds)), plain(errText)})
	}
	return append(out, pt.render(m.st, w, 0, max(0, h-len(out)-1))...)
}

func severityCell(s string) cell {
	switch s {
	case api.SeverityCritical:
		return cell{text: "✗ CRITICAL", style: stRed}
	case api.SeverityWarning:
		return cell{text: "▲ WARNING", style: stYellow}
	}
	return cell{text: "· " + strings.ToUpper(s)}
}

// waiting reports whether node id has not answered the snapshot shown yet
// (a partial view), as opposed to not answering at all.
func (m *Model) waiting(id int32) bool {
	return slices.ContainsFunc(m.cluster.Nodes, func(n api.NodeView) bool { return n.Pending && n.NodeID == id })
}

// causeName is the short name of finding i's cause, for its row.
func (m *Model) causeName(i int) string {
	if ci := m.causeOf[i]; ci >= 0 {
		return m.causes[ci].Code + " " + diagnose.CauseWhere(m.causes[ci])
	}
	return "-"
}

func (m *Model) findingsBody(w, h int) []string {
	if len(m.findings) == 0 {
		return []string{"", "  " + m.st.paint(stGreen, "✓ no findings: the cluster looks healthy")}
	}
	sel := m.findIndex()
	if sel < 0 {
		sel = 0
	}
	// The causes first: what happened, one line each; their findings are
	// listed below in the same order, each row naming its cause.
	var out []string
	for i, c := range m.causes {
		if i == maxCauseLines-1 && len(m.causes) > maxCauseLines {
			out = append(out, m.st.paint(stFaint, fmt.Sprintf("  … %d more causes (the CAUSE column names each)", len(m.causes)-i)))
			break
		}
		sc := severityCell(c.Severity)
		line := "cause " + m.st.paint(sc.style, sc.text) + " " + m.st.paint(stBold, c.Code) + " " + diagnose.CauseWhere(c) + "  " + c.Message
		out = append(out, fit(line, w))
	}
	if len(out) > 0 {
		out = append(out, "")
	}
	t := table{selectable: true, sel: sel, cols: []column{
		{title: "SEVERITY"}, {title: "CODE"}, {title: "WHERE", flex: true, min: 6}, {title: "CAUSE", flex: true, min: 6},
		{title: "WHAT", flex: true, min: 8},
	}}
	for i, f := range m.findings {
		t.rows = append(t.rows, []cell{severityCell(f.Severity), plain(f.Code), plain(f.Where()), plain(m.causeName(i)), plain(f.Message)})
	}
	listH := m.findingsListHeight()
	out = append(out, t.render(m.st, w, m.findOff, listH)...)
	if len(m.findings) > listH {
		out = append(out, m.st.paint(stFaint, fmt.Sprintf("  %d of %d · ↑/↓ moves", sel+1, len(m.findings))))
	} else {
		out = append(out, "")
	}

	f := m.findings[sel]
	sc := severityCell(f.Severity)
	head := m.st.paint(sc.style, sc.text) + "  " + m.st.paint(stBold, f.Code) + "  " + f.Where()
	if len(f.SeenBy) > 0 {
		head += m.st.paint(stFaint, "  seen by "+idList(f.SeenBy))
	}
	out = append(out, head)
	out = append(out, wrap(f.Message, w)...)
	if len(f.Evidence) > 0 {
		keys := make([]string, 0, len(f.Evidence))
		for k := range f.Evidence {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ev := make([]string, len(keys))
		for i, k := range keys {
			ev[i] = fmt.Sprintf("%s=%v", k, f.Evidence[k])
		}
		out = append(out, wrap("evidence: "+strings.Join(ev, " "), w)...)
	}
	out = append(out, wrap("next: "+f.NextStep, w)...)
	if ci := m.causeOf[sel]; ci >= 0 {
		c := m.causes[ci]
		out = append(out, fit("under cause "+c.Code+" "+diagnose.CauseWhere(c)+" · its next step: "+c.NextStep, w))
	}
	switch {
	case f.Topic != "" && f.Partition != nil:
		out = append(out, m.st.paint(stFaint, "enter opens "+f.Where()))
	case f.Node != nil:
		out = append(out, m.st.paint(stFaint, "enter shows node "+strconv.Itoa(int(*f.Node))))
	}
	return out
}
