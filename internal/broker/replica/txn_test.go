package replica

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/twmb/franz-go/pkg/kerr"
)

// producerBatch is a batch of n records from producer pid at epoch and base
// sequence seq, transactional or not.
func producerBatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	recs := make([]batch.Record, n)
	now := time.Now().UnixMilli()
	for i := range recs {
		recs[i] = batch.Record{Timestamp: now, Key: []byte("k"), Value: []byte("v")}
	}
	b := batch.Build(now, recs)
	batch.SetProducer(b, pid, epoch, seq, txn, false)
	return b
}

// fakeVerifier answers VerifyTxnPartition from added and counts the calls.
type fakeVerifier struct {
	mu     sync.Mutex
	added  map[int64]bool // producer ids whose partition was added
	calls  int
	during func() // run inside each call (a marker racing the question)
}

func (f *fakeVerifier) VerifyTxnPartition(_ context.Context, txnID string, pid int64, _ int16, _ string, _ int32) error {
	f.mu.Lock()
	f.calls++
	ok := f.added[pid] && txnID == "tx"
	during := f.during
	f.mu.Unlock()
	if during != nil {
		during()
	}
	if !ok {
		return kerr.InvalidTxnState
	}
	return nil
}

func (f *fakeVerifier) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// txnLeader is a single-replica leader (it commits on its own fsync).
func txnLeader(t *testing.T, dir string) *Partition {
	t.Helper()
	p := partitionIn(t, dir)
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1}, ISR: []int32{1}, Self: 1})
	return p
}

func appendTxnCommitted(t *testing.T, p *Partition, b []byte, v TxnVerifier) AppendResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.AppendTxn(ctx, b, TxnProduce{TransactionalID: "tx", Verifier: v})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch); err != nil {
		t.Fatal(err)
	}
	return res
}

func writeMarker(t *testing.T, p *Partition, m TxnMarker) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	off, err := p.WriteTxnMarkerAt(ctx, m)
	if err != nil {
		t.Fatalf("marker %+v: %v", m, err)
	}
	return off
}

// txnScenario writes: a plain batch (0), producer 7's transaction (1-2, 3),
// a plain batch (4), producer 8's transaction (5), then aborts 7 (marker 6)
// and leaves 8 open.
func txnScenario(t *testing.T, p *Partition, v *fakeVerifier) {
	t.Helper()
	appendTxnCommitted(t, p, oneBatch(), v)
	appendTxnCommitted(t, p, producerBatch(7, 0, 0, 2, true), v)
	appendTxnCommitted(t, p, producerBatch(7, 0, 2, 1, true), v)
	appendTxnCommitted(t, p, oneBatch(), v)
	if lso := p.LastStableOffset(); lso != 1 {
		t.Fatalf("last stable offset %d with producer 7's transaction open at 1, want 1", lso)
	}
	appendTxnCommitted(t, p, producerBatch(8, 0, 0, 1, true), v)
	if got := writeMarker(t, p, TxnMarker{ProducerID: 7, ProducerEpoch: 0, CoordinatorEpoch: 3}); got != 6 {
		t.Fatalf("marker at %d, want 6", got)
	}
}

func checkScenario(t *testing.T, p *Partition, started time.Time) {
	t.Helper()
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != 5 || hw != 7 {
		t.Fatalf("last stable offset %d, high watermark %d; want 5 (producer 8 open) and 7", lso, hw)
	}
	ongoing := p.OngoingTxns()
	if len(ongoing) != 1 || ongoing[0].ProducerID != 8 || ongoing[0].FirstOffset != 5 || ongoing[0].LastOffset != 5 {
		t.Fatalf("ongoing %+v, want producer 8 at 5-5", ongoing)
	}
	if d := ongoing[0].Started.Sub(started); d < -time.Second || d > 5*time.Second {
		t.Fatalf("transaction started %v, want about %v", ongoing[0].Started, started)
	}
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 1, LastOffset: 6}}
	for _, c := range []struct {
		from, to int64
		want     []AbortedTxn
	}{
		{0, 7, want}, {6, 7, want}, {3, 4, want}, {0, 1, nil}, {7, 100, nil},
	} {
		if got := p.AbortedTxns(c.from, c.to); !slices.Equal(got, c.want) {
			t.Errorf("aborted in [%d, %d): %+v, want %+v", c.from, c.to, got, c.want)
		}
	}
	var found bool
	for _, pi := range p.Producers() {
		if pi.ProducerID == 7 {
			found = true
			if pi.CoordinatorEpoch != 3 || pi.TxnStartOffset != -1 || pi.LastSequence != 2 {
				t.Errorf("producer 7 described as %+v", pi)
			}
		}
		if pi.ProducerID == 8 && pi.TxnStartOffset != 5 {
			t.Errorf("producer 8 described as %+v", pi)
		}
	}
	if !found {
		t.Error("producer 7 not described")
	}
}

func TestTxnStateAcrossAppendMarkerAndRestart(t *testing.T) {
	dir := t.TempDir()
	p := txnLeader(t, dir)
	v := &fakeVerifier{added: map[int64]bool{7: true, 8: true}}
	started := time.Now()
	txnScenario(t, p, v)
	checkScenario(t, p, started)

	// read_committed: up to the last stable offset, with the abort.
	recs, hw, lso, aborted, err := p.ReadCommitted(0, 1<<20, true)
	if err != nil || hw != 7 || lso != 5 {
		t.Fatalf("read committed: hw %d lso %d err %v", hw, lso, err)
	}
	if end, _ := batchesEnd(recs); end != 5 {
		t.Fatalf("read committed returned up to %d, want 5", end)
	}
	if len(aborted) != 1 || aborted[0].ProducerID != 7 {
		t.Fatalf("aborted %+v", aborted)
	}

	// Restarted: the same state from the log alone.
	p.close()
	q := txnLeader(t, dir)
	checkScenario(t, q, started)
	// Producer 8 can go on without asking the coordinator again; its
	// commit then frees the partition.
	calls := v.count()
	appendTxnCommitted(t, q, producerBatch(8, 0, 1, 1, true), v)
	if v.count() != calls {
		t.Fatal("a later batch of an ongoing transaction was verified again")
	}
	writeMarker(t, q, TxnMarker{ProducerID: 8, ProducerEpoch: 0, Commit: true, CoordinatorEpoch: 3})
	if lso, hw := q.LastStableOffset(), q.HighWatermark(); lso != hw || lso != 9 {
		t.Fatalf("last stable offset %d, high watermark %d after every transaction ended, want 9", lso, hw)
	}
	if got := q.AbortedTxns(0, 100); len(got) != 1 {
		t.Fatalf("commit changed the aborted index: %+v", got)
	}
}

func TestTxnProduceVerification(t *testing.T) {
	p := txnLeader(t, t.TempDir())
	v := &fakeVerifier{added: map[int64]bool{7: true}}
	ctx := context.Background()

	// Not added to the transaction: refused as the coordinator said, nothing appended.
	if _, err := p.AppendTxn(ctx, producerBatch(9, 0, 0, 1, true), TxnProduce{TransactionalID: "tx", Verifier: v}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("unadded partition: %v", err)
	}
	// The wrong transactional id for the producer.
	if _, err := p.AppendTxn(ctx, producerBatch(7, 0, 0, 1, true), TxnProduce{TransactionalID: "other", Verifier: v}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("another transactional id: %v", err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		tp   TxnProduce
		want error
	}{
		{"no verifier", producerBatch(7, 0, 0, 1, true), TxnProduce{TransactionalID: "tx"}, kerr.InvalidTxnState},
		{"no transactional id", producerBatch(7, 0, 0, 1, true), TxnProduce{Verifier: v}, kerr.TransactionalIDAuthorizationFailed},
		{"no producer id", producerBatch(-1, -1, -1, 1, true), TxnProduce{TransactionalID: "tx", Verifier: v}, kerr.InvalidRecord},
		{"control batch", buildMarker(TxnMarker{ProducerID: 7, Commit: true}, time.Now()), TxnProduce{TransactionalID: "tx", Verifier: v}, kerr.InvalidRecord},
	} {
		if _, err := p.AppendTxn(ctx, c.b, c.tp); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if p.LogEndOffset() != 0 {
		t.Fatalf("refused batches appended: log end %d", p.LogEndOffset())
	}
	if v.count() != 2 {
		t.Fatalf("%d verifications, want 2 (refused batches are not asked about)", v.count())
	}

	appendTxnCommitted(t, p, producerBatch(7, 0, 0, 1, true), v)
	appendTxnCommitted(t, p, producerBatch(7, 0, 1, 1, true), v)
	if v.count() != 3 {
		t.Fatalf("%d verifications after two batches of one transaction, want 3", v.count())
	}
	// A plain batch from a producer inside a transaction.
	if _, err := p.AppendTxn(ctx, producerBatch(7, 0, 2, 1, false), TxnProduce{}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("non-transactional batch inside a transaction: %v", err)
	}
	// A retry of a batch already appended is answered as a duplicate.
	dup, err := p.AppendTxn(ctx, producerBatch(7, 0, 1, 1, true), TxnProduce{TransactionalID: "tx", Verifier: v})
	if err != nil || !dup.Duplicate || dup.BaseOffset != 1 {
		t.Fatalf("retried batch: %+v %v", dup, err)
	}
	writeMarker(t, p, TxnMarker{ProducerID: 7, ProducerEpoch: 0, Commit: true})
	// The next transaction is verified again.
	appendTxnCommitted(t, p, producerBatch(7, 0, 2, 1, true), v)
	if v.count() != 4 {
		t.Fatalf("%d verifications, the next transaction's first batch was not verified", v.count())
	}
}

// A marker that lands while the coordinator is asked makes its yes stale:
// the batch is refused, as Kafka's verification guard.
func TestTxnMarkerDuringVerificationRefusesTheBatch(t *testing.T) {
	p := txnLeader(t, t.TempDir())
	v := &fakeVerifier{added: map[int64]bool{7: true}}
	appendTxnCommitted(t, p, producerBatch(7, 0, 0, 1, true), v)
	writeMarker(t, p, TxnMarker{ProducerID: 7, ProducerEpoch: 0, Commit: true})
	v.during = func() { writeMarker(t, p, TxnMarker{ProducerID: 7, ProducerEpoch: 0}) }
	end := p.LogEndOffset()
	if _, err := p.AppendTxn(context.Background(), producerBatch(7, 0, 1, 1, true), TxnProduce{TransactionalID: "tx", Verifier: v}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("batch verified before an abort marker: %v", err)
	}
	if p.LogEndOffset() != end+1 || len(p.OngoingTxns()) != 0 {
		t.Fatalf("log end %d (want %d: the marker only), ongoing %+v", p.LogEndOffset(), end+1, p.OngoingTxns())
	}
}

// Markers that lie about epochs are fenced and append nothing.
func TestTxnMarkerFencing(t *testing.T) {
	p := txnLeader(t, t.TempDir())
	v := &fakeVerifier{added: map[int64]bool{7: true}}
	appendTxnCommitted(t, p, producerBatch(7, 2, 0, 1, true), v)
	writeMarker(t, p, TxnMarker{ProducerID: 7, ProducerEpoch: 2, Commit: true, CoordinatorEpoch: 5})
	appendTxnCommitted(t, p, producerBatch(7, 2, 1, 1, true), v)
	end := p.LogEndOffset()
	ctx := context.Background()
	for _, c := range []struct {
		m    TxnMarker
		want error
	}{
		{TxnMarker{ProducerID: 7, ProducerEpoch: 1, CoordinatorEpoch: 5}, kerr.InvalidProducerEpoch},
		{TxnMarker{ProducerID: 7, ProducerEpoch: 2, CoordinatorEpoch: 4}, kerr.TransactionCoordinatorFenced},
		{TxnMarker{ProducerID: -1, ProducerEpoch: 2, CoordinatorEpoch: 5}, kerr.InvalidProducerIDMapping},
	} {
		if err := p.WriteTxnMarker(ctx, c.m); !errors.Is(err, c.want) {
			t.Errorf("marker %+v: %v, want %v", c.m, err, c.want)
		}
	}
	if p.LogEndOffset() != end || p.LastStableOffset() != end-1 {
		t.Fatalf("fenced markers changed the log (end %d, want %d) or the LSO (%d)", p.LogEndOffset(), end, p.LastStableOffset())
	}
	// A marker for a producer with nothing open here is written and ends nothing.
	writeMarker(t, p, TxnMarker{ProducerID: 99, ProducerEpoch: 0})
	if p.LogEndOffset() != end+1 || len(p.AbortedTxns(0, 100)) != 0 || p.LastStableOffset() != end-1 {
		t.Fatalf("marker for an unknown producer: end %d aborted %+v lso %d", p.LogEndOffset(), p.AbortedTxns(0, 100), p.LastStableOffset())
	}
	// A bumped epoch's abort (the producer was fenced) ends the
	// transaction; the old epoch is refused afterwards.
	writeMarker(t, p, TxnMarker{ProducerID: 7, ProducerEpoch: 3, CoordinatorEpoch: 5})
	if p.LastStableOffset() != p.HighWatermark() {
		t.Fatalf("bumped-epoch abort left the LSO at %d (hw %d)", p.LastStableOffset(), p.HighWatermark())
	}
	if _, err := p.AppendTxn(ctx, producerBatch(7, 2, 2, 1, true), TxnProduce{TransactionalID: "tx", Verifier: v}); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced epoch appended: %v", err)
	}
	// Not a leader: no marker.
	p.SetRole(Role{LeaderID: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}, Self: 1})
	if err := p.WriteTxnMarker(ctx, TxnMarker{ProducerID: 7, ProducerEpoch: 3, CoordinatorEpoch: 5}); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("follower wrote a marker: %v", err)
	}
}

// The last stable offset waits for the marker to commit: a new leader
// without the marker must not have exposed the transaction.
func TestTxnLSOWaitsForTheMarkerToCommit(t *testing.T) {
	l, f := testPartition(t), testPartition(t)
	cfg := l.Config()
	cfg.MinInsyncReplicas = 1
	l.SetConfig(cfg)
	l.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	f.SetRole(Role{LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 2})
	v := &fakeVerifier{added: map[int64]bool{7: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	follow := func() {
		t.Helper()
		copyFrom(t, f, l)
		if err := l.UpdateFollower(2, f.LogEndOffset()); err != nil {
			t.Fatal(err)
		}
		// The next fetch carries the new high watermark.
		if err := f.AppendFromLeader(context.Background(), nil, l.HighWatermark()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.AppendTxn(ctx, producerBatch(7, 0, 0, 3, true), TxnProduce{TransactionalID: "tx", Verifier: v}); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(ctx, 3); err != nil {
		t.Fatal(err)
	}
	follow()
	if l.HighWatermark() != 3 || l.LastStableOffset() != 0 || f.LastStableOffset() != 0 {
		t.Fatalf("hw %d, lso %d/%d with the transaction open", l.HighWatermark(), l.LastStableOffset(), f.LastStableOffset())
	}
	done := make(chan error, 1)
	go func() { done <- l.WriteTxnMarker(ctx, TxnMarker{ProducerID: 7, ProducerEpoch: 0, Commit: true}) }()
	testharness.Eventually(t, 5*time.Second, "the marker appended", func() bool { return l.LogEndOffset() == 4 })
	if err := l.WaitDurable(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if lso := l.LastStableOffset(); lso != 0 {
		t.Fatalf("last stable offset %d before the follower has the marker, want 0", lso)
	}
	select {
	case err := <-done:
		t.Fatalf("marker answered before it committed: %v", err)
	default:
	}
	_, changed := l.HighWatermarkChanged()
	follow()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("the LSO moved without the high watermark waking waiters")
	}
	if l.LastStableOffset() != 4 || f.LastStableOffset() != 4 {
		t.Fatalf("lso %d/%d after the marker committed, want 4", l.LastStableOffset(), f.LastStableOffset())
	}
	// The follower rebuilt the same state from what it replicated.
	if len(f.OngoingTxns()) != 0 || f.Producers()[0].CoordinatorEpoch != 0 {
		t.Fatalf("follower state: ongoing %+v producers %+v", f.OngoingTxns(), f.Producers())
	}
}

// A follower rebuilds transactions from what it replicates, and a
// truncation below a marker reopens the transaction the marker ended.
func TestTxnFollowerStateAndTruncation(t *testing.T) {
	l, f := txnLeader(t, t.TempDir()), testPartition(t)
	f.SetRole(Role{LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1}, Self: 2})
	v := &fakeVerifier{added: map[int64]bool{7: true, 8: true}}
	started := time.Now()
	txnScenario(t, l, v)
	copyFrom(t, f, l)
	checkScenario(t, f, started)

	if err := f.Truncate(6); err != nil { // cut the abort marker
		t.Fatal(err)
	}
	if got := f.AbortedTxns(0, 100); len(got) != 0 {
		t.Fatalf("aborted index kept a cut marker: %+v", got)
	}
	ongoing := f.OngoingTxns()
	if len(ongoing) != 2 || ongoing[0].ProducerID != 7 || ongoing[0].FirstOffset != 1 || ongoing[0].LastOffset != 3 {
		t.Fatalf("after truncation ongoing %+v, want producers 7 (1-3) and 8", ongoing)
	}
	if lso := f.LastStableOffset(); lso > 1 {
		t.Fatalf("last stable offset %d with producer 7 open again at 1", lso)
	}
	if err := f.StartAt(100); err != nil {
		t.Fatal(err)
	}
	if len(f.OngoingTxns()) != 0 || len(f.AbortedTxns(0, 1000)) != 0 {
		t.Fatal("a restart at an offset kept transaction state")
	}
}

// Retention drops aborted-index entries wholly below the new log start.
func TestTxnRetentionTrimsAbortedIndex(t *testing.T) {
	cfg := topicconfig.Config{SegmentBytes: 200, RetentionMs: -1, RetentionBytes: -1, MaxMessageBytes: 1 << 20, MinInsyncReplicas: 1, CleanupPolicy: partlog.CleanupDelete}
	p, err := openPartition(t.TempDir(), "t", 0, cfg, partlog.FlushAlways, partlog.Options{Flush: partlog.FlushAlways},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1}, ISR: []int32{1}, Self: 1})
	v := &fakeVerifier{added: map[int64]bool{7: true}}
	appendTxnCommitted(t, p, producerBatch(7, 0, 0, 1, true), v)
	writeMarker(t, p, TxnMarker{ProducerID: 7, ProducerEpoch: 0})
	for range 10 {
		appendTxnCommitted(t, p, oneBatch(), v)
	}
	if got := p.AbortedTxns(0, 100); len(got) != 1 {
		t.Fatalf("aborted %+v before retention", got)
	}
	cfg.RetentionBytes = 1
	p.SetConfig(cfg)
	if n, err := p.enforceRetention(); err != nil || n == 0 || p.LogStartOffset() <= 1 {
		t.Fatalf("retention deleted %d segments (log start %d): %v", n, p.LogStartOffset(), err)
	}
	if got := p.AbortedTxns(0, 100); len(got) != 0 {
		t.Fatalf("aborted index kept %+v below log start %d", got, p.LogStartOffset())
	}
}
