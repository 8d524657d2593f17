package txn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// memLog is an in-memory __transaction_state.
type memLog struct {
	mu      sync.Mutex
	batches map[int32][][]byte
	fail    error         // every Append fails with it when set
	block   chan struct{} // Append waits for it to close when set
	waiting int           // Appends waiting for block
	epochs  []int32       // coordinator epochs seen by Append
}

func newMemLog() *memLog { return &memLog{batches: map[int32][][]byte{}} }

func (l *memLog) Append(ctx context.Context, p int32, epoch int32, b []byte) error {
	l.mu.Lock()
	block, fail := l.block, l.fail
	l.mu.Unlock()
	if block != nil {
		l.mu.Lock()
		l.waiting++
		l.mu.Unlock()
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches[p] = append(l.batches[p], append([]byte(nil), b...))
	l.epochs = append(l.epochs, epoch)
	return nil
}

func (l *memLog) Scan(ctx context.Context, p int32, fn func([]byte) error) error {
	l.mu.Lock()
	bs := append([][]byte(nil), l.batches[p]...)
	l.mu.Unlock()
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (l *memLog) records(p int32) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.batches[p])
}

// fakeMarkers records the markers written; err decides each one's result.
type fakeMarkers struct {
	mu      sync.Mutex
	written []Marker
	err     func(Marker) error
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, ms []Marker) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(ms))
	for i, m := range ms {
		if f.err != nil {
			errs[i] = f.err(m)
		}
		if errs[i] == nil {
			f.written = append(f.written, m)
		}
	}
	return errs
}

func (f *fakeMarkers) setErr(fn func(Marker) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = fn
}

func (f *fakeMarkers) got() []Marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Marker(nil), f.written...)
}

type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *clock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

type fixture struct {
	t       *testing.T
	log     *memLog
	markers *fakeMarkers
	clock   *clock
	pids    atomic.Int64
	c       *Coordinator
}

const parts = 4

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, log: newMemLog(), markers: &fakeMarkers{}, clock: &clock{}}
	f.clock.ms.Store(1_700_000_000_000)
	f.pids.Store(1000)
	f.c = f.start(1)
	return f
}

// start makes a coordinator over f's log with every partition loaded at
// coordinator epoch epoch.
func (f *fixture) start(epoch int32) *Coordinator {
	f.t.Helper()
	c := New(Config{
		Partitions:     parts,
		MaxTimeout:     time.Minute,
		IDExpiration:   time.Hour,
		AbortInterval:  time.Hour, // tests call AbortTimedOut themselves
		ExpireInterval: time.Hour,
		NextProducerID: func(context.Context) (int64, error) { return f.pids.Add(1), nil },
		Markers:        f.markers,
		PartitionExists: func(topic string, p int32) bool {
			return topic == "t" || topic == "__consumer_offsets" || topic == "gone" && p >= 0
		},
		OffsetsTopic:     "__consumer_offsets",
		OffsetsPartition: func(g string) int32 { return 7 },
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:              f.clock.now,
	}, f.log)
	f.t.Cleanup(c.Close)
	for p := int32(0); p < parts; p++ {
		if err := c.LoadPartition(context.Background(), p, epoch); err != nil {
			f.t.Fatal(err)
		}
	}
	return c
}

func (f *fixture) state(id string) TxnDescription {
	return f.c.Describe([]string{id})[0]
}

func (f *fixture) waitState(id string, want State) {
	f.t.Helper()
	testharness.Eventually(f.t, 5*time.Second, "transaction "+id+" in state "+string(want), func() bool {
		d := f.state(id)
		return d.Err == nil && d.State == want
	}, func() string { return string(f.state(id).State) })
}

func (f *fixture) init(id string) (int64, int16) {
	f.t.Helper()
	pid, epoch, err := f.c.InitProducerID(context.Background(), id, 10_000, -1, -1)
	if err != nil {
		f.t.Fatalf("InitProducerID(%s): %v", id, err)
	}
	return pid, epoch
}

func (f *fixture) add(id string, pid int64, epoch int16, ps ...int32) {
	f.t.Helper()
	res, err := f.c.AddPartitions(context.Background(), id, pid, epoch, map[string][]int32{"t": ps}, false)
	if err != nil {
		f.t.Fatalf("AddPartitions: %v", err)
	}
	for p, err := range res["t"] {
		if err != nil {
			f.t.Fatalf("AddPartitions t-%d: %v", p, err)
		}
	}
}

func TestInitProducerIDNewAndBump(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	if pid != 1001 || epoch != 0 {
		t.Fatalf("first init: %d/%d, want 1001/0", pid, epoch)
	}
	pid2, epoch2 := f.init("a")
	if pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: %d/%d, want %d/1", pid2, epoch2, pid)
	}
	if _, _, err := f.c.InitProducerID(context.Background(), "a", int32(2*time.Minute/time.Millisecond), -1, -1); !errors.Is(err, kerr.InvalidTransactionTimeout) {
		t.Fatalf("timeout above max: %v", err)
	}
	if _, _, err := f.c.InitProducerID(context.Background(), "a", 1000, pid, -1); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("pid without epoch: %v", err)
	}
	// The state survives a reload from the log.
	f.c.Close()
	f.c = f.start(2)
	if d := f.state("a"); d.ProducerID != pid || d.ProducerEpoch != 1 || d.State != StateEmpty || d.CoordinatorEpoch != 2 {
		t.Fatalf("after reload: %+v", d)
	}
}

func TestCommitWritesMarkersThenCompletes(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	f.add("a", pid, epoch, 0, 1)
	if err := f.c.AddOffsets(context.Background(), "a", pid, epoch, "g"); err != nil {
		t.Fatal(err)
	}
	d := f.state("a")
	if d.State != StateOngoing || len(d.Partitions["t"]) != 2 || len(d.Partitions["__consumer_offsets"]) != 1 || d.StartTime.IsZero() {
		t.Fatalf("ongoing: %+v", d)
	}
	// A retry adding the same partitions writes nothing.
	n := f.log.records(f.c.Partition("a"))
	f.add("a", pid, epoch, 1)
	if f.log.records(f.c.Partition("a")) != n {
		t.Fatal("re-adding a partition wrote a record")
	}
	if err := f.c.EndTxn(context.Background(), "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	f.waitState("a", StateCompleteCommit)
	ms := f.markers.got()
	if len(ms) != 3 {
		t.Fatalf("markers: %+v", ms)
	}
	for _, m := range ms {
		if !m.Commit || m.ProducerID != pid || m.ProducerEpoch != epoch || m.CoordinatorEpoch != 1 {
			t.Fatalf("marker %+v", m)
		}
	}
	if err := f.c.EndTxn(context.Background(), "a", pid, epoch, true); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if err := f.c.EndTxn(context.Background(), "a", pid, epoch, false); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("abort after commit: %v", err)
	}
	if d := f.state("a"); len(d.Partitions) != 0 {
		t.Fatalf("completed txn keeps partitions: %+v", d)
	}
	// A new transaction of the same producer.
	f.add("a", pid, epoch, 2)
	if err := f.c.EndTxn(context.Background(), "a", pid, epoch, false); err != nil {
		t.Fatal(err)
	}
	f.waitState("a", StateCompleteAbort)
	if ms := f.markers.got(); len(ms) != 4 || ms[3].Commit || ms[3].Partition != 2 {
		t.Fatalf("abort markers: %+v", ms)
	}
}

func TestLyingRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch := f.init("a")
	if _, err := f.c.AddPartitions(ctx, "a", pid+1, epoch, map[string][]int32{"t": {0}}, false); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("wrong pid: %v", err)
	}
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch+1, map[string][]int32{"t": {0}}, false); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("wrong epoch: %v", err)
	}
	if _, err := f.c.AddPartitions(ctx, "nobody", pid, epoch, map[string][]int32{"t": {0}}, false); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("unknown id: %v", err)
	}
	if err := f.c.EndTxn(ctx, "a", pid, epoch, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("commit without a transaction: %v", err)
	}
	n := f.log.records(f.c.Partition("a"))
	res, err := f.c.AddPartitions(ctx, "a", pid, epoch, map[string][]int32{"t": {0}, "nope": {3}}, false)
	if err != nil || !errors.Is(res["nope"][3], kerr.UnknownTopicOrPartition) || !errors.Is(res["t"][0], kerr.OperationNotAttempted) {
		t.Fatalf("unknown partition: %v %v", res, err)
	}
	if f.log.records(f.c.Partition("a")) != n || f.state("a").State != StateEmpty {
		t.Fatal("a refused AddPartitions changed the state")
	}
	// Verify-only (KIP-890): yes only for partitions added to the open transaction.
	f.add("a", pid, epoch, 0)
	res, err = f.c.AddPartitions(ctx, "a", pid, epoch, map[string][]int32{"t": {0, 1}}, true)
	if err != nil || res["t"][0] != nil || !errors.Is(res["t"][1], kerr.InvalidTxnState) {
		t.Fatalf("verify: %v %v", res, err)
	}
	// A write in flight does not hold up a verification of what is installed.
	f.log.mu.Lock()
	f.log.block = make(chan struct{})
	f.log.mu.Unlock()
	adding := make(chan error, 1)
	go func() {
		_, err := f.c.AddPartitions(ctx, "a", pid, epoch, map[string][]int32{"t": {1}}, false)
		adding <- err
	}()
	testharness.Eventually(t, 5*time.Second, "the add is being written", func() bool {
		f.log.mu.Lock()
		defer f.log.mu.Unlock()
		return f.log.waiting == 1
	})
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch, map[string][]int32{"t": {2}}, false); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("add during a write: %v", err)
	}
	res, err = f.c.AddPartitions(ctx, "a", pid, epoch, map[string][]int32{"t": {0, 1}}, true)
	if err != nil || res["t"][0] != nil || !errors.Is(res["t"][1], kerr.InvalidTxnState) {
		t.Fatalf("verify during a write: %v %v", res, err)
	}
	f.log.mu.Lock()
	close(f.log.block)
	f.log.block = nil
	f.log.mu.Unlock()
	if err := <-adding; err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AddPartitions(ctx, "a", pid, epoch-1, map[string][]int32{"t": {0}}, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("verify with an old epoch: %v", err)
	}
	if d := f.state("a"); len(d.Partitions["t"]) != 2 {
		t.Fatalf("verify changed the partitions: %+v", d)
	}
	// Ids of partitions not loaded here are not ours.
	f.c.UnloadPartition(f.c.Partition("a"))
	if _, _, err := f.c.InitProducerID(ctx, "a", 1000, -1, -1); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("unloaded: %v", err)
	}
	if d := f.state("a"); !errors.Is(d.Err, kerr.NotCoordinator) {
		t.Fatalf("describe unloaded: %+v", d)
	}
}

func TestInitFencesOpenTransaction(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch := f.init("a")
	f.add("a", pid, epoch, 0)
	f.markers.setErr(func(Marker) error { return kerr.NotLeaderForPartition }) // hold the abort in PrepareAbort
	if _, _, err := f.c.InitProducerID(ctx, "a", 10_000, -1, -1); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("init over an open transaction: %v", err)
	}
	if d := f.state("a"); d.State != StatePrepareAbort || d.ProducerEpoch != epoch+1 {
		t.Fatalf("after fencing: %+v", d)
	}
	if _, _, err := f.c.InitProducerID(ctx, "a", 10_000, -1, -1); !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("init while aborting: %v", err)
	}
	// The zombie is fenced.
	if err := f.c.EndTxn(ctx, "a", pid, epoch, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("zombie commit: %v", err)
	}
	f.markers.setErr(nil)
	f.waitState("a", StateCompleteAbort)
	ms := f.markers.got()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != epoch+1 {
		t.Fatalf("abort markers: %+v", ms)
	}
	_, e2 := f.init("a")
	if e2 != epoch+2 {
		t.Fatalf("epoch after fence: %d", e2)
	}
	// KIP-360: the old producer's recovery is fenced.
	if _, _, err := f.c.InitProducerID(ctx, "a", 10_000, pid, epoch); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("recovery with a fenced epoch: %v", err)
	}
}

func TestKIP360Recovery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pid, epoch := f.init("a")
	p2, e2, err := f.c.InitProducerID(ctx, "a", 10_000, pid, epoch)
	if err != nil || p2 != pid || e2 != epoch+1 {
		t.Fatalf("recovery: %d/%d %v", p2, e2, err)
	}
	// A retry of the same call gets the same answer.
	p3, e3, err := f.c.InitProducerID(ctx, "a", 10_000, pid, epoch)
	if err != nil || p3 != pid || e3 != e2 {
		t.Fatalf("retried recovery: %d/%d %v", p3, e3, err)
	}
	if _, _, err := f.c.InitProducerID(ctx, "a", 10_000, pid+5, e2); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("another producer id: %v", err)
	}
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	f := newFixture(t)
	m := &meta{id: "a", partition: f.c.Partition("a"), pid: 77, epoch: math.MaxInt16 - 1, lastPid: -1, lastEpoch: -1,
		timeoutMs: 1000, state: StateCompleteCommit, startMs: -1, parts: map[string]map[int32]struct{}{}}
	if err := f.log.Append(context.Background(), m.partition, 1, recordBatch(m, 0)); err != nil {
		t.Fatal(err)
	}
	f.c.Close()
	f.c = f.start(2)
	pid, epoch := f.init("a")
	if pid == 77 || epoch != 0 {
		t.Fatalf("exhausted epoch: got %d/%d, want a new id with epoch 0", pid, epoch)
	}
}

func TestTimeoutAbortsWithEpochBump(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	f.add("a", pid, epoch, 0, 3)
	f.clock.add(5 * time.Second)
	f.c.AbortTimedOut()
	if d := f.state("a"); d.State != StateOngoing {
		t.Fatalf("aborted before its timeout: %+v", d)
	}
	f.clock.add(6 * time.Second)
	f.c.AbortTimedOut()
	f.waitState("a", StateCompleteAbort)
	for _, m := range f.markers.got() {
		if m.Commit || m.ProducerEpoch != epoch+1 {
			t.Fatalf("timeout marker %+v", m)
		}
	}
	if len(f.markers.got()) != 2 {
		t.Fatalf("markers: %+v", f.markers.got())
	}
	if err := f.c.EndTxn(context.Background(), "a", pid, epoch, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("commit after timeout abort: %v", err)
	}
}

func TestReloadResumesMarkers(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	f.add("a", pid, epoch, 0, 1)
	f.markers.setErr(func(Marker) error { return kerr.NotLeaderForPartition })
	if err := f.c.EndTxn(context.Background(), "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if d := f.state("a"); d.State != StatePrepareCommit {
		t.Fatalf("%+v", d)
	}
	// The coordinator moves: the old one stops, a new one loads the log at
	// a newer epoch and finishes the commit.
	f.c.UnloadPartition(f.c.Partition("a"))
	f.markers.setErr(nil)
	f.c = f.start(5)
	f.waitState("a", StateCompleteCommit)
	ms := f.markers.got()
	if len(ms) != 2 {
		t.Fatalf("markers: %+v", ms)
	}
	for _, m := range ms {
		if !m.Commit || m.CoordinatorEpoch != 5 || m.ProducerID != pid {
			t.Fatalf("resumed marker %+v", m)
		}
	}
}

func TestGonePartitionDoesNotBlockCompletion(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	f.add("a", pid, epoch, 0)
	if _, err := f.c.AddPartitions(context.Background(), "a", pid, epoch, map[string][]int32{"gone": {0}}, false); err != nil {
		t.Fatal(err)
	}
	var goneNow atomic.Bool
	f.c.cfg.PartitionExists = func(topic string, p int32) bool { return topic != "gone" || !goneNow.Load() }
	f.markers.setErr(func(m Marker) error {
		if m.Topic == "gone" {
			return kerr.UnknownTopicOrPartition
		}
		return nil
	})
	if err := f.c.EndTxn(context.Background(), "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	goneNow.Store(true)
	f.waitState("a", StateCompleteCommit)
}

func TestConcurrentEndTxn(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	f.add("a", pid, epoch, 0)
	f.log.mu.Lock()
	f.log.block = make(chan struct{})
	f.log.mu.Unlock()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- f.c.EndTxn(context.Background(), "a", pid, epoch, true) }()
	}
	// One is writing PrepareCommit; the other is told to retry.
	if err := <-errs; !errors.Is(err, kerr.ConcurrentTransactions) {
		t.Fatalf("second EndTxn while the first writes: %v", err)
	}
	f.log.mu.Lock()
	close(f.log.block)
	f.log.block = nil
	f.log.mu.Unlock()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	f.waitState("a", StateCompleteCommit)
	if len(f.markers.got()) != 1 {
		t.Fatalf("markers: %+v", f.markers.got())
	}
}

func TestAppendFailureChangesNothing(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	f.log.mu.Lock()
	f.log.fail = errors.New("not enough replicas")
	f.log.mu.Unlock()
	if _, err := f.c.AddPartitions(context.Background(), "a", pid, epoch, map[string][]int32{"t": {0}}, false); !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("append failure: %v", err)
	}
	if d := f.state("a"); d.State != StateEmpty {
		t.Fatalf("state after a failed write: %+v", d)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	pid, epoch := f.init("a")
	f.init("b")
	f.add("b", pid+1, 0, 0) // b stays open: never expires
	_ = epoch
	f.clock.add(30 * time.Minute)
	f.c.ExpireIDs()
	if d := f.state("a"); d.Err != nil {
		t.Fatalf("expired too early: %+v", d)
	}
	f.clock.add(31 * time.Minute)
	f.c.ExpireIDs()
	if d := f.state("a"); !errors.Is(d.Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("after expiry: %+v", d)
	}
	if d := f.state("b"); d.Err != nil || d.State != StateOngoing {
		t.Fatalf("open transaction expired: %+v", d)
	}
	// The tombstone survives a reload.
	f.c.Close()
	f.c = f.start(2)
	if d := f.state("a"); !errors.Is(d.Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("after reload: %+v", d)
	}
}

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	pa, ea := f.init("a")
	f.init("b")
	f.add("a", pa, ea, 0)
	f.clock.add(3 * time.Second)
	if got := f.c.List(ListFilter{}); len(got) != 2 {
		t.Fatalf("all: %+v", got)
	}
	if got := f.c.List(ListFilter{States: []State{StateOngoing}}); len(got) != 1 || got[0].TransactionalID != "a" || got[0].Partitions != 1 {
		t.Fatalf("ongoing: %+v", got)
	}
	if got := f.c.List(ListFilter{ProducerIDs: []int64{pa}}); len(got) != 1 || got[0].ProducerID != pa {
		t.Fatalf("by producer: %+v", got)
	}
	if got := f.c.List(ListFilter{MinDuration: 2 * time.Second}); len(got) != 1 || got[0].TransactionalID != "a" {
		t.Fatalf("duration 2s: %+v", got)
	}
	if got := f.c.List(ListFilter{MinDuration: 4 * time.Second}); len(got) != 0 {
		t.Fatalf("duration 4s: %+v", got)
	}
}

func TestRecordFormat(t *testing.T) {
	m := &meta{id: "x", pid: 5, epoch: 2, timeoutMs: 60000, state: StatePrepareCommit, startMs: 10, updateMs: 20,
		parts: map[string]map[int32]struct{}{"t": {1: {}, 0: {}}}}
	recs, err := batch.Records(recordBatch(m, 20))
	if err != nil || len(recs) != 1 {
		t.Fatal(err)
	}
	var k kmsg.TxnMetadataKey
	var v kmsg.TxnMetadataValue
	if err := k.ReadFrom(recs[0].Key); err != nil || k.TransactionalID != "x" || k.Version != 0 {
		t.Fatalf("key %+v %v", k, err)
	}
	if err := v.ReadFrom(recs[0].Value); err != nil {
		t.Fatal(err)
	}
	if v.State.String() != "PrepareCommit" || v.ProducerID != 5 || v.ProducerEpoch != 2 || v.TimeoutMillis != 60000 ||
		len(v.Topics) != 1 || len(v.Topics[0].Partitions) != 2 || v.StartTimestamp != 10 {
		t.Fatalf("value %+v", v)
	}
}
