package raftstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ---------------------------------------------------------------------------------------
// helpers

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter sends log lines to t.Log so they show only for failing tests.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func openStore(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ent(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{
		Index: new(index),
		Term:  new(term),
		Type:  raftpb.EntryNormal.Enum(),
		Data:  []byte(data),
	}
}

// ents builds entries lo..hi (inclusive) of one term.
func ents(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, ent(i, term, fmt.Sprintf("e%d-t%d", i, term)))
	}
	return out
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func confState(voters ...uint64) *raftpb.ConfState {
	return &raftpb.ConfState{Voters: voters}
}

func snapshot(index, term uint64, cs *raftpb.ConfState, data string) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data: []byte(data),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(index),
			Term:      new(term),
			ConfState: cs,
		},
	}
}

func cloneEnts(in []*raftpb.Entry) []*raftpb.Entry {
	out := make([]*raftpb.Entry, len(in))
	for i, e := range in {
		out[i] = proto.CloneOf(e)
	}
	return out
}

// normSnap gives a snapshot every optional field, so that proto.Equal compares content,
// not which side filled in defaults.
func normSnap(s *raftpb.Snapshot) *raftpb.Snapshot {
	if s == nil {
		return nil
	}
	return raftpb.EnsureSnapshot(proto.CloneOf(s))
}

func mustLast(t testing.TB, s raft.Storage) uint64 {
	t.Helper()
	i, err := s.LastIndex()
	if err != nil {
		t.Fatalf("last index: %v", err)
	}
	return i
}

func mustFirst(t testing.TB, s raft.Storage) uint64 {
	t.Helper()
	i, err := s.FirstIndex()
	if err != nil {
		t.Fatalf("first index: %v", err)
	}
	return i
}

func mustEntries(t testing.TB, s raft.Storage, lo, hi, maxSize uint64) []*raftpb.Entry {
	t.Helper()
	es, err := s.Entries(lo, hi, maxSize)
	if err != nil {
		t.Fatalf("entries [%d,%d): %v", lo, hi, err)
	}
	return es
}

// ---------------------------------------------------------------------------------------
// MemoryStorage equivalence

type opKind int

const (
	opSave    opKind = iota // Save(hs, ents, snap) vs ApplySnapshot + Append + SetHardState
	opCreate                // CreateSnapshot
	opCompact               // Compact
	opRestart               // Close + Open (Store only)
)

type op struct {
	kind    opKind
	hs      *raftpb.HardState
	ents    []*raftpb.Entry
	snap    *raftpb.Snapshot
	index   uint64
	cs      *raftpb.ConfState
	data    []byte
	wantErr error // checked in table tests; the pair also checks both sides agree
}

func (o op) String() string {
	switch o.kind {
	case opSave:
		var parts []string
		if o.snap != nil {
			parts = append(parts, fmt.Sprintf("snap@%d/t%d", o.snap.GetMetadata().GetIndex(), o.snap.GetMetadata().GetTerm()))
		}
		if len(o.ents) > 0 {
			parts = append(parts, fmt.Sprintf("ents[%d..%d]", o.ents[0].GetIndex(), o.ents[len(o.ents)-1].GetIndex()))
		}
		if o.hs != nil {
			parts = append(parts, fmt.Sprintf("hs{%d,%d,%d}", o.hs.GetTerm(), o.hs.GetVote(), o.hs.GetCommit()))
		}
		return "save " + strings.Join(parts, " ")
	case opCreate:
		return fmt.Sprintf("create-snapshot@%d", o.index)
	case opCompact:
		return fmt.Sprintf("compact@%d", o.index)
	case opRestart:
		return "restart"
	}
	return "?"
}

func appendOp(es ...*raftpb.Entry) op { return op{kind: opSave, ents: es} }
func hsOp(hs *raftpb.HardState) op    { return op{kind: opSave, hs: hs} }
func snapOp(s *raftpb.Snapshot) op    { return op{kind: opSave, snap: s} }
func createOp(i uint64, cs *raftpb.ConfState, data string) op {
	return op{kind: opCreate, index: i, cs: cs, data: []byte(data)}
}
func compactOp(i uint64) op { return op{kind: opCompact, index: i} }
func restartOp() op         { return op{kind: opRestart} }
func withErr(o op, err error) op {
	o.wantErr = err
	return o
}

// pair drives a Store and a MemoryStorage with the same operations and compares them.
type pair struct {
	t    testing.TB
	path string
	st   *Store
	ms   *raft.MemoryStorage
	rng  *rand.Rand
}

func newPair(t testing.TB, seed uint64) *pair {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raft.db")
	p := &pair{t: t, path: path, ms: raft.NewMemoryStorage(), rng: rand.New(rand.NewPCG(seed, 99))}
	p.st = p.open()
	t.Cleanup(func() { _ = p.st.Close() })
	return p
}

func (p *pair) open() *Store {
	p.t.Helper()
	s, err := Open(p.path, testLogger(p.t))
	if err != nil {
		p.t.Fatalf("open %s: %v", p.path, err)
	}
	return s
}

// do applies o to both sides and returns the Store's error after checking that
// MemoryStorage returned the very same one.
func (p *pair) do(o op) error {
	p.t.Helper()
	var stErr, msErr error
	switch o.kind {
	case opSave:
		// Store: one atomic transaction. MemoryStorage: the calls raftexample makes, in
		// the same order, stopping at the first error as the transaction does.
		stErr = p.st.Save(proto.CloneOf(o.hs), cloneEnts(o.ents), proto.CloneOf(o.snap))
		if o.snap != nil && !raft.IsEmptySnap(o.snap) {
			msErr = p.ms.ApplySnapshot(proto.CloneOf(o.snap))
		}
		if msErr == nil {
			msErr = p.ms.Append(cloneEnts(o.ents))
		}
		if msErr == nil && !raft.IsEmptyHardState(o.hs) {
			msErr = p.ms.SetHardState(proto.CloneOf(o.hs))
		}
	case opCreate:
		var stSnap, msSnap *raftpb.Snapshot
		stSnap, stErr = p.st.CreateSnapshot(o.index, proto.CloneOf(o.cs), slices.Clone(o.data))
		msSnap, msErr = p.ms.CreateSnapshot(o.index, proto.CloneOf(o.cs), slices.Clone(o.data))
		if stErr == nil && msErr == nil && !proto.Equal(normSnap(stSnap), normSnap(msSnap)) {
			p.t.Fatalf("%v: created snapshot differs:\nstore:  %v\nmemory: %v", o, stSnap, msSnap)
		}
	case opCompact:
		stErr = p.st.Compact(o.index)
		msErr = p.ms.Compact(o.index)
	case opRestart:
		if err := p.st.Close(); err != nil {
			p.t.Fatalf("close: %v", err)
		}
		p.st = p.open()
	}
	if stErr != msErr { // raft compares these errors with ==, so identity matters
		p.t.Fatalf("%v: store error %v, memory storage error %v", o, stErr, msErr)
	}
	return stErr
}

// check compares every raft.Storage method of the two sides.
func (p *pair) check(step string) {
	p.t.Helper()
	st, ms := p.st, p.ms

	stHS, stCS, stErr := st.InitialState()
	msHS, msCS, msErr := ms.InitialState()
	if stErr != nil || msErr != nil {
		p.t.Fatalf("%s: initial state errors: store %v, memory %v", step, stErr, msErr)
	}
	if stHS.GetTerm() != msHS.GetTerm() || stHS.GetVote() != msHS.GetVote() || stHS.GetCommit() != msHS.GetCommit() {
		p.t.Fatalf("%s: hard state: store %v, memory %v", step, stHS, msHS)
	}
	if !proto.Equal(raftpb.EnsureConfState(proto.CloneOf(stCS)), raftpb.EnsureConfState(proto.CloneOf(msCS))) {
		p.t.Fatalf("%s: conf state: store %v, memory %v", step, stCS, msCS)
	}

	stSnap, stErr := st.Snapshot()
	msSnap, msErr := ms.Snapshot()
	if stErr != nil || msErr != nil || !proto.Equal(normSnap(stSnap), normSnap(msSnap)) {
		p.t.Fatalf("%s: snapshot: store %v (%v), memory %v (%v)", step, stSnap, stErr, msSnap, msErr)
	}

	first, last := mustFirst(p.t, ms), mustLast(p.t, ms)
	if f, l := mustFirst(p.t, st), mustLast(p.t, st); f != first || l != last {
		p.t.Fatalf("%s: bounds: store [%d,%d], memory [%d,%d]", step, f, l, first, last)
	}

	lowest := uint64(0)
	if first > 3 {
		lowest = first - 3
	}
	for i := lowest; i <= last+2; i++ {
		stT, stErr := st.Term(i)
		msT, msErr := ms.Term(i)
		if stT != msT || stErr != msErr {
			p.t.Fatalf("%s: Term(%d): store %d (%v), memory %d (%v)", step, i, stT, stErr, msT, msErr)
		}
	}
	if first > 3 {
		p.compareEntries(step, 0, 0, math.MaxUint64)
	}
	for lo := lowest; lo <= last+1; lo++ {
		his := []uint64{lo, last + 1}
		if lo+1 <= last+1 {
			his = append(his, lo+1, lo+p.rng.Uint64N(last+2-lo))
		}
		for _, hi := range his {
			for _, maxSize := range []uint64{0, p.rng.Uint64N(120), math.MaxUint64} {
				p.compareEntries(step, lo, hi, maxSize)
			}
		}
	}
}

func (p *pair) compareEntries(step string, lo, hi, maxSize uint64) {
	p.t.Helper()
	stE, stErr := p.st.Entries(lo, hi, maxSize)
	msE, msErr := p.ms.Entries(lo, hi, maxSize)
	if stErr != msErr || len(stE) != len(msE) {
		p.t.Fatalf("%s: Entries(%d,%d,%d): store %d entries (%v), memory %d entries (%v)",
			step, lo, hi, maxSize, len(stE), stErr, len(msE), msErr)
	}
	for i := range stE {
		if !proto.Equal(stE[i], msE[i]) {
			p.t.Fatalf("%s: Entries(%d,%d,%d)[%d]: store %v, memory %v", step, lo, hi, maxSize, i, stE[i], msE[i])
		}
	}
}

func TestMemoryStorageEquivalenceTable(t *testing.T) {
	tests := []struct {
		name string
		ops  []op
	}{
		{name: "empty"},
		{name: "append", ops: []op{appendOp(ents(1, 5, 1)...), appendOp(ents(6, 8, 2)...)}},
		{name: "hard state", ops: []op{hsOp(hardState(3, 2, 0)), appendOp(ents(1, 3, 3)...), hsOp(hardState(3, 2, 3))}},
		{name: "conflicting suffix truncated", ops: []op{
			appendOp(ents(1, 6, 1)...),
			appendOp(ents(3, 4, 2)...), // 5 and 6 go although nothing overwrites them
			appendOp(ents(5, 5, 3)...),
		}},
		{name: "rewrite whole log", ops: []op{appendOp(ents(1, 4, 1)...), appendOp(ents(1, 2, 2)...)}},
		{name: "append overlapping the compaction point", ops: []op{
			appendOp(ents(1, 6, 1)...),
			compactOp(3),
			appendOp(ents(2, 8, 2)...), // 2 and 3 are dropped, 4.. replaces the log
			appendOp(ents(1, 3, 3)...), // entirely compacted: no-op
		}},
		{name: "create snapshot then compact", ops: []op{
			appendOp(ents(1, 10, 1)...),
			createOp(6, confState(1, 2, 3), "state@6"),
			compactOp(6),
			appendOp(ents(11, 12, 2)...),
			createOp(9, nil, "state@9"), // keeps the ConfState
			compactOp(8),
		}},
		{name: "compact errors", ops: []op{
			appendOp(ents(1, 5, 1)...),
			compactOp(3),
			withErr(compactOp(3), raft.ErrCompacted),
			withErr(compactOp(1), raft.ErrCompacted),
			compactOp(5), // the whole log: only the marker is left
			withErr(compactOp(5), raft.ErrCompacted),
		}},
		{name: "create snapshot out of date", ops: []op{
			appendOp(ents(1, 5, 1)...),
			createOp(4, confState(1), "a"),
			withErr(createOp(4, confState(1), "b"), raft.ErrSnapOutOfDate),
			withErr(createOp(2, confState(1), "c"), raft.ErrSnapOutOfDate),
			createOp(5, confState(1, 2), "d"),
		}},
		{name: "apply snapshot replaces the log", ops: []op{
			appendOp(ents(1, 10, 1)...),
			snapOp(snapshot(5, 2, confState(1, 2, 3), "s5")), // 6..10 dropped too
			appendOp(ents(6, 7, 2)...),
			snapOp(snapshot(20, 3, confState(1, 2), "s20")),
			appendOp(ents(21, 23, 3)...),
		}},
		{name: "apply older snapshot", ops: []op{
			snapOp(snapshot(10, 2, confState(1, 2, 3), "s10")),
			appendOp(ents(11, 12, 2)...),
			withErr(snapOp(snapshot(10, 2, confState(1), "again")), raft.ErrSnapOutOfDate),
			withErr(snapOp(snapshot(7, 2, confState(1), "older")), raft.ErrSnapOutOfDate),
		}},
		{name: "save everything at once", ops: []op{
			appendOp(ents(1, 3, 1)...),
			{kind: opSave, snap: snapshot(8, 2, confState(1, 2), "s8"), ents: ents(9, 11, 2), hs: hardState(2, 1, 9)},
		}},
		{name: "compact past the snapshot then snapshot", ops: []op{
			appendOp(ents(1, 10, 1)...),
			createOp(3, confState(1), "s3"),
			compactOp(7),
			createOp(8, nil, "s8"),
			createOp(10, nil, "s10"),
		}},
		{name: "restarts", ops: []op{
			hsOp(hardState(1, 1, 0)),
			appendOp(ents(1, 6, 1)...),
			restartOp(),
			appendOp(ents(4, 8, 2)...),
			createOp(5, confState(1, 2, 3), "s5"),
			restartOp(),
			compactOp(4),
			restartOp(),
			snapOp(snapshot(12, 3, confState(1, 2, 3, 4), "s12")),
			restartOp(),
			appendOp(ents(13, 14, 3)...),
			hsOp(hardState(3, 2, 14)),
			restartOp(),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 1)
			p.check("start")
			for i, o := range tc.ops {
				if err := p.do(o); err != o.wantErr {
					t.Fatalf("op %d (%v): error %v, want %v", i, o, err, o.wantErr)
				}
				p.check(fmt.Sprintf("after op %d (%v)", i, o))
			}
			p.do(restartOp())
			p.check("after final restart")
		})
	}
}

// TestMemoryStorageEquivalenceRandom drives both storages with a long random (fixed seed)
// sequence of valid operations, restarts included, comparing everything after each step.
func TestMemoryStorageEquivalenceRandom(t *testing.T) {
	steps := 250
	if testing.Short() {
		steps = 60
	}
	p := newPair(t, 20240611)
	rng := rand.New(rand.NewPCG(7, 11))
	term := uint64(1)
	counts := map[string]int{}
	for step := range steps {
		o := randomOp(t, rng, p.ms, &term)
		err := p.do(o)
		name, _, _ := strings.Cut(strings.Fields(o.String())[0], "@")
		counts[name+errSuffix(err)]++
		p.check(fmt.Sprintf("step %d (%v)", step, o))
	}
	t.Logf("operations: %v", counts)
	// The generator must actually reach every path, or the comparison proves little.
	for _, k := range []string{"save", "compact", "compact/err", "create-snapshot", "create-snapshot/err", "restart"} {
		if counts[k] == 0 {
			t.Errorf("random sequence never produced %q: %v", k, counts)
		}
	}
}

func errSuffix(err error) string {
	if err != nil {
		return "/err"
	}
	return ""
}

// randomOp returns an operation that MemoryStorage accepts without panicking (it panics
// on out-of-range arguments where the Store returns errors; those are tested separately).
func randomOp(t testing.TB, rng *rand.Rand, ms *raft.MemoryStorage, term *uint64) op {
	offset := mustFirst(t, ms) - 1
	last := mustLast(t, ms)
	snap, _ := ms.Snapshot()
	snapIndex := snap.GetMetadata().GetIndex()
	if rng.IntN(8) == 0 {
		*term++
	}
	randEnts := func(lo uint64) []*raftpb.Entry {
		n := 1 + rng.Uint64N(6)
		out := make([]*raftpb.Entry, 0, n)
		for i := lo; i < lo+n; i++ {
			data := make([]byte, rng.IntN(24))
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			e := ent(i, *term, "")
			e.Data = data
			if rng.IntN(10) == 0 {
				e.Type = raftpb.EntryConfChange.Enum()
			}
			out = append(out, e)
		}
		return out
	}
	randHS := func() *raftpb.HardState {
		return hardState(*term, rng.Uint64N(4), rng.Uint64N(last+1))
	}
	randCS := func() *raftpb.ConfState {
		if rng.IntN(4) == 0 {
			return nil
		}
		cs := confState()
		for id := uint64(1); id <= 5; id++ {
			if rng.IntN(2) == 0 {
				cs.Voters = append(cs.Voters, id)
			}
		}
		if rng.IntN(3) == 0 {
			cs.AutoLeave = new(false)
		}
		return cs
	}

	switch r := rng.IntN(100); {
	case r < 40: // append, sometimes starting before the compaction point or rewriting a suffix
		lo := uint64(1)
		if offset > 3 {
			lo = offset - 3
		}
		return appendOp(randEnts(lo + rng.Uint64N(last+2-lo))...)
	case r < 50:
		return hsOp(randHS())
	case r < 58: // a whole Ready: entries plus hard state
		return op{kind: opSave, ents: randEnts(last + 1), hs: randHS()}
	case r < 70:
		lo := max(offset, snapIndex+1)
		if lo <= last && rng.IntN(4) != 0 {
			return createOp(lo+rng.Uint64N(last+1-lo), randCS(), fmt.Sprintf("state-%d", rng.Uint32()))
		}
		return createOp(rng.Uint64N(snapIndex+1), randCS(), "stale") // out of date
	case r < 82:
		if offset < last && rng.IntN(3) != 0 {
			return compactOp(offset + 1 + rng.Uint64N(last-offset))
		}
		return compactOp(rng.Uint64N(offset + 1)) // already compacted

	case r < 90:
		index := 1 + rng.Uint64N(last+8)
		if snapIndex > 0 && rng.IntN(3) == 0 {
			index = 1 + rng.Uint64N(snapIndex) // out of date
		}
		cs := randCS()
		if cs == nil {
			cs = confState(1)
		}
		o := snapOp(snapshot(index, *term, cs, fmt.Sprintf("installed-%d", index)))
		if rng.IntN(2) == 0 {
			o.ents = randEnts(index + 1)
		}
		return o
	default:
		return restartOp()
	}
}

// ---------------------------------------------------------------------------------------
// focused behaviour

func TestRestartPreservesEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openStore(t, path)
	if err := s.Save(hardState(4, 2, 7), ents(1, 9, 4), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnapshot(6, confState(1, 2, 3), []byte("machine@6")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeID(2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetApplied(7); err != nil {
		t.Fatal(err)
	}
	wantEnts := mustEntries(t, s, 6, 10, math.MaxUint64)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatalf("second close: %v", err)
	}

	s = openStore(t, path)
	hs, cs, err := s.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	if hs.GetTerm() != 4 || hs.GetVote() != 2 || hs.GetCommit() != 7 {
		t.Errorf("hard state after restart: %v", hs)
	}
	if !slices.Equal(cs.GetVoters(), []uint64{1, 2, 3}) {
		t.Errorf("conf state after restart: %v", cs)
	}
	if f, l := mustFirst(t, s), mustLast(t, s); f != 6 || l != 9 {
		t.Errorf("bounds after restart: [%d,%d], want [6,9]", f, l)
	}
	if term, err := s.Term(5); err != nil || term != 4 {
		t.Errorf("term of the compaction point: %d, %v", term, err)
	}
	got := mustEntries(t, s, 6, 10, math.MaxUint64)
	if len(got) != len(wantEnts) {
		t.Fatalf("entries after restart: %d, want %d", len(got), len(wantEnts))
	}
	for i := range got {
		if !proto.Equal(got[i], wantEnts[i]) {
			t.Errorf("entry %d after restart: %v, want %v", i, got[i], wantEnts[i])
		}
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetIndex() != 6 || snap.GetMetadata().GetTerm() != 4 || string(snap.GetData()) != "machine@6" {
		t.Errorf("snapshot after restart: %v", snap)
	}
	if id, ok, err := s.NodeID(); err != nil || !ok || id != 2 {
		t.Errorf("node id after restart: %d %v %v", id, ok, err)
	}
	if a, err := s.Applied(); err != nil || a != 7 {
		t.Errorf("applied after restart: %d %v", a, err)
	}
}

func TestConflictingSuffixTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openStore(t, path)
	if err := s.Save(nil, ents(1, 10, 1), nil); err != nil {
		t.Fatal(err)
	}
	// A new leader at term 2 overwrites from index 6 with only two entries.
	if err := s.Save(hardState(2, 0, 5), ents(6, 7, 2), nil); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if l := mustLast(t, s); l != 7 {
			t.Fatalf("%s: last index %d, want 7", when, l)
		}
		for i, want := range map[uint64]uint64{1: 1, 5: 1, 6: 2, 7: 2} {
			if got, err := s.Term(i); err != nil || got != want {
				t.Errorf("%s: term(%d) = %d, %v; want %d", when, i, got, err, want)
			}
		}
		if _, err := s.Term(8); err != raft.ErrUnavailable {
			t.Errorf("%s: term(8): %v, want ErrUnavailable", when, err)
		}
		got := mustEntries(t, s, 5, 8, math.MaxUint64)
		if string(got[1].GetData()) != "e6-t2" || string(got[2].GetData()) != "e7-t2" {
			t.Errorf("%s: entries 6,7: %v", when, got)
		}
	}
	check("before restart")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path)
	check("after restart")

	// A gap is refused, not papered over.
	if err := s.Save(nil, ents(9, 9, 2), nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("append with a gap: %v, want an error naming the file", err)
	}
	if err := s.Save(nil, []*raftpb.Entry{ent(8, 2, ""), ent(10, 2, "")}, nil); err == nil {
		t.Error("non-contiguous entries accepted")
	}
	if l := mustLast(t, s); l != 7 {
		t.Errorf("failed saves changed the log: last %d", l)
	}
}

func TestSnapshotOutOfDate(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "raft.db"))
	if err := s.Save(hardState(3, 1, 10), nil, snapshot(10, 3, confState(1, 2, 3), "s10")); err != nil {
		t.Fatal(err)
	}
	if f, l := mustFirst(t, s), mustLast(t, s); f != 11 || l != 10 {
		t.Fatalf("after snapshot: bounds [%d,%d], want [11,10]", f, l)
	}
	if _, err := s.Entries(11, 11, 0); err != raft.ErrUnavailable {
		t.Errorf("entries of an empty log: %v, want ErrUnavailable", err)
	}
	if err := s.Save(nil, ents(11, 12, 3), nil); err != nil {
		t.Fatal(err)
	}

	// The whole Save is refused: neither the hard state nor the entries are written.
	err := s.Save(hardState(9, 9, 9), ents(13, 13, 9), snapshot(8, 3, confState(1), "old"))
	if err != raft.ErrSnapOutOfDate {
		t.Fatalf("older snapshot: %v, want raft.ErrSnapOutOfDate", err)
	}
	if err := s.Save(nil, nil, snapshot(10, 3, confState(1), "same")); err != raft.ErrSnapOutOfDate {
		t.Fatalf("same snapshot: %v, want raft.ErrSnapOutOfDate", err)
	}
	if _, err := s.CreateSnapshot(10, nil, nil); err != raft.ErrSnapOutOfDate {
		t.Fatalf("create at the snapshot index: %v, want raft.ErrSnapOutOfDate", err)
	}
	hs, _, _ := s.InitialState()
	if hs.GetTerm() != 3 || mustLast(t, s) != 12 {
		t.Errorf("refused save left traces: hard state %v, last %d", hs, mustLast(t, s))
	}
	snap, _ := s.Snapshot()
	if string(snap.GetData()) != "s10" {
		t.Errorf("snapshot replaced by a refused one: %q", snap.GetData())
	}
}

func TestEntriesMaxSize(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "raft.db"))
	es := ents(1, 5, 1)
	if err := s.Save(nil, es, nil); err != nil {
		t.Fatal(err)
	}
	size := func(n int) uint64 { // encoded size of the first n entries
		var total uint64
		for _, e := range es[:n] {
			total += uint64(proto.Size(e))
		}
		return total
	}
	tests := []struct {
		maxSize uint64
		want    int
	}{
		{0, 1}, // always at least one entry
		{1, 1},
		{size(1), 1},
		{size(2) - 1, 1},
		{size(2), 2},
		{size(3) + 1, 3},
		{size(5), 5},
		{math.MaxUint64, 5},
	}
	for _, tc := range tests {
		got := mustEntries(t, s, 1, 6, tc.maxSize)
		if len(got) != tc.want {
			t.Errorf("maxSize %d: %d entries, want %d", tc.maxSize, len(got), tc.want)
		}
	}
	// The caller owns the slice: appending to it must not disturb the store.
	got := mustEntries(t, s, 1, 3, math.MaxUint64)
	_ = append(got, ent(99, 9, "x"))
	got[0] = ent(42, 4, "y")
	if again := mustEntries(t, s, 1, 3, math.MaxUint64); !proto.Equal(again[0], es[0]) {
		t.Errorf("store changed through a returned slice: %v", again[0])
	}
}

// TestOutOfRangeArguments: where MemoryStorage panics, the Store returns an error.
func TestOutOfRangeArguments(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "raft.db"))
	if err := s.Save(nil, ents(1, 5, 1), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Entries(4, 7, 0); err == nil {
		t.Error("Entries past the last index: no error")
	}
	if _, err := s.Entries(5, 4, 0); err == nil {
		t.Error("Entries with lo > hi: no error")
	}
	if _, err := s.CreateSnapshot(6, nil, nil); err == nil {
		t.Error("CreateSnapshot past the last index: no error")
	}
	if _, err := s.CreateSnapshot(2, nil, nil); err != raft.ErrCompacted {
		t.Errorf("CreateSnapshot before the compaction point: %v, want ErrCompacted", err)
	}
	if err := s.Compact(6); err == nil {
		t.Error("Compact past the last index: no error")
	}
	if _, err := s.Entries(3, 4, 0); err != raft.ErrCompacted {
		t.Errorf("Entries at the compaction point: %v, want ErrCompacted", err)
	}
	if _, err := s.Term(2); err != raft.ErrCompacted {
		t.Errorf("Term before the compaction point: %v, want ErrCompacted", err)
	}
}

func TestNodeID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s := openStore(t, path)
	if id, ok, err := s.NodeID(); err != nil || ok || id != 0 {
		t.Fatalf("fresh store node id: %d %v %v", id, ok, err)
	}
	if err := s.SetNodeID(0); err == nil {
		t.Error("node id 0 accepted")
	}
	if err := s.SetNodeID(2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeID(2); err != nil {
		t.Errorf("setting the same id again: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path)
	if id, ok, err := s.NodeID(); err != nil || !ok || id != 2 {
		t.Fatalf("node id after restart: %d %v %v", id, ok, err)
	}
	err := s.SetNodeID(3)
	if !errors.Is(err, ErrNodeIDMismatch) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "node 2") {
		t.Errorf("claiming node 2's store as node 3: %v", err)
	}
}

func TestApplied(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "raft.db"))
	if a, err := s.Applied(); err != nil || a != 0 {
		t.Fatalf("fresh applied: %d %v", a, err)
	}
	if err := s.SetApplied(5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetApplied(5); err != nil {
		t.Errorf("same applied index again: %v", err)
	}
	if err := s.SetApplied(4); err == nil {
		t.Error("applied index moved backwards")
	}
	if a, _ := s.Applied(); a != 5 {
		t.Errorf("applied: %d, want 5", a)
	}
}

func TestInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	openStore(t, path)
	start := time.Now()
	s, err := Open(path, testLogger(t))
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q: want ErrInUse naming %s", err, path)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open waited %s for the lock", d)
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "raft.db")
	if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("open in a missing directory: %v", err)
	}
}

// goodFile writes a store with some history and returns its path and bytes.
func goodFile(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := Open(path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(hardState(2, 1, 30), ents(1, 40, 2), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnapshot(30, confState(1, 2, 3), bytes.Repeat([]byte("state"), 2000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(25); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeID(1); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// editBolt changes the file below the Store, through bbolt.
func editBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptFile(t *testing.T) {
	garbage := func(n int, seed uint64) []byte {
		rng := rand.New(rand.NewPCG(seed, seed))
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	tests := []struct {
		name    string
		corrupt func(t *testing.T, path string, good []byte)
		want    string // in the error text
	}{
		{"garbage file", func(t *testing.T, path string, good []byte) {
			writeFile(t, path, garbage(64<<10, 1))
		}, "corrupt"},
		{"garbage over both meta pages", func(t *testing.T, path string, good []byte) {
			b := slices.Clone(good)
			copy(b, garbage(2*4096, 2))
			writeFile(t, path, b)
		}, "corrupt"},
		{"garbage over every data page", func(t *testing.T, path string, good []byte) {
			b := slices.Clone(good)
			copy(b[2*4096:], garbage(len(b)-2*4096, 3))
			writeFile(t, path, b)
		}, "corrupt"},
		{"file cut in half", func(t *testing.T, path string, good []byte) {
			writeFile(t, path, good[:len(good)/2])
		}, ""},
		{"file cut below the pages its meta counts", func(t *testing.T, path string, good []byte) {
			// bbolt would fault reading past the end, in a goroutine of its own.
			writeFile(t, path, good[:3*4096])
		}, "truncated"},
		{"tiny file", func(t *testing.T, path string, good []byte) {
			writeFile(t, path, []byte("not a database"))
		}, ""},
		{"flipped bit in an entry", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(bucketEntries))
				v := slices.Clone(b.Get(key(33)))
				v[len(v)-1] ^= 0x01
				return b.Put(key(33), v)
			})
		}, "entry 33: checksum mismatch"},
		{"entry that is not protobuf", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(bucketEntries)).Put(key(34), seal([]byte{0xff, 0xff, 0xff}))
			})
		}, "entry 34"},
		{"entry under the wrong key", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(bucketEntries))
				return b.Put(key(35), b.Get(key(36)))
			})
		}, "index 35 says index 36"},
		{"entry missing from the middle", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketEntries)).Delete(key(30)) })
		}, "entry 30 missing"},
		{"damaged hard state", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyHardState), []byte{1, 2}) })
		}, "hard state"},
		{"damaged snapshot", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte(bucketMeta))
				v := slices.Clone(b.Get([]byte(keySnapshot)))
				v[10] ^= 0x80
				return b.Put([]byte(keySnapshot), v)
			})
		}, "snapshot: checksum mismatch"},
		{"damaged node id", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyNodeID), seal([]byte{1})) })
		}, "node_id"},
		{"missing bucket", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(bucketEntries)) })
		}, `bucket "entries" missing`},
		{"somebody else's bbolt file", func(t *testing.T, path string, good []byte) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			editBolt(t, path, func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("users"))
				return err
			})
		}, `unexpected bucket "users"`},
		{"unknown format version", func(t *testing.T, path string, good []byte) {
			editBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyFormat), sealU64(99)) })
		}, "format version 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, good := goodFile(t)
			tc.corrupt(t, path, good)
			s, err := Open(path, testLogger(t))
			if err == nil {
				_ = s.Close()
				t.Fatal("Open of a damaged file succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want it to name %s and say %q", err, path, tc.want)
			}
		})
	}
}

// TestCorruptFileRandomDamage scribbles over random spots of a good file (fixed seeds).
// Whatever bbolt makes of it, Open and every read must return, never panic or crash; a
// store that opens must still answer with the original data or an error.
func TestCorruptFileRandomDamage(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	refused := 0
	for seed := range uint64(rounds) {
		path, good := goodFile(t)
		rng := rand.New(rand.NewPCG(seed, 4242))
		b := slices.Clone(good)
		for range 1 + rng.IntN(8) {
			at := rng.IntN(len(b) - 16)
			for i := range 1 + rng.IntN(16) {
				b[at+i] = byte(rng.Uint32())
			}
		}
		writeFile(t, path, b)
		s, err := Open(path, testLogger(t))
		if err != nil {
			refused++
			if !strings.Contains(err.Error(), path) {
				t.Errorf("seed %d: error does not name the file: %v", seed, err)
			}
			continue
		}
		// Opened: the damage hit unused bytes or bbolt recovered from its second meta page.
		if _, err := s.Entries(26, 41, math.MaxUint64); err == nil {
			_, _ = s.Snapshot()
			_, _, _ = s.InitialState()
		}
		if err := s.Close(); err != nil {
			t.Errorf("seed %d: close: %v", seed, err)
		}
	}
	t.Logf("%d of %d damaged files refused", refused, rounds)
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRaftLoggerPanics(t *testing.T) {
	var buf bytes.Buffer
	l := RaftLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Infof("hello %d", 1)
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "boom 2") {
				t.Errorf("Panicf recovered %v", r)
			}
		}()
		l.Panicf("boom %d", 2)
	}()
	if !strings.Contains(buf.String(), "hello 1") || !strings.Contains(buf.String(), "boom 2") {
		t.Errorf("log output: %s", buf.String())
	}
}

// ---------------------------------------------------------------------------------------
// three real raft nodes on Stores

const (
	testTick        = 10 * time.Millisecond
	testSnapEvery   = 20 // applied entries between snapshots
	testCatchUpKeep = 10 // entries kept behind a snapshot for slow followers
)

// testNode is one raft member: a Store, a raft.Node and a Ready loop. Its state machine is
// the list of applied payloads, restored from snapshots.
type testNode struct {
	id      uint64
	c       *testCluster
	path    string
	inbox   chan *raftpb.Message // never closed; survives restarts
	up      atomic.Bool          // read by the other nodes' Ready loops: deliver or drop
	store   *Store
	node    raft.Node
	cancel  context.CancelFunc
	done    chan struct{}
	running bool // owned by the test goroutine

	mu            sync.Mutex
	items         []string
	applied       uint64
	snapIndex     uint64
	confState     *raftpb.ConfState
	snapsReceived int
}

type testCluster struct {
	t     *testing.T
	nodes map[uint64]*testNode
}

func newTestCluster(t *testing.T, n int) *testCluster {
	c := &testCluster{t: t, nodes: map[uint64]*testNode{}}
	dir := t.TempDir()
	var peers []raft.Peer
	for id := uint64(1); id <= uint64(n); id++ {
		peers = append(peers, raft.Peer{ID: id})
		c.nodes[id] = &testNode{
			id:    id,
			c:     c,
			path:  filepath.Join(dir, fmt.Sprintf("node%d.db", id)),
			inbox: make(chan *raftpb.Message, 1024),
		}
	}
	for _, tn := range c.nodes {
		tn.start(peers)
	}
	t.Cleanup(func() {
		for _, tn := range c.nodes {
			tn.stop()
		}
	})
	return c
}

func (tn *testNode) config() *raft.Config {
	return &raft.Config{
		ID:              tn.id,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         tn.store,
		Applied:         tn.applied,
		MaxSizePerMsg:   64 << 10,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          RaftLogger(testLogger(tn.c.t)),
	}
}

// start opens the node's Store and starts raft on it: StartNode on a fresh store,
// RestartNode (state machine rebuilt from the stored snapshot) otherwise.
func (tn *testNode) start(peers []raft.Peer) {
	t := tn.c.t
	store, err := Open(tn.path, testLogger(t))
	if err != nil {
		t.Fatalf("node %d: %v", tn.id, err)
	}
	tn.store = store
	if id, ok, err := store.NodeID(); err != nil || (ok && id != tn.id) {
		t.Fatalf("node %d: store belongs to %d (%v)", tn.id, id, err)
	}
	if err := store.SetNodeID(tn.id); err != nil {
		t.Fatal(err)
	}
	snap, err := store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	tn.mu.Lock()
	tn.restoreLocked(snap)
	tn.mu.Unlock()
	if peers != nil {
		tn.node = raft.StartNode(tn.config(), peers)
	} else {
		tn.node = raft.RestartNode(tn.config())
	}
	// Messages sent while the node was down are lost, as they would be on a network.
	for len(tn.inbox) > 0 {
		<-tn.inbox
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel, tn.done, tn.running = cancel, make(chan struct{}), true
	tn.up.Store(true)
	go tn.run(ctx)
}

func (tn *testNode) stop() {
	if !tn.running {
		return
	}
	tn.running = false
	tn.up.Store(false)
	tn.cancel()
	<-tn.done
	tn.node.Stop()
	if err := tn.store.Close(); err != nil {
		tn.c.t.Errorf("node %d: close store: %v", tn.id, err)
	}
}

// run is the Ready loop, in the order raft documents: persist (fsync) before sending,
// then apply, then Advance.
func (tn *testNode) run(ctx context.Context) {
	defer close(tn.done)
	t := tn.c.t
	ticker := time.NewTicker(testTick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			tn.node.Tick()
		case m := <-tn.inbox:
			_ = tn.node.Step(ctx, m)
		case rd := <-tn.node.Ready():
			if err := tn.store.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
				t.Errorf("node %d: save: %v", tn.id, err)
				return
			}
			if !raft.IsEmptySnap(rd.Snapshot) {
				tn.mu.Lock()
				tn.restoreLocked(rd.Snapshot)
				tn.snapsReceived++
				tn.mu.Unlock()
			}
			tn.c.send(tn, rd.Messages)
			if err := tn.apply(rd.CommittedEntries); err != nil {
				t.Errorf("node %d: %v", tn.id, err)
				return
			}
			tn.node.Advance()
		}
	}
}

func (tn *testNode) restoreLocked(snap *raftpb.Snapshot) {
	tn.items = nil
	if len(snap.GetData()) > 0 {
		tn.items = strings.Split(string(snap.GetData()), "\n")
	}
	tn.applied = snap.GetMetadata().GetIndex()
	tn.snapIndex = tn.applied
	tn.confState = proto.CloneOf(snap.GetMetadata().GetConfState())
}

// apply applies committed entries exactly once each, in order, and snapshots every
// testSnapEvery entries.
func (tn *testNode) apply(committed []*raftpb.Entry) error {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	for _, e := range committed {
		if e.GetIndex() != tn.applied+1 {
			return fmt.Errorf("entry %d delivered after applied index %d", e.GetIndex(), tn.applied)
		}
		switch e.GetType() {
		case raftpb.EntryNormal:
			if len(e.GetData()) > 0 {
				tn.items = append(tn.items, string(e.GetData()))
			}
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				return fmt.Errorf("conf change %d: %w", e.GetIndex(), err)
			}
			tn.confState = tn.node.ApplyConfChange(&cc)
		}
		tn.applied = e.GetIndex()
	}
	if tn.applied-tn.snapIndex < testSnapEvery {
		return nil
	}
	if _, err := tn.store.CreateSnapshot(tn.applied, tn.confState, []byte(strings.Join(tn.items, "\n"))); err != nil {
		return fmt.Errorf("create snapshot at %d: %w", tn.applied, err)
	}
	tn.snapIndex = tn.applied
	if tn.applied > testCatchUpKeep {
		if err := tn.store.Compact(tn.applied - testCatchUpKeep); err != nil && err != raft.ErrCompacted {
			return fmt.Errorf("compact to %d: %w", tn.applied-testCatchUpKeep, err)
		}
	}
	return nil
}

// send delivers messages without ever blocking the Ready loop; a full inbox (a stopped
// node) drops them, as a network would.
func (c *testCluster) send(from *testNode, msgs []*raftpb.Message) {
	for _, m := range msgs {
		to := c.nodes[m.GetTo()]
		// A copy, as if it went over the wire: the receiver must not share raft's memory.
		cp := proto.CloneOf(m)
		delivered := false
		if to != nil && to.up.Load() {
			select {
			case to.inbox <- cp:
				delivered = true
			default:
			}
		}
		if !delivered {
			from.node.ReportUnreachable(m.GetTo())
		}
		if m.GetType() == raftpb.MsgSnap {
			status := raft.SnapshotFinish
			if !delivered {
				status = raft.SnapshotFailure
			}
			from.node.ReportSnapshot(m.GetTo(), status)
		}
	}
}

func (c *testCluster) leader() *testNode {
	for _, tn := range c.nodes {
		if tn.running && tn.node.Status().RaftState == raft.StateLeader {
			return tn
		}
	}
	return nil
}

func (c *testCluster) waitLeader(ctx context.Context) *testNode {
	c.t.Helper()
	var l *testNode
	testharness.Eventually(c.t, 30*time.Second, "a leader", func() bool {
		l = c.leader()
		return l != nil
	})
	return l
}

// proposeAll proposes payloads through the leader and waits until every running node has
// applied all of them. Payloads a leader change dropped are proposed again.
func (c *testCluster) proposeAll(ctx context.Context, payloads []string) {
	c.t.Helper()
	missing := payloads
	for len(missing) > 0 {
		l := c.waitLeader(ctx)
		for _, p := range missing {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := l.node.Propose(pctx, []byte(p))
			cancel()
			if err != nil {
				break // leadership moved; the next round retries what is missing
			}
		}
		roundEnd := time.Now().Add(time.Second)
		for {
			missing = c.missing(payloads)
			if len(missing) == 0 || time.Now().After(roundEnd) {
				break
			}
			select {
			case <-ctx.Done():
				c.t.Fatalf("%d payloads never applied everywhere, e.g. %q", len(missing), missing[0])
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// missing returns the payloads some running node has not applied yet.
func (c *testCluster) missing(payloads []string) []string {
	var out []string
	for _, p := range payloads {
		for _, tn := range c.nodes {
			if !tn.running {
				continue
			}
			tn.mu.Lock()
			has := slices.Contains(tn.items, p)
			tn.mu.Unlock()
			if !has {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func payloads(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("v%03d", i))
	}
	return out
}

func TestRaftClusterOnStores(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := newTestCluster(t, 3)

	c.proposeAll(ctx, payloads(1, 100))

	// Stop a follower and move the others so far ahead that their logs are compacted past
	// it: it can only catch up from a snapshot.
	leader := c.waitLeader(ctx)
	var lagging *testNode
	for _, tn := range c.nodes {
		if tn != leader {
			lagging = tn
			break
		}
	}
	lagging.stop()
	laggingLast := func() uint64 {
		s, err := Open(lagging.path, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s.Close() }()
		return mustLast(t, s)
	}()
	c.proposeAll(ctx, payloads(101, 160))
	for _, tn := range c.nodes {
		if tn.running {
			if f := mustFirst(t, tn.store); f <= laggingLast+1 {
				t.Fatalf("node %d still has entry %d (first %d): the test would not exercise snapshot catch-up",
					tn.id, laggingLast+1, f)
			}
		}
	}

	t.Logf("node %d stopped at last index %d", lagging.id, laggingLast)
	lagging.start(nil) // RestartNode from its Store
	c.proposeAll(ctx, payloads(161, 200))

	lagging.mu.Lock()
	snaps := lagging.snapsReceived
	lagging.mu.Unlock()
	if snaps == 0 {
		t.Errorf("node %d caught up without receiving a snapshot", lagging.id)
	}
	// More entries after the catch-up, so that the restarted node's log holds entries
	// beyond the installed snapshot to compare with the others.
	c.proposeAll(ctx, payloads(201, 215))

	// Wait until every node has applied the same committed index, then compare.
	testharness.Eventually(t, 30*time.Second, "applied indexes to converge", func() bool {
		var applied []uint64
		for _, tn := range c.nodes {
			tn.mu.Lock()
			applied = append(applied, tn.applied)
			tn.mu.Unlock()
		}
		return applied[0] == applied[1] && applied[1] == applied[2]
	})

	var ref *testNode
	for _, tn := range c.nodes {
		tn.mu.Lock()
		items := slices.Clone(tn.items)
		tn.mu.Unlock()
		for _, p := range payloads(1, 215) {
			if !slices.Contains(items, p) {
				t.Errorf("node %d never applied %s", tn.id, p)
			}
		}
		if ref == nil {
			ref = tn
			continue
		}
		ref.mu.Lock()
		same := slices.Equal(ref.items, items)
		ref.mu.Unlock()
		if !same {
			t.Errorf("state machines of nodes %d and %d differ", ref.id, tn.id)
		}
	}

	// The logs themselves agree wherever two stores both hold an entry.
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a.id >= b.id {
				continue
			}
			lo := max(mustFirst(t, a.store), mustFirst(t, b.store))
			hi := min(mustLast(t, a.store), mustLast(t, b.store))
			if lo > hi {
				t.Errorf("nodes %d and %d share no log entries to compare", a.id, b.id)
				continue
			}
			ea := mustEntries(t, a.store, lo, hi+1, math.MaxUint64)
			eb := mustEntries(t, b.store, lo, hi+1, math.MaxUint64)
			for i := range ea {
				if !proto.Equal(ea[i], eb[i]) {
					t.Errorf("nodes %d and %d disagree at index %d", a.id, b.id, ea[i].GetIndex())
				}
			}
		}
	}
}
