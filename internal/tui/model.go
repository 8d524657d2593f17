// Package tui is `chronik tui`: a live monitor of a whole cluster in the
// terminal, built on bubbletea. It reads the cluster only through a
// [Source] (client.Gather over the admin API in production, recorded
// snapshots in tests) and shows it in five views: overview, partitions,
// partition detail, raft and findings. It is read-only unless an
// [ElectFunc] is given, which enables the one action, a preferred-leader
// election on a partition, behind a y/n confirmation.
package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// Refresh bounds and defaults.
const (
	DefaultRefresh = 2 * time.Second
	MinRefresh     = 500 * time.Millisecond
	// DefaultTimeout bounds one snapshot (or one election) as a whole; the
	// Source bounds each request within it.
	DefaultTimeout = 10 * time.Second
)

// maxInflight bounds the snapshots taken at once: with a node that does not
// answer, a snapshot lasts the request timeout, which may exceed the
// refresh interval, so they overlap; they must not pile up.
const maxInflight = 4

// Options configure a Model.
type Options struct {
	Source Source
	// Elect enables the preferred-leader election (key e in the partition
	// detail); nil keeps the monitor read-only.
	Elect ElectFunc
	// Refresh is the interval between snapshots: DefaultRefresh when zero,
	// at least MinRefresh.
	Refresh time.Duration
	// Timeout bounds one snapshot or election as a whole: DefaultTimeout
	// when zero.
	Timeout time.Duration
	// Color allows colours; status symbols are shown either way.
	Color bool
	// Now is the clock, time.Now when nil; tests fix it.
	Now func() time.Time
}

// viewID names the five views; the number keys select them.
type viewID int

const (
	viewOverview viewID = iota + 1
	viewPartitions
	viewDetail
	viewRaft
	viewFindings
)

func (v viewID) title() string {
	switch v {
	case viewOverview:
		return "Overview"
	case viewPartitions:
		return "Partitions"
	case viewDetail:
		return "Partition"
	case viewRaft:
		return "Raft"
	case viewFindings:
		return "Findings"
	}
	return "?"
}

// Messages the Model's commands send back.
type (
	tickMsg     struct{}
	snapshotMsg struct {
		seq  uint64 // which request this answers; older than the applied one is dropped
		view api.ClusterView
		took time.Duration
	}
	// partialMsg is a view of snapshot seq while some nodes have not
	// answered yet; next waits for the following one (or the snapshot).
	partialMsg struct {
		seq  uint64
		view api.ClusterView
		next tea.Cmd
	}
	electMsg struct {
		tp  api.TopicPartition
		res api.ElectLeadersResult
		err error
	}
)

// msgKind is how the message line is marked.
type msgKind int

const (
	msgInfo msgKind = iota
	msgOK
	msgErr
)

// Model is the monitor's state; it implements tea.Model. Build it with
// New and run it with Run (or drive Update and View directly in tests).
type Model struct {
	// ctx is the lifetime of the commands the Model starts: a bubbletea
	// Cmd runs later, in its own goroutine, so the context is kept here.
	ctx     context.Context
	src     Source
	elect   ElectFunc
	refresh time.Duration
	timeout time.Duration
	now     func() time.Time
	cmds    *tracker
	keys    keyMap
	help    help.Model
	st      styles

	width, height int
	view          viewID
	detailFrom    viewID // where esc goes back to from the detail
	showHelp      bool

	// Refreshing. Every snapshot request gets the next sequence number; a
	// reply older than the newest applied one, or requested before a
	// pause, is dropped.
	nextSeq, appliedSeq, pauseFloor uint64
	// appliedSeq is the newest complete snapshot applied. partial: the view
	// shown is instead snapshot partialSeq while some nodes had not answered
	// yet; a complete view of it, or of an older snapshot newer than
	// appliedSeq, replaces it (overlapping snapshots must not keep every
	// complete view off the screen while a node is slow).
	partial    bool
	partialSeq uint64
	complete   api.ClusterView // the last complete view, for CarrySilent
	inflight   int
	paused     bool
	dropped    int
	have       bool // a snapshot has been applied
	cluster    api.ClusterView
	at         time.Time
	took       time.Duration

	// Derived from the applied snapshot.
	rows []api.PartitionRow
	// findings are listed cause by cause (causes most severe first);
	// causeOf[i] is the index in causes of findings[i]'s cause.
	findings []api.Finding
	causes   []api.Cause
	causeOf  []int
	nodes    []nodeRow
	status   diagnose.ClusterStatus
	lastLag  map[api.TopicPartition]int64
	trends   map[api.TopicPartition]trend
	hist     map[api.TopicPartition]history

	// Partitions view.
	visible    []api.PartitionRow
	sortBy     sortColumn
	sortRev    bool
	filterText string
	filt       filter
	editing    bool
	partSel    api.TopicPartition
	partOff    int

	// Detail view.
	detail     api.TopicPartition
	haveDetail bool

	// Overview and raft views: the selected node by id.
	nodeSel int32
	nodeOff int

	// Findings view: the selected finding by key.
	findSel string
	findOff int

	confirm  *api.TopicPartition // an election waiting for y/n
	electing bool
	msg      string
	msgKind  msgKind
}

// New builds a Model. ctx bounds every snapshot and election it starts.
func New(ctx context.Context, opts Options) *Model {
	m := &Model{
		ctx:        ctx,
		src:        opts.Source,
		elect:      opts.Elect,
		refresh:    opts.Refresh,
		timeout:    opts.Timeout,
		now:        opts.Now,
		cmds:       &tracker{},
		keys:       newKeyMap(opts.Elect != nil),
		st:         newStyles(opts.Color),
		view:       viewOverview,
		detailFrom: viewPartitions,
		nodeSel:    -1,
		lastLag:    map[api.TopicPartition]int64{},
		trends:     map[api.TopicPartition]trend{},
		hist:       map[api.TopicPartition]history{},
	}
	if m.refresh == 0 {
		m.refresh = DefaultRefresh
	}
	m.refresh = max(m.refresh, MinRefresh)
	if m.timeout <= 0 {
		m.timeout = DefaultTimeout
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.help = help.New()
	m.help.Styles = m.st.helpStyles()
	return m
}

// Run shows the monitor until the user quits or ctx ends, on the alternate
// screen, and restores the terminal. progOpts add to the program's options
// (the command passes its input and output).
func Run(ctx context.Context, opts Options, progOpts ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(ctx)
	m := New(ctx, opts)
	defer func() {
		cancel()
		m.cmds.closeAndWait() // the snapshots still running end with ctx
	}()
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx)}, progOpts...)...)
	_, err := p.Run()
	if err == nil || errors.Is(err, tea.ErrInterrupted) || errors.Is(err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("run the terminal ui: %w", err)
}

// Init takes the first snapshot and starts the refresh ticks.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.fetch(), m.tick())
}

// tracker owns the bodies of the commands the Model starts, so Run can
// wait for them: after close, a command that has not started yet does
// nothing.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) start() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// track wraps a command body so the tracker knows it runs.
func (m *Model) track(fn func() tea.Msg) tea.Cmd {
	cmds := m.cmds
	return func() tea.Msg {
		if !cmds.start() {
			return nil
		}
		defer cmds.wg.Done()
		return fn()
	}
}

// tick waits one refresh interval (or until the Model's context ends).
func (m *Model) tick() tea.Cmd {
	ctx, d := m.ctx, m.refresh
	return m.track(func() tea.Msg {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			return tickMsg{}
		}
	})
}

// fetch takes a snapshot under the next sequence number.
func (m *Model) fetch() tea.Cmd {
	m.nextSeq++
	m.inflight++
	seq, ctx, src, timeout := m.nextSeq, m.ctx, m.src, m.timeout
	if ps, ok := src.(ProgressSource); ok {
		return m.fetchProgress(seq, ps)
	}
	return m.track(func() tea.Msg {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v := src.Snapshot(cctx)
		return snapshotMsg{seq: seq, view: v, took: time.Since(start)}
	})
}

// fetchProgress takes snapshot seq from a ProgressSource: the gather runs
// in a goroutine this command starts (the tracker waits for it; it ends
// when the gather does, bounded by the timeout and the Model's context);
// its partial views come back as partialMsgs, each carrying the command
// that waits for the next, and the complete view as the snapshotMsg.
func (m *Model) fetchProgress(seq uint64, ps ProgressSource) tea.Cmd {
	ctx, timeout, cmds := m.ctx, m.timeout, m.cmds
	// latest holds the newest partial view not yet taken: the gather never
	// blocks on a Model that is slow to read, an older view is replaced.
	latest := make(chan api.ClusterView, 1)
	final := make(chan snapshotMsg, 1)
	var await func() tea.Msg
	await = func() tea.Msg {
		select {
		case v := <-latest:
			return partialMsg{seq: seq, view: v, next: m.track(await)}
		case s := <-final:
			return s
		case <-ctx.Done():
			return nil
		}
	}
	return m.track(func() tea.Msg {
		if !cmds.start() {
			return nil
		}
		start := time.Now()
		go func() {
			defer cmds.wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			v := ps.SnapshotProgress(cctx, func(p api.ClusterView) {
				select {
				case <-latest: // not read yet: the newer view replaces it
				default:
				}
				latest <- p // the only sender, and the buffer is empty now
			})
			final <- snapshotMsg{seq: seq, view: v, took: time.Since(start)}
		}()
		return await()
	})
}

// electCmd runs the election through the ElectFunc.
func (m *Model) electCmd(tp api.TopicPartition) tea.Cmd {
	ctx, elect, timeout, targets := m.ctx, m.elect, m.timeout, electTargets(m.cluster)
	return m.track(func() tea.Msg {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res, err := elect(cctx, targets, tp)
		return electMsg{tp: tp, res: res, err: err}
	})
}

// Update applies one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.fixScroll()
		return m, nil
	case tickMsg:
		cmds := []tea.Cmd{m.tick()}
		if !m.paused && m.inflight < maxInflight {
			cmds = append(cmds, m.fetch())
		}
		return m, tea.Batch(cmds...)
	case snapshotMsg:
		m.apply(msg)
		return m, nil
	case partialMsg:
		m.applyPartial(msg)
		return m, msg.next
	case electMsg:
		m.electing = false
		m.electResult(msg)
		return m, m.fetch()
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	return m, nil
}

// apply makes a snapshot the one shown, unless a newer one already is.
func (m *Model) apply(msg snapshotMsg) {
	m.inflight = max(0, m.inflight-1)
	if msg.seq <= m.appliedSeq || msg.seq <= m.pauseFloor {
		m.dropped++
		return
	}
	m.show(msg.seq, msg.view, false)
	m.complete = msg.view
	m.took = msg.took

	lastLag := make(map[api.TopicPartition]int64, len(m.rows))
	trends := make(map[api.TopicPartition]trend, len(m.rows))
	hist := make(map[api.TopicPartition]history, len(m.rows))
	for _, r := range m.rows {
		tp := tpOf(r)
		if r.HighWatermark < 0 {
			// The leader did not answer: no positions to compare or plot,
			// but keep what was seen for when it is back.
			if h, ok := m.hist[tp]; ok {
				hist[tp] = h
			}
			continue
		}
		lastLag[tp] = r.MaxLag
		if prev, ok := m.lastLag[tp]; ok {
			switch {
			case r.MaxLag > prev:
				trends[tp] = trendUp
			case r.MaxLag < prev:
				trends[tp] = trendDown
			default:
				trends[tp] = trendFlat
			}
		}
		s := sample{at: m.at, hw: r.HighWatermark, leo: map[int32]int64{r.Leader: r.LogEndOffset}}
		for _, rs := range r.ReplicaStates {
			s.leo[rs.ID] = rs.LogEndOffset
		}
		hist[tp] = m.hist[tp].add(s)
	}
	m.lastLag, m.trends, m.hist = lastLag, trends, hist
	m.refilter()
}

// show makes v the view on screen and derives everything from it.
func (m *Model) show(seq uint64, v api.ClusterView, partial bool) {
	if partial {
		m.partialSeq = seq
	} else {
		m.appliedSeq = seq
	}
	m.partial = partial
	m.have = true
	m.cluster = v
	m.at = m.now()
	m.rows = diagnose.MergePartitions(v)
	found := diagnose.Run(v)
	m.status = diagnose.BuildClusterStatus(v, found)
	m.causes = diagnose.Correlate(v, found)
	m.findings, m.causeOf = byCause(found, m.causes)
	m.nodes = nodeRows(v)
}

// applyPartial shows a partial view at once. The trends and sparklines
// wait for the complete one, so a node that is merely slow adds no gap.
func (m *Model) applyPartial(msg partialMsg) {
	if msg.seq <= m.appliedSeq || msg.seq <= m.pauseFloor || msg.seq < m.partialSeq {
		return
	}
	m.show(msg.seq, client.CarrySilent(msg.view, m.complete), true)
	m.refilter()
}

// refilter recomputes the partitions table after a snapshot, a sort or a
// filter change, keeping the selection on the same partition.
func (m *Model) refilter() {
	m.filt = parseFilter(m.filterText)
	m.visible = m.visible[:0]
	for _, r := range m.rows {
		if m.filt.match(r) {
			m.visible = append(m.visible, r)
		}
	}
	slices.SortStableFunc(m.visible, func(a, b api.PartitionRow) int {
		c := compareRows(m.sortBy, a, b)
		if m.sortRev {
			return -c
		}
		return c
	})
	if m.partIndex() < 0 && len(m.visible) > 0 {
		m.partSel = tpOf(m.visible[0])
	}
	m.fixScroll()
}

// partIndex is the selected partition's row in the table, -1 when hidden.
func (m *Model) partIndex() int {
	return slices.IndexFunc(m.visible, func(r api.PartitionRow) bool { return tpOf(r) == m.partSel })
}

func (m *Model) nodeIndex() int {
	return slices.IndexFunc(m.nodes, func(n nodeRow) bool { return n.id == m.nodeSel })
}

func (m *Model) findIndex() int {
	return slices.IndexFunc(m.findings, func(f api.Finding) bool { return findingKey(f) == m.findSel })
}

// key handles a key press in the current mode: confirming an election,
// typing a filter, reading the help, or browsing.
func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	switch {
	case m.confirm != nil:
		switch {
		case key.Matches(msg, k.Yes):
			tp := *m.confirm
			m.confirm, m.electing = nil, true
			m.setMsg(msgInfo, "electing the preferred leader of "+tpName(tp)+"…")
			return m.electCmd(tp)
		case key.Matches(msg, k.No):
			m.confirm = nil
			m.setMsg(msgInfo, "election cancelled")
		}
		return nil
	case m.editing:
		m.editFilter(msg)
		return nil
	case m.showHelp:
		switch {
		case key.Matches(msg, k.Quit):
			return tea.Quit
		case key.Matches(msg, k.Help), key.Matches(msg, k.Back):
			m.showHelp = false
		}
		return nil
	}

	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = true
	case key.Matches(msg, k.Refresh):
		if m.inflight >= maxInflight {
			m.setMsg(msgInfo, fmt.Sprintf("%d snapshots still running: a node is slow to answer", m.inflight))
			return nil
		}
		m.setMsg(msgInfo, "")
		return m.fetch()
	case key.Matches(msg, k.Pause):
		if m.paused {
			m.paused = false
			m.setMsg(msgInfo, "resumed")
			return m.fetch()
		}
		m.paused = true
		m.pauseFloor = m.nextSeq // what is in flight no longer changes the screen
		m.setMsg(msgInfo, "paused: the screen keeps this snapshot; p resumes, r refreshes once")
	case key.Matches(msg, k.Overview):
		m.setView(viewOverview)
	case key.Matches(msg, k.Partitions):
		m.setView(viewPartitions)
	case key.Matches(msg, k.Detail):
		m.detailFrom = viewPartitions
		m.setView(viewDetail)
	case key.Matches(msg, k.Raft):
		m.setView(viewRaft)
	case key.Matches(msg, k.Findings):
		m.setView(viewFindings)
	case key.Matches(msg, k.NextView):
		m.setView(m.view%5 + 1)
	case key.Matches(msg, k.PrevView):
		m.setView((m.view+3)%5 + 1)
	case key.Matches(msg, k.Back):
		m.back()
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.move(-max(1, m.bodyHeight()-2))
	case key.Matches(msg, k.PageDown):
		m.move(max(1, m.bodyHeight()-2))
	case key.Matches(msg, k.Top):
		m.move(-1 << 30)
	case key.Matches(msg, k.Bottom):
		m.move(1 << 30)
	case key.Matches(msg, k.Enter):
		m.enter()
	case m.view == viewPartitions && key.Matches(msg, k.Sort):
		m.sortBy = (m.sortBy + 1) % numSortColumns
		m.sortRev = false
		m.setMsg(msgInfo, "sorted by "+m.sortBy.String())
		m.refilter()
	case m.view == viewPartitions && key.Matches(msg, k.Reverse):
		m.sortRev = !m.sortRev
		m.refilter()
	case m.view == viewPartitions && key.Matches(msg, k.Filter):
		m.editing = true
		m.setMsg(msgInfo, "")
	case m.view == viewDetail && key.Matches(msg, k.Elect):
		m.askElect()
	case m.view == viewDetail && msg.String() == "e":
		// The binding is disabled without --allow-actions: say why.
		m.setMsg(msgInfo, "read-only: start `chronik tui --allow-actions` to elect leaders from here")
	}
	return nil
}

func (m *Model) setMsg(kind msgKind, s string) { m.msgKind, m.msg = kind, s }

// setView switches views; the detail shows the selected partition when
// none was opened yet.
func (m *Model) setView(v viewID) {
	if m.msgKind == msgInfo && !m.paused {
		m.msg = "" // hints belong to the view they were given in
	}
	if v == viewDetail && !m.haveDetail && m.partIndex() >= 0 {
		m.detail, m.haveDetail = m.partSel, true
	}
	m.view = v
	m.fixScroll()
}

// back leaves the detail for where it was opened from; in the partitions
// view it first clears a filter; elsewhere it goes to the overview.
func (m *Model) back() {
	m.setMsg(msgInfo, "")
	switch {
	case m.view == viewDetail:
		m.setView(m.detailFrom)
	case m.view == viewPartitions && m.filterText != "":
		m.filterText = ""
		m.refilter()
	default:
		m.setView(viewOverview)
	}
}

// move moves the selection of the current view's list by d rows.
func (m *Model) move(d int) {
	clampIdx := func(i, n int) int { return min(max(i, 0), n-1) }
	switch m.view {
	case viewPartitions:
		if len(m.visible) > 0 {
			m.partSel = tpOf(m.visible[clampIdx(max(m.partIndex(), 0)+d, len(m.visible))])
		}
	case viewOverview, viewRaft:
		if len(m.nodes) > 0 {
			i := m.nodeIndex()
			if i < 0 {
				i = 0
				if d > 0 {
					d-- // the first press selects the first node
				}
			}
			m.nodeSel = m.nodes[clampIdx(i+d, len(m.nodes))].id
		}
	case viewFindings:
		if len(m.findings) > 0 {
			m.findSel = findingKey(m.findings[clampIdx(max(m.findIndex(), 0)+d, len(m.findings))])
		}
	}
	m.fixScroll()
}

// enter opens what the selection names.
func (m *Model) enter() {
	switch m.view {
	case viewPartitions:
		if m.partIndex() >= 0 {
			m.detail, m.haveDetail, m.detailFrom = m.partSel, true, viewPartitions
			m.setView(viewDetail)
		}
	case viewOverview:
		if m.nodeIndex() >= 0 {
			m.setView(viewRaft)
		}
	case viewFindings:
		i := m.findIndex()
		if i < 0 && len(m.findings) > 0 {
			i = 0
		}
		if i < 0 {
			return
		}
		f := m.findings[i]
		switch {
		case f.Topic != "" && f.Partition != nil:
			m.detail, m.haveDetail, m.detailFrom = api.TopicPartition{Topic: f.Topic, Partition: *f.Partition}, true, viewFindings
			m.partSel = m.detail
			m.setView(viewDetail)
		case f.Node != nil:
			m.nodeSel = *f.Node
			if strings.HasPrefix(f.Code, "RAFT_") {
				m.setView(viewRaft)
			} else {
				m.setView(viewOverview)
			}
		}
	}
}

// editFilter applies a key to the filter being typed; the table follows
// as it is typed.
func (m *Model) editFilter(msg tea.KeyMsg) {
	switch msg.Type {
	case tea.KeyEnter:
		m.editing = false
	case tea.KeyEsc:
		m.editing = false
		m.filterText = ""
	case tea.KeyBackspace:
		if r := []rune(m.filterText); len(r) > 0 {
			m.filterText = string(r[:len(r)-1])
		}
	case tea.KeyCtrlU:
		m.filterText = ""
	case tea.KeySpace:
		m.filterText += " "
	case tea.KeyRunes:
		m.filterText += string(msg.Runes)
	default:
		return
	}
	m.refilter()
}

// askElect asks for confirmation of a preferred-leader election on the
// partition shown.
func (m *Model) askElect() {
	if !m.haveDetail || m.electing {
		return
	}
	tp := m.detail
	m.confirm = &tp
}

func (m *Model) electResult(msg electMsg) {
	name := tpName(msg.tp)
	if msg.err != nil {
		m.setMsg(msgErr, "✗ "+msg.err.Error())
		return
	}
	for _, r := range msg.res.Results {
		if r.Topic != msg.tp.Topic || r.Partition != msg.tp.Partition {
			continue
		}
		if r.Error == "" {
			m.setMsg(msgOK, "✓ "+name+": preferred leader elected")
			return
		}
		text := "✗ " + name + ": " + r.Error
		if r.Message != "" {
			text += ": " + r.Message
		}
		m.setMsg(msgErr, text)
		return
	}
	m.setMsg(msgErr, "✗ "+name+": the answer does not mention this partition")
}

// fixScroll keeps each list's selection inside its window.
func (m *Model) fixScroll() {
	h := m.listHeight()
	m.partOff = scrollTo(m.partOff, m.partIndex(), h, len(m.visible))
	m.nodeOff = scrollTo(m.nodeOff, m.nodeIndex(), m.nodeListHeight(), len(m.nodes))
	m.findOff = scrollTo(m.findOff, m.findIndex(), m.findingsListHeight(), len(m.findings))
}

// scrollTo is the first row to show so that sel is visible in a window of
// h rows over n rows.
func scrollTo(off, sel, h, n int) int {
	if h <= 0 {
		return 0
	}
	if sel >= 0 {
		if sel < off {
			off = sel
		}
		if sel >= off+h {
			off = sel - h + 1
		}
	}
	return max(0, min(off, n-h))
}
