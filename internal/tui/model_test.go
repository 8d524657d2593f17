package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// fakeSource is a test double of the cluster: it answers with whatever
// view the test set last. With gated set, each Snapshot call instead
// waits for the test to answer that very call (see next), so a test can
// make replies arrive out of order.
type fakeSource struct {
	mu    sync.Mutex
	view  api.ClusterView
	calls int
	gated bool
	queue chan *pendingCall
}

type pendingCall struct{ reply chan api.ClusterView }

func newFakeSource(v api.ClusterView) *fakeSource {
	return &fakeSource{view: v, queue: make(chan *pendingCall, 16)}
}

func (f *fakeSource) Snapshot(ctx context.Context) api.ClusterView {
	f.mu.Lock()
	f.calls++
	v, gated := f.view, f.gated
	f.mu.Unlock()
	if !gated {
		return v
	}
	c := &pendingCall{reply: make(chan api.ClusterView, 1)}
	f.queue <- c
	select {
	case v := <-c.reply:
		return v
	case <-ctx.Done():
		return api.ClusterView{}
	}
}

func (f *fakeSource) set(v api.ClusterView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.view = v
}

func (f *fakeSource) setGated(g bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gated = g
}

func (f *fakeSource) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// next is the next gated call, in the order the calls were made.
func (f *fakeSource) next(t *testing.T) *pendingCall {
	t.Helper()
	select {
	case c := <-f.queue:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no snapshot was requested")
		return nil
	}
}

// harness drives a Model the way bubbletea does, but from the test's
// goroutine: Update runs here, commands run in goroutines and their
// messages come back through a channel, applied one at a time by await.
// The refresh is an hour, so ticks never fire by themselves; tests send
// tickMsg when they want one. The commands still waiting at the end (the
// ticks) end with the test's context.
type harness struct {
	t    *testing.T
	m    *Model
	src  *fakeSource
	msgs chan tea.Msg
	now  time.Time
}

func newHarness(t *testing.T, v api.ClusterView, opts Options) *harness {
	t.Helper()
	src := newFakeSource(v)
	h := newHarnessWith(t, src, opts)
	h.src = src
	return h
}

// newHarnessWith is a harness over any Source (h.src stays nil).
func newHarnessWith(t *testing.T, src Source, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, msgs: make(chan tea.Msg, 64),
		now: time.Date(2025, 11, 28, 12, 0, 0, 0, time.UTC)}
	opts.Source = src
	if opts.Refresh == 0 {
		opts.Refresh = time.Hour
	}
	opts.Now = func() time.Time { return h.now }
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		h.m.cmds.closeAndWait()
	})
	h.m = New(ctx, opts)
	h.update(tea.WindowSizeMsg{Width: 80, Height: 24})
	h.run(h.m.Init())
	return h
}

// run starts a command the way bubbletea does.
func (h *harness) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		if batch, ok := msg.(tea.BatchMsg); ok {
			for _, c := range batch {
				h.run(c)
			}
			return
		}
		if msg != nil {
			h.msgs <- msg
		}
	}()
}

func (h *harness) update(msg tea.Msg) {
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

// await applies the commands' messages until one satisfies pred.
func (h *harness) await(what string, pred func(tea.Msg) bool) {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case msg := <-h.msgs:
			h.update(msg)
			if pred(msg) {
				return
			}
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func isSnapshot(msg tea.Msg) bool { _, ok := msg.(snapshotMsg); return ok }

// snapshot waits for the next snapshot to be applied (or dropped).
func (h *harness) snapshot() {
	h.t.Helper()
	h.await("a snapshot", isSnapshot)
}

// refresh shows v: the next snapshot answers with it.
func (h *harness) refresh(v api.ClusterView) {
	h.t.Helper()
	h.src.set(v)
	h.now = h.now.Add(2 * time.Second)
	h.keys("r")
	h.snapshot()
}

// keys presses keys: single characters, or names like "enter", "esc".
func (h *harness) keys(keys ...string) {
	h.t.Helper()
	for _, k := range keys {
		h.update(keyMsg(k))
	}
}

func keyMsg(k string) tea.KeyMsg {
	switch k {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case " ":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// typeText types s into the filter (spaces as the space key).
func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.keys(string(r))
	}
}

func (h *harness) screen() string { return h.m.View() }

func (h *harness) contains(want ...string) {
	h.t.Helper()
	s := h.screen()
	for _, w := range want {
		if !strings.Contains(s, w) {
			h.t.Fatalf("screen lacks %q:\n%s", w, s)
		}
	}
}

func (h *harness) lacks(unwanted ...string) {
	h.t.Helper()
	s := h.screen()
	for _, w := range unwanted {
		if strings.Contains(s, w) {
			h.t.Fatalf("screen shows %q:\n%s", w, s)
		}
	}
}

// line is the first screen line containing s.
func (h *harness) line(s string) string {
	h.t.Helper()
	for _, l := range strings.Split(h.screen(), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	h.t.Fatalf("no line contains %q:\n%s", s, h.screen())
	return ""
}

// row is the first body line whose leading fields (after the selection
// marker) are the given ones.
func (h *harness) row(fields ...string) string {
	h.t.Helper()
	for _, l := range strings.Split(h.screen(), "\n")[2:] {
		f := strings.Fields(strings.TrimPrefix(l, "›"))
		if len(f) >= len(fields) && slices.Equal(f[:len(fields)], fields) {
			return l
		}
	}
	h.t.Fatalf("no row starts with %q:\n%s", fields, h.screen())
	return ""
}

// partitionRows are the topic-partition names of the partitions table, top
// to bottom.
func (h *harness) partitionRows() []string {
	var out []string
	for _, l := range strings.Split(h.screen(), "\n")[3:] {
		f := strings.Fields(strings.TrimPrefix(l, "›"))
		if len(f) >= 2 && f[0] != "" && isDigits(f[1]) {
			out = append(out, f[0]+"-"+f[1])
		}
	}
	return out
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func newLoaded(t *testing.T, name string, opts Options) *harness {
	t.Helper()
	h := newHarness(t, admintest.LoadView(t, name+".json"), opts)
	h.snapshot()
	return h
}

func TestTUIOverview(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.contains("chronik › Overview", "[1 Overview]", "controller  node 1 ★", "partitions  3: ✓ 3 OK",
		"✗ 0 critical  ▲ 0 warning  · 0 info", "✓ HEALTHY", "● every 1h0m0s · 12:00:00")
	for _, id := range []string{"1", "2", "3"} {
		l := h.row(id)
		if !strings.Contains(l, "✓ up") || !strings.Contains(l, "4") {
			t.Errorf("node %s: %q", id, l)
		}
	}
	if l := h.line("leader"); !strings.Contains(l, "1532") {
		t.Errorf("the leader's commit is not shown: %q", l)
	}
	// The footer comes from the key bindings.
	h.contains("q quit", "? help", "r refresh", "p pause")
}

func TestTUINodeGoesUnreachable(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.lacks("unreachable")
	h.refresh(admintest.LoadView(t, "node-down.json"))
	h.contains("✗ 1 node unreachable", "✗ unreachable", "node 3: get http://10.0.0.3:9644/v1/node", "✗ NOT HEALTHY")
	if l := h.row("3"); !strings.Contains(l, "✗ unreachable") {
		t.Errorf("node 3's row: %q", l)
	}
	h.keys("4")
	if l := h.row("3"); !strings.Contains(l, "✗ unreachable") {
		t.Errorf("raft view, node 3: %q", l)
	}
	h.keys("2", "enter")
	h.contains("unreachable: 3", "✗ node unreachable")
	// Back up: the header says so no more.
	h.refresh(admintest.LoadView(t, "healthy.json"))
	h.lacks("unreachable")
}

func TestTUIStalledFollowerAppearsAndClears(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.keys("2")
	row := func(p string) string {
		t.Helper()
		return h.row("orders", p)
	}
	if l := row("0"); !strings.Contains(l, "✓ OK") {
		t.Fatalf("healthy orders-0: %q", l)
	}
	h.refresh(admintest.LoadView(t, "follower-stalled.json"))
	if l := row("0"); !strings.Contains(l, "⏸ STALLED") || !strings.Contains(l, "48210 ↑") {
		t.Fatalf("stalled orders-0 (status and a rising lag): %q", l)
	}
	if l := row("2"); !strings.Contains(l, "12 →") || !strings.Contains(l, "✓ OK") {
		t.Fatalf("orders-2 unchanged: %q", l)
	}
	h.keys("1")
	h.contains("⏸ 2 STALLED", "▲ 4 warning")
	h.keys("2")
	h.refresh(admintest.LoadView(t, "healthy.json"))
	if l := row("0"); !strings.Contains(l, "✓ OK") || !strings.Contains(l, "12 ↓") {
		t.Fatalf("orders-0 after the follower caught up: %q", l)
	}
	h.lacks("STALLED")
}

func TestTUINavigation(t *testing.T) {
	h := newLoaded(t, "follower-stalled", Options{})
	crumbs := []string{"chronik › Overview", "chronik › Partitions (3)", "chronik › Partitions › orders-0",
		"chronik › Raft", "chronik › Findings"}
	tabs := []string{"[1 Overview]", "[2 Partitions]", "[3 Partition]", "[4 Raft]", "[5 Findings (4)]"}
	for i, k := range []string{"1", "2", "3", "4", "5"} {
		h.keys(k)
		h.contains(crumbs[i], tabs[i])
	}
	h.keys("tab")
	h.contains(crumbs[0])
	h.keys("tab", "tab")
	h.contains(crumbs[2])
	h.keys("shift+tab", "shift+tab", "shift+tab")
	h.contains(crumbs[4])

	// enter on the second partition opens it; esc and backspace go back.
	h.keys("2", "down", "enter")
	h.contains("chronik › Partitions › orders-1", "[3 Partition]", "orders-1  leader 2 (epoch 3)")
	h.keys("esc")
	h.contains("chronik › Partitions (3)")
	if l := h.row("orders", "1"); !strings.HasPrefix(l, "›") {
		t.Errorf("the selection moved: %q", l)
	}
	h.keys("enter", "backspace")
	h.contains("chronik › Partitions (3)")
	h.keys("esc")
	h.contains("chronik › Overview")

	// Help: ? shows every binding and closes with ? or esc.
	h.keys("?")
	h.contains("chronik › Help", "shift+tab", "sort", "filter", "STALLED")
	h.keys("esc")
	h.contains("chronik › Overview")

	// q quits.
	if _, cmd := h.m.Update(keyMsg("q")); cmd == nil || !isQuit(cmd) {
		t.Fatal("q does not quit")
	}
	if _, cmd := h.m.Update(keyMsg("ctrl+c")); cmd == nil || !isQuit(cmd) {
		t.Fatal("ctrl+c does not quit")
	}
}

func isQuit(cmd tea.Cmd) bool {
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestTUISorting(t *testing.T) {
	h := newLoaded(t, "node-down", Options{})
	h.keys("2")
	if got := h.partitionRows(); !slices.Equal(got, []string{"orders-0", "orders-1", "orders-2"}) {
		t.Fatalf("by topic: %v", got)
	}
	h.contains("TOPIC▼")
	// s cycles: leader, epoch, ISR, HW, max lag.
	h.keys("s")
	h.contains("LEADER▼", "sorted by leader")
	if got := h.partitionRows(); !slices.Equal(got, []string{"orders-0", "orders-2", "orders-1"}) {
		t.Fatalf("by leader: %v", got)
	}
	h.keys("s")
	if got := h.partitionRows(); got[0] != "orders-2" {
		t.Fatalf("by epoch (highest first): %v", got)
	}
	h.keys("s", "s", "s")
	h.contains("MAX LAG▼")
	if got := h.partitionRows(); !slices.Equal(got, []string{"orders-2", "orders-1", "orders-0"}) {
		t.Fatalf("by max lag: %v", got)
	}
	h.keys("S")
	h.contains("MAX LAG▲")
	if got := h.partitionRows(); !slices.Equal(got, []string{"orders-0", "orders-1", "orders-2"}) {
		t.Fatalf("by max lag, reversed: %v", got)
	}
	h.keys("s", "s")
	h.contains("TOPIC▼")

	// Status: the most severe first.
	h.refresh(admintest.LoadView(t, "follower-stalled.json"))
	h.keys("s", "s", "s", "s", "s", "s")
	h.contains("STATUS▼")
	rows := h.partitionRows()
	if rows[len(rows)-1] != "orders-2" {
		t.Fatalf("by status, OK last: %v", rows)
	}
}

func TestTUIFiltering(t *testing.T) {
	v := admintest.LoadView(t, "follower-stalled.json")
	// A second topic, healthy, so a topic filter has something to hide.
	other := v.Nodes[0].Partitions.Partitions[2]
	other.Topic, other.Partition, other.Role, other.Leader = "payments", 0, api.ReplicaLeader, 1
	other.Replicas, other.ISR, other.Fetcher = []int32{1, 2, 3}, []int32{1, 2, 3}, nil
	other.Followers = []api.ReplicaState{{ID: 2, LogEndOffset: 10, InISR: true, LastCaughtUpSeconds: ptr(0.1)},
		{ID: 3, LogEndOffset: 10, InISR: true, LastCaughtUpSeconds: ptr(0.1)}}
	v.Nodes[0].Partitions.Partitions = append(v.Nodes[0].Partitions.Partitions, other)

	h := newLoaded(t, "healthy", Options{})
	h.refresh(v)
	h.keys("2")
	if got := h.partitionRows(); len(got) != 4 {
		t.Fatalf("unfiltered: %v", got)
	}
	h.keys("/")
	h.typeText("PAY")
	h.contains("/PAY█")
	if got := h.partitionRows(); !slices.Equal(got, []string{"payments-0"}) {
		t.Fatalf("topic substring, case-insensitive: %v", got)
	}
	h.keys("enter")
	h.contains("chronik › Partitions (1 of 4) › filter “PAY”")
	h.keys("esc") // clears the filter first
	h.contains("chronik › Partitions (4)")

	h.keys("/")
	h.typeText("Status:STALLED")
	h.keys("enter")
	if got := h.partitionRows(); !slices.Equal(got, []string{"orders-0", "orders-1"}) {
		t.Fatalf("status:stalled: %v", got)
	}
	h.keys("/", "backspace", "backspace", "backspace", "backspace", "backspace", "backspace", "backspace")
	h.typeText("ok")
	h.keys("enter")
	if got := h.partitionRows(); !slices.Equal(got, []string{"orders-2", "payments-0"}) {
		t.Fatalf("status:ok: %v", got)
	}
	// Kinds combine: a status and a topic word.
	h.keys("/")
	h.typeText(" pay")
	h.keys("enter")
	if got := h.partitionRows(); !slices.Equal(got, []string{"payments-0"}) {
		t.Fatalf("status:ok pay: %v", got)
	}
	// esc while typing clears it.
	h.keys("/", "esc")
	if got := h.partitionRows(); len(got) != 4 {
		t.Fatalf("after esc: %v", got)
	}
	// Digits and letters go to the filter, not to the views.
	h.keys("/")
	h.typeText("leader:2")
	h.contains("chronik › Partitions (1 of 4)")
	h.keys("enter")
	if got := h.partitionRows(); !slices.Equal(got, []string{"orders-1"}) {
		t.Fatalf("leader:2: %v", got)
	}
	h.keys("/")
	h.typeText(" bogus:x")
	h.keys("enter")
	h.contains("filter: ignored bogus:x")
	// A filter that matches nothing says how to get out.
	h.keys("esc", "/")
	h.typeText("nothing")
	h.keys("enter")
	h.contains("no partition matches “nothing”; esc clears the filter")
}

func ptr(v float64) *float64 { return &v }

func TestTUIPartitionDetail(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.keys("2", "enter")
	h.contains("orders-0  leader 1 (epoch 3)", "status ✓ OK", "HW 119988  LEO 120000  acks=all waiting 3 (oldest 0.02s)",
		"the sparklines fill in")
	// Several refreshes: the sparklines show HW and every replica's LEO.
	for range 5 {
		h.refresh(admintest.LoadView(t, "healthy.json"))
	}
	h.refresh(admintest.LoadView(t, "follower-stalled.json"))
	h.contains("HW      ", "LEO 1   ", "LEO 2   ", "LEO 3   ", "⏸ 42.5s ago", "stalled: 3")
	leo3 := h.line("LEO 3   ")
	if !strings.ContainsAny(leo3, "▁") || !strings.Contains(leo3, "█") || !strings.HasSuffix(leo3, " 71790") {
		t.Errorf("replica 3's sparkline should drop to the bottom: %q", leo3)
	}
	if l := h.row("3", "follower"); !strings.Contains(l, "48210") || !strings.Contains(l, "✗ no") {
		t.Errorf("replica 3: %q", l)
	}

	// A fetcher error, from the follower's own answer.
	v := admintest.LoadView(t, "follower-stalled.json")
	for i, p := range v.Nodes[2].Partitions.Partitions {
		if p.Topic == "orders" && p.Partition == 0 {
			v.Nodes[2].Partitions.Partitions[i].Fetcher.LastError = "fetch from 1: NOT_LEADER_OR_FOLLOWER"
		}
	}
	h.refresh(v)
	h.contains("✗ error (below)", "replica 3 fetcher: fetch from 1: NOT_LEADER_OR_FOLLOWER")

	// The history is bounded.
	for range historyMax + 10 {
		h.refresh(admintest.LoadView(t, "healthy.json"))
	}
	if n := len(h.m.hist[api.TopicPartition{Topic: "orders", Partition: 0}]); n > historyMax || n > int(historyWindow/(2*time.Second))+1 {
		t.Errorf("%d samples kept", n)
	}
}

func TestTUIRaftView(t *testing.T) {
	h := newLoaded(t, "node-down", Options{})
	h.keys("4")
	h.contains("raft leader node 1 (term 4, commit 1547): its peers", "PEER", "MATCH")
	if l := h.line("probe"); !strings.Contains(l, "1540") || !strings.Contains(l, "✗ no") {
		t.Errorf("peer 3: %q", l)
	}
	h.keys("down", "down", "down")
	h.contains("chronik › Raft › node 3")
}

func TestTUIFindingsJump(t *testing.T) {
	h := newLoaded(t, "node-down", Options{})
	h.keys("5")
	h.contains("[5 Findings (6)]", "AT_MIN_ISR", "evidence: ", "next: ", "enter opens orders-0")
	h.keys("enter")
	h.contains("chronik › Findings › orders-0")
	h.keys("esc")
	h.contains("chronik › Findings")
	// NODE_UNREACHABLE names node 3: enter shows it in the overview.
	for range 4 {
		h.keys("down")
	}
	h.contains("NODE_UNREACHABLE  node 3")
	h.keys("enter")
	h.contains("chronik › Overview › node 3")
	if l := h.row("3"); !strings.HasPrefix(l, "›") {
		t.Errorf("node 3 is not selected: %q", l)
	}
	// RAFT_FOLLOWER_BEHIND: the raft view.
	h.keys("5", "down")
	h.contains("RAFT_FOLLOWER_BEHIND  node 3")
	h.keys("enter")
	h.contains("chronik › Raft › node 3")
	// The selection stays on its finding when the list changes.
	h.keys("5")
	h.refresh(admintest.LoadView(t, "node-down.json"))
	h.contains("RAFT_FOLLOWER_BEHIND  node 3")
}

func TestTUILateRepliesDropped(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.keys("2")
	h.src.setGated(true)
	h.keys("r") // seq 2: will answer late with the stalled view
	first := h.src.next(t)
	h.keys("r") // seq 3: answers first with node-down
	second := h.src.next(t)
	second.reply <- admintest.LoadView(t, "node-down.json")
	h.snapshot()
	h.contains("▲ AT_MIN_ISR")
	first.reply <- admintest.LoadView(t, "follower-stalled.json")
	h.snapshot()
	h.lacks("STALLED")
	h.contains("▲ AT_MIN_ISR")
	if h.m.dropped != 1 || h.m.appliedSeq != 3 {
		t.Fatalf("dropped %d, applied seq %d; want 1 and 3", h.m.dropped, h.m.appliedSeq)
	}
}

func TestTUIPause(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.keys("2")
	calls := h.src.callCount()
	// A tick takes a snapshot.
	h.src.set(admintest.LoadView(t, "follower-stalled.json"))
	h.update(tickMsg{})
	h.snapshot()
	h.contains("⏸ STALLED")
	if h.src.callCount() != calls+1 {
		t.Fatalf("%d snapshots after a tick, want %d", h.src.callCount(), calls+1)
	}

	// A snapshot in flight when p is pressed does not change the screen.
	h.src.setGated(true)
	h.update(tickMsg{})
	inflight := h.src.next(t)
	h.keys("p")
	h.contains("❚❚ PAUSED", "paused: the screen keeps this snapshot")
	inflight.reply <- admintest.LoadView(t, "healthy.json")
	h.snapshot()
	h.contains("⏸ STALLED")
	// Paused, ticks take no snapshot.
	h.src.setGated(false)
	calls = h.src.callCount()
	h.update(tickMsg{})
	h.update(tickMsg{})
	if h.src.callCount() != calls {
		t.Fatalf("paused, yet %d snapshots taken", h.src.callCount()-calls)
	}
	// r refreshes once while paused.
	h.refresh(admintest.LoadView(t, "node-down.json"))
	h.contains("❚❚ PAUSED", "▲ AT_MIN_ISR")
	// p resumes, with a snapshot at once.
	h.src.set(admintest.LoadView(t, "healthy.json"))
	h.keys("p")
	h.snapshot()
	h.contains("● every", "✓ OK", "resumed")
	h.lacks("PAUSED")
}

func TestTUISnapshotsDoNotPileUp(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.src.setGated(true)
	calls := h.src.callCount()
	for range maxInflight + 3 {
		h.update(tickMsg{})
	}
	var pending []*pendingCall
	for range maxInflight {
		pending = append(pending, h.src.next(t))
	}
	h.keys("r") // nor by hand
	h.contains("4 snapshots still running")
	if got := h.src.callCount() - calls; got != maxInflight {
		t.Fatalf("%d snapshots in flight, want at most %d", got, maxInflight)
	}
	for _, c := range pending {
		c.reply <- admintest.LoadView(t, "healthy.json")
		h.snapshot()
	}
	if h.m.inflight != 0 {
		t.Fatalf("inflight %d after every reply", h.m.inflight)
	}
}

// checkFits fails when the screen is not exactly h lines of at most w
// columns.
func checkFits(t *testing.T, screen string, w, h int, what string) {
	t.Helper()
	lines := strings.Split(screen, "\n")
	if len(lines) != h {
		t.Errorf("%s: %d lines, want %d", what, len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("%s: line %d is %d columns wide (max %d): %q", what, i+1, n, w, l)
		}
	}
}

func TestTUIFitsTheWindow(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 50}, {40, 10}, {100, 30}} {
		for _, name := range []string{"healthy", "follower-stalled", "node-down"} {
			for _, color := range []bool{false, true} {
				h := newLoaded(t, name, Options{Color: color, Elect: func(context.Context, []string, api.TopicPartition) (api.ElectLeadersResult, error) {
					return api.ElectLeadersResult{}, nil
				}})
				h.update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				for _, k := range []string{"1", "2", "3", "4", "5", "?"} {
					h.keys(k)
					checkFits(t, h.screen(), size[0], size[1], name+" view "+k)
					h.keys("esc")
				}
				// The longest message lines: the election question, the filter.
				h.keys("2", "enter", "e")
				checkFits(t, h.screen(), size[0], size[1], name+" confirm")
				h.keys("n", "2", "/")
				h.typeText(strings.Repeat("x", 100))
				checkFits(t, h.screen(), size[0], size[1], name+" filter")
			}
		}
	}
	// Smaller than the minimum: a notice, still within the window.
	h := newLoaded(t, "healthy", Options{})
	h.update(tea.WindowSizeMsg{Width: 30, Height: 5})
	checkFits(t, h.screen(), 30, 5, "tiny")
	h.contains("window too small")
}

func TestTUIColourAlwaysWithSymbol(t *testing.T) {
	h := newLoaded(t, "follower-stalled", Options{Color: true})
	h.keys("2")
	s := h.screen()
	if !strings.Contains(s, "\x1b[") {
		t.Fatal("no colour with Color set")
	}
	plain := ansi.Strip(s)
	for _, want := range []string{"⏸ STALLED", "✓ OK"} {
		if !strings.Contains(plain, want) {
			t.Errorf("%q missing: colour must not be the only mark", want)
		}
	}
	h2 := newLoaded(t, "follower-stalled", Options{})
	h2.keys("2")
	if strings.Contains(h2.screen(), "\x1b[") {
		t.Fatal("colour without Color")
	}
}

func TestTUIElection(t *testing.T) {
	type call struct {
		admins []string
		tp     api.TopicPartition
	}
	var mu sync.Mutex
	var calls []call
	answer := api.ElectLeadersResult{Results: []api.ElectionResult{{Topic: "orders", Partition: 1}}}
	var answerErr error
	elect := func(_ context.Context, admins []string, tp api.TopicPartition) (api.ElectLeadersResult, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{admins, tp})
		return answer, answerErr
	}
	h := newLoaded(t, "node-down", Options{Elect: elect})
	h.keys("2", "down", "enter")
	h.contains("e elect preferred leader")
	// n cancels.
	h.keys("e")
	h.contains("Elect the preferred leader of orders-1 (replica 2; the leader now is 2)? y/n")
	h.keys("n")
	h.contains("election cancelled")
	// Other keys are ignored while asking.
	h.keys("e", "q", "1")
	h.contains("? y/n", "chronik › Partitions › orders-1")
	h.keys("y")
	h.contains("electing the preferred leader of orders-1…")
	h.await("the election's answer", func(msg tea.Msg) bool { _, ok := msg.(electMsg); return ok })
	h.contains("✓ orders-1: preferred leader elected")
	h.snapshot() // the election refreshes
	mu.Lock()
	if len(calls) != 1 || calls[0].tp != (api.TopicPartition{Topic: "orders", Partition: 1}) ||
		!slices.Equal(calls[0].admins, []string{"http://10.0.0.1:9644", "http://10.0.0.2:9644"}) {
		t.Fatalf("elect calls %+v; want one for orders-1 to the answering nodes, the controller first", calls)
	}
	answer = api.ElectLeadersResult{Results: []api.ElectionResult{{Topic: "orders", Partition: 1,
		Error: "ELECTION_NOT_NEEDED", Message: "replica 2 already leads"}}}
	mu.Unlock()
	h.keys("e", "y")
	h.await("the election's answer", func(msg tea.Msg) bool { _, ok := msg.(electMsg); return ok })
	h.contains("✗ orders-1: ELECTION_NOT_NEEDED: replica 2 already leads")
	mu.Lock()
	answerErr = errors.New("elect preferred leader of orders-1: refused: it needs the admin token")
	mu.Unlock()
	h.keys("e", "y")
	h.await("the election's answer", func(msg tea.Msg) bool { _, ok := msg.(electMsg); return ok })
	h.contains("✗ elect preferred leader of orders-1: refused: it needs the admin token")
}

func TestTUIReadOnlyByDefault(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.keys("2", "enter")
	h.lacks("e elect")
	h.keys("e")
	h.contains("read-only: start `chronik tui --allow-actions`")
	h.lacks("y/n")
	h.keys("y") // nothing to confirm
	if h.m.electing || h.m.confirm != nil {
		t.Fatal("an election started without --allow-actions")
	}
	h.keys("?")
	h.contains("read-only: start with --allow-actions")
	h.lacks("elect preferred leader")
}

func TestTUIRefreshFloor(t *testing.T) {
	m := New(context.Background(), Options{Source: newFakeSource(api.ClusterView{}), Refresh: time.Millisecond})
	if m.refresh != MinRefresh {
		t.Fatalf("refresh %v, want the floor %v", m.refresh, MinRefresh)
	}
	m = New(context.Background(), Options{Source: newFakeSource(api.ClusterView{})})
	if m.refresh != DefaultRefresh || m.timeout != DefaultTimeout {
		t.Fatalf("defaults: refresh %v timeout %v", m.refresh, m.timeout)
	}
}

func TestTUIWaitingForFirstSnapshot(t *testing.T) {
	src := newFakeSource(admintest.LoadView(t, "healthy.json"))
	src.setGated(true)
	m := New(context.Background(), Options{Source: src})
	s := m.View()
	if !strings.Contains(s, "waiting for the first snapshot") || !strings.Contains(s, "connecting…") {
		t.Fatalf("before any snapshot:\n%s", s)
	}
	checkFits(t, s, 80, 24, "before the first snapshot")
}

func TestTUIScrolling(t *testing.T) {
	v := admintest.LoadView(t, "healthy.json")
	var leaderInfo api.PartitionInfo
	for _, p := range v.Nodes[0].Partitions.Partitions {
		if p.Role == api.ReplicaLeader {
			leaderInfo = p
		}
	}
	var many []api.PartitionInfo
	for i := range 50 {
		p := leaderInfo
		p.Topic = fmt.Sprintf("t%02d", i)
		many = append(many, p)
	}
	v.Nodes[0].Partitions.Partitions = many
	v.Nodes[1].Partitions.Partitions, v.Nodes[2].Partitions.Partitions = nil, nil
	h := newHarness(t, v, Options{})
	h.snapshot()
	h.keys("2")
	checkFits(t, h.screen(), 80, 24, "50 partitions")
	if got := h.partitionRows(); len(got) != 19 || got[0] != "t00-0" {
		t.Fatalf("first page: %d rows from %v", len(got), got)
	}
	h.keys("G")
	if l := h.row("t49", "0"); !strings.HasPrefix(l, "›") {
		t.Fatalf("G: the last row is not selected: %q", l)
	}
	h.keys("g")
	if l := h.row("t00", "0"); !strings.HasPrefix(l, "›") {
		t.Fatalf("g: the first row is not selected: %q", l)
	}
	h.keys("pgdown")
	if l := h.row("t18", "0"); !strings.HasPrefix(l, "›") {
		t.Fatalf("pgdown: %q", l)
	}
	for range 30 {
		h.keys("down")
	}
	got := h.partitionRows()
	if !slices.Contains(got, "t48-0") || got[len(got)-1] != "t48-0" {
		t.Fatalf("the selection scrolls into view at the bottom: %v", got)
	}
	if l := h.row("t48", "0"); !strings.HasPrefix(l, "›") {
		t.Fatalf("t48 is not selected: %q", l)
	}
	// A smaller window keeps the selection visible.
	h.update(tea.WindowSizeMsg{Width: 80, Height: 12})
	if l := h.row("t48", "0"); !strings.HasPrefix(l, "›") {
		t.Fatalf("after a resize: %q", l)
	}
	checkFits(t, h.screen(), 80, 12, "resized")
}

// A paused leader: its partition is shown as unknown, never OK, with its
// own mark, and the cluster is not healthy.
func TestTUILeaderPaused(t *testing.T) {
	h := newLoaded(t, "healthy", Options{})
	h.refresh(admintest.LoadView(t, "leader-paused.json"))
	h.contains("✗ 1 node unreachable", "? 1 LEADER_UNREACHABLE", "✓ 2 OK", "✗ NOT HEALTHY")
	h.lacks("✓ HEALTHY")
	h.keys("2")
	row := h.row("orders", "1")
	if !strings.Contains(row, "? LEADER_UNREACHABLE") || strings.Contains(row, "OK") {
		t.Errorf("orders-1 row: %q\n%s", row, h.screen())
	}
}

// The Findings view shows the causes first, then their findings grouped
// under them, each row naming its cause; the selected finding says which
// cause it is under and that cause's next step.
func TestTUIFindingsCausesFirst(t *testing.T) {
	h := newLoaded(t, "node-down", Options{})
	h.keys("5")
	lines := strings.Split(h.screen(), "\n")
	causeAt, tableAt := -1, -1
	for i, l := range lines {
		if causeAt < 0 && strings.HasPrefix(l, "cause ✗ CRITICAL NODE_DOWN node 3") {
			causeAt = i
		}
		if tableAt < 0 && strings.Contains(l, "SEVERITY") && strings.Contains(l, "CAUSE") {
			tableAt = i
		}
	}
	if causeAt < 0 || tableAt < 0 || causeAt > tableAt {
		t.Fatalf("cause line at %d, table at %d:\n%s", causeAt, tableAt, h.screen())
	}
	if n := strings.Count(h.screen(), "NODE_DOWN node 3 "); n < 7 { // the cause line and six rows
		t.Errorf("%d rows name the cause:\n%s", n, h.screen())
	}
	h.contains("under cause NODE_DOWN node 3 · its next step: start node 3 again")

	// A paused leader: its cause first, with the critical finding on top.
	h.refresh(admintest.LoadView(t, "leader-paused.json"))
	h.contains("cause ✗ CRITICAL NODE_UNREACHABLE node 2", "LEADER_UNREACHABLE")
	if got := h.m.findings[0].Code; got != "LEADER_UNREACHABLE" {
		t.Errorf("first finding %s, want the cause's most severe, LEADER_UNREACHABLE", got)
	}
}

// progressSource answers each snapshot with a partial view at once and
// the complete one when the test releases it.
type progressSource struct {
	partial, final api.ClusterView
	release        chan struct{}
}

func (p *progressSource) Snapshot(ctx context.Context) api.ClusterView {
	return p.SnapshotProgress(ctx, func(api.ClusterView) {})
}

func (p *progressSource) SnapshotProgress(ctx context.Context, partial func(api.ClusterView)) api.ClusterView {
	partial(p.partial)
	select {
	case <-p.release:
		return p.final
	case <-ctx.Done():
		return api.ClusterView{}
	}
}

// While a node is slow to answer, the monitor shows what the others said
// at once, marked partial: the slow node waiting, its partition's leader
// unknown, never OK and never healthy; the complete view replaces it.
func TestTUIShowsPartialSnapshotsAtOnce(t *testing.T) {
	final := admintest.LoadView(t, "leader-paused.json")
	partial := admintest.LoadView(t, "healthy.json")
	n := &partial.Nodes[1] // node 2, leader of orders-1, not answered yet
	*n = api.NodeView{Admin: n.Admin, NodeID: 2, Error: api.PendingError, Pending: true}
	partial.Partial = true
	src := &progressSource{partial: partial, final: final, release: make(chan struct{})}
	h := newHarnessWith(t, src, Options{})
	h.await("a partial view", func(msg tea.Msg) bool { _, ok := msg.(partialMsg); return ok })
	h.contains("◐ partial: waiting for 1 node", "◐ waiting", "? 1 LEADER_UNREACHABLE", "✓ 2 OK", "✗ NOT HEALTHY")
	h.lacks("✓ HEALTHY", "unreachable")
	h.keys("2", "enter") // orders-0: node 2 is one of its followers
	h.contains("waiting for: 2", "◐ waiting for its answer")
	h.lacks("unreachable")
	h.keys("5")
	h.contains("Findings (0)") // nobody is accused before its time is up

	close(src.release)
	h.snapshot()
	h.lacks("partial", "waiting")
	h.contains("✗ 1 node unreachable", "Findings (2)", "cause ✗ CRITICAL NODE_UNREACHABLE node 2")

	// The next refresh's partial view keeps node 2 silent, as the last
	// complete view had it, instead of flipping it back to waiting.
	h.keys("r")
	h.await("the next partial view", func(msg tea.Msg) bool { _, ok := msg.(partialMsg); return ok })
	h.lacks("partial", "waiting")
	h.contains("✗ 1 node unreachable", "Findings (2)")
	h.snapshot()
}

// gatedProgress answers each snapshot with a partial view at once and its
// complete view when the test releases that very call.
type gatedProgress struct {
	partial, final api.ClusterView
	calls          chan chan struct{}
}

func (g *gatedProgress) Snapshot(ctx context.Context) api.ClusterView {
	return g.SnapshotProgress(ctx, func(api.ClusterView) {})
}

func (g *gatedProgress) SnapshotProgress(ctx context.Context, partial func(api.ClusterView)) api.ClusterView {
	partial(g.partial)
	release := make(chan struct{})
	g.calls <- release
	select {
	case <-release:
		return g.final
	case <-ctx.Done():
		return api.ClusterView{}
	}
}

// Overlapping snapshots while a node is slow: the complete view of an
// older snapshot still replaces a newer partial one, so complete views
// (and the history they feed) keep coming.
func TestTUIOverlappingPartialSnapshots(t *testing.T) {
	partial := admintest.LoadView(t, "healthy.json")
	n := &partial.Nodes[1]
	*n = api.NodeView{Admin: n.Admin, NodeID: 2, Error: api.PendingError, Pending: true}
	partial.Partial = true
	src := &gatedProgress{partial: partial, final: admintest.LoadView(t, "leader-paused.json"), calls: make(chan chan struct{}, 8)}
	h := newHarnessWith(t, src, Options{})
	isPartial := func(msg tea.Msg) bool { _, ok := msg.(partialMsg); return ok }
	h.await("snapshot 1's partial view", isPartial)
	first := <-src.calls
	h.keys("r")
	h.await("snapshot 2's partial view", isPartial)
	second := <-src.calls
	if h.m.partialSeq != 2 || h.m.appliedSeq != 0 {
		t.Fatalf("partial %d applied %d", h.m.partialSeq, h.m.appliedSeq)
	}
	close(first)
	h.snapshot()
	if h.m.appliedSeq != 1 || h.m.partial {
		t.Fatalf("snapshot 1's complete view was not shown over snapshot 2's partial one: applied %d partial %v", h.m.appliedSeq, h.m.partial)
	}
	h.contains("✗ 1 node unreachable")
	close(second)
	h.snapshot()
	if h.m.appliedSeq != 2 {
		t.Errorf("applied %d", h.m.appliedSeq)
	}
}
