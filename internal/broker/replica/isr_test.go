package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// lagPartition is a leader of replicas 1,2,3 (all in the ISR) with a short
// replica.lag.time.max.ms and min.insync.replicas 2.
func lagPartition(t *testing.T) *Partition {
	t.Helper()
	p := testPartition(t)
	cfg := p.Config()
	cfg.ReplicaLagTimeMaxMs = 100
	p.SetConfig(cfg)
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Self: 1})
	return p
}

func appendDurable(t *testing.T, p *Partition) AppendResult {
	t.Helper()
	res, err := p.Append(oneBatch())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitDurable(ctx, res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	return res
}

func all(int32) bool { return true }

// waitCommitted runs an acks=all wait for res in the background.
func waitCommitted(p *Partition, res AppendResult) <-chan error {
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errc <- p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch)
	}()
	return errc
}

// pollISR calls ISRChange until it proposes want, keeping follower 2 caught
// up meanwhile.
func pollISR(t *testing.T, p *Partition, eligible func(int32) bool, want []int32) {
	t.Helper()
	var isr []int32
	var ok bool
	testharness.Eventually(t, 5*time.Second, fmt.Sprintf("ISR change to %v", want), func() bool {
		p.UpdateFollower(2, p.LogEndOffset())
		_, isr, ok = p.ISRChange(eligible)
		return ok && slices.Equal(isr, want)
	}, func() string { return fmt.Sprintf("ISR change %v (ok=%v)", isr, ok) })
}

func TestSilentFollowerLeavesTheISRAfterTheLagTime(t *testing.T) {
	p := lagPartition(t)
	appendDurable(t, p)
	if _, _, ok := p.ISRChange(all); ok {
		t.Fatal("ISR change proposed within the lag time")
	}
	pollISR(t, p, all, []int32{1, 2})
	// Until the change commits, 3 still holds the high watermark back...
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d moved past the lagging ISR member", hw)
	}
	// ...but does not count for min.insync.replicas.
	if f := p.Followers(); len(f) != 2 || !f[1].Lagging || f[0].Lagging || f[0].LogEndOffset != 1 {
		t.Fatalf("followers %+v", f)
	}
	if err := p.CheckProduce(-1); err != nil {
		t.Fatalf("two in sync of min 2: %v", err)
	}
	p.SetRole(Role{Leader: true, LeaderID: 1, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Self: 1})
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("hw %d after the shrink, want 1", hw)
	}
}

func TestAcksAllFailsWhenInSyncReplicasFallBelowMinimum(t *testing.T) {
	p := lagPartition(t)
	p.shortISRHold = 0 // refuse at once (the hold has its own test)
	res := appendDurable(t, p)
	errc := waitCommitted(p, res)
	// Neither follower fetches: both are found lagging; no raft is needed
	// for the leader to stop counting them.
	testharness.Eventually(t, 5*time.Second, "acks=all refused with both followers silent", func() bool {
		p.ISRChange(all)
		return errors.Is(p.CheckProduce(-1), kerr.NotEnoughReplicas)
	})
	if err := <-errc; !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("waiting acks=all: %v", err)
	}
	if err := p.CheckProduce(1); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	// A follower catching up counts again at once.
	p.UpdateFollower(2, p.LogEndOffset())
	if err := p.CheckProduce(-1); err != nil {
		t.Fatalf("after follower 2 caught up: %v", err)
	}
}

func TestCaughtUpReplicaRejoinsTheISR(t *testing.T) {
	p := lagPartition(t)
	p.SetRole(Role{Leader: true, LeaderID: 1, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Self: 1})
	appendDurable(t, p)
	p.UpdateFollower(2, p.LogEndOffset()) // the high watermark moves to 1
	p.UpdateFollower(3, 0)                // behind it
	if _, isr, ok := p.ISRChange(all); ok {
		t.Fatalf("behind replica proposed: %v", isr)
	}
	p.UpdateFollower(3, p.LogEndOffset())
	none := func(int32) bool { return false }
	if _, isr, ok := p.ISRChange(none); ok {
		t.Fatalf("fenced replica proposed: %v", isr)
	}
	r, isr, ok := p.ISRChange(all)
	if !ok || !slices.Equal(isr, []int32{1, 2, 3}) || r.PartitionEpoch != 1 {
		t.Fatalf("ISR change %v ok=%v role %+v", isr, ok, r)
	}
}

func TestDeposedLeaderFailsItsWaiters(t *testing.T) {
	p := lagPartition(t)
	res := appendDurable(t, p)
	errc := waitCommitted(p, res)
	p.SetRole(Role{Leader: false, LeaderID: 2, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Self: 1})
	if err := <-errc; !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("waiter of a deposed leader: %v", err)
	}
}

// copyFrom makes follower f fetch everything leader l serves it.
func copyFrom(t *testing.T, f, l *Partition) {
	t.Helper()
	for {
		b, err := l.ReadForFollower(f.LogEndOffset(), 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			return
		}
		if err := f.AppendFromLeader(context.Background(), b, l.HighWatermark()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDivergentTailIsTruncatedByLeaderEpoch(t *testing.T) {
	a, b := testPartition(t), testPartition(t)
	// a leads epoch 0 and writes 5 batches; b copies the first 3.
	a.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	b.SetRole(Role{LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 2})
	for range 3 {
		appendDurable(t, a)
	}
	copyFrom(t, b, a)
	for range 2 {
		appendDurable(t, a)
	}
	// b takes over at epoch 1 and writes 2 batches of its own.
	b.SetRole(Role{Leader: true, LeaderID: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}, Self: 2})
	for range 2 {
		appendDurable(t, b)
	}
	a.SetRole(Role{LeaderID: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}, Self: 1})

	epoch, end, diverged := b.DivergingEpoch(a.LastFetchedEpoch(), a.LogEndOffset())
	if !diverged || epoch != 0 || end != 3 {
		t.Fatalf("diverging epoch %d end %d (%v), want epoch 0 ending at 3", epoch, end, diverged)
	}
	_, own := a.log.EndOffsetForEpoch(epoch)
	if err := a.Truncate(min(end, own)); err != nil {
		t.Fatal(err)
	}
	if a.LogEndOffset() != 3 {
		t.Fatalf("log end %d after truncation, want 3", a.LogEndOffset())
	}
	if _, _, diverged := b.DivergingEpoch(a.LastFetchedEpoch(), a.LogEndOffset()); diverged {
		t.Fatal("still diverged after truncation")
	}
	copyFrom(t, a, b)
	wantBytes, _ := b.ReadForFollower(0, 1<<20, true)
	gotBytes, _ := a.ReadForFollower(0, 1<<20, true)
	if a.LogEndOffset() != 5 || !bytes.Equal(gotBytes, wantBytes) {
		t.Fatalf("replicas differ after catching up: ends %d/%d", a.LogEndOffset(), b.LogEndOffset())
	}
	if err := b.Truncate(0); err == nil {
		t.Fatal("a leader truncated its own log")
	}
}

// A new leader's high watermark counts only once it reached the start of
// its epoch: before, ListOffsets answers OFFSET_NOT_AVAILABLE.
func TestNewLeaderHighWatermarkCurrentAfterFollowersFetch(t *testing.T) {
	p := testPartition(t)
	p.SetRole(Role{LeaderID: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	if err := p.AppendFromLeader(context.Background(), oneBatch(), 0); err != nil {
		t.Fatal(err)
	}
	p.SetRole(Role{Leader: true, LeaderID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	if p.HighWatermarkCurrent() {
		t.Fatalf("hw %d counted before the follower fetched", p.HighWatermark())
	}
	p.UpdateFollower(2, 1)
	if !p.HighWatermarkCurrent() || p.HighWatermark() != 1 {
		t.Fatalf("hw %d after the follower fetched", p.HighWatermark())
	}
}

func TestAcksAllWaitersAreCounted(t *testing.T) {
	p := lagPartition(t)
	res := appendDurable(t, p)
	errc := waitCommitted(p, res)
	testharness.Eventually(t, 5*time.Second, "the waiter counted", func() bool {
		n, _ := p.AcksAllWaiting()
		return n == 1
	})
	p.UpdateFollower(2, p.LogEndOffset())
	p.UpdateFollower(3, p.LogEndOffset())
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n, age := p.AcksAllWaiting(); n != 0 || age != 0 {
		t.Fatalf("after the commit: %d waiting, oldest %v", n, age)
	}
}

// A replica that led briefly without appending recorded an epoch that
// names no data; told to truncate to its log end, it must drop that epoch,
// or it announces it forever and never catches up.
func TestTruncateAtLogEndDropsEmptyEpochs(t *testing.T) {
	a, b := testPartition(t), testPartition(t)
	a.SetRole(Role{Leader: true, LeaderID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	appendDurable(t, a)
	b.SetRole(Role{LeaderID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 2})
	copyFrom(t, b, a)
	// b leads epoch 2 briefly, appends nothing, and follows a at epoch 3.
	b.SetRole(Role{Leader: true, LeaderID: 2, LeaderEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{2}, Self: 2})
	a.SetRole(Role{Leader: true, LeaderID: 1, LeaderEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1}, Self: 1})
	b.SetRole(Role{LeaderID: 1, LeaderEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1}, Self: 2})
	if e := b.LastFetchedEpoch(); e != 2 {
		t.Fatalf("last fetched epoch %d, want the empty epoch 2", e)
	}
	epoch, end, diverged := a.DivergingEpoch(b.LastFetchedEpoch(), b.LogEndOffset())
	if !diverged {
		t.Fatal("epoch 2 is not the leader's, yet no divergence")
	}
	if err := b.TruncateDiverged(epoch, end); err != nil {
		t.Fatal(err)
	}
	if _, _, diverged := a.DivergingEpoch(b.LastFetchedEpoch(), b.LogEndOffset()); diverged {
		t.Fatalf("still diverged after truncating (last fetched epoch %d)", b.LastFetchedEpoch())
	}
}

// An acks=all produce that finds too few replicas in sync waits for them up
// to the hold: it goes ahead as soon as the ISR grows (an outage healing),
// is refused with NOT_ENOUGH_REPLICAS when the hold ends first, and with
// NOT_LEADER_OR_FOLLOWER when the leadership ends meanwhile.
func TestAcksAllProduceWaitsBrieflyForTheISR(t *testing.T) {
	short := Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Self: 1} // min.insync 2
	check := func(p *Partition) <-chan error {
		errc := make(chan error, 1)
		go func() { errc <- p.CheckProduce(-1) }()
		return errc
	}

	p := testPartition(t)
	p.shortISRHold = 10 * time.Second
	p.SetRole(short)
	errc := check(p)
	select {
	case err := <-errc:
		t.Fatalf("answered %v with one replica in sync", err)
	case <-time.After(100 * time.Millisecond):
	}
	grown := time.Now()
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Self: 1})
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("after the ISR grew: %v", err)
		}
		t.Logf("went ahead %v after the ISR grew", time.Since(grown))
	case <-time.After(time.Second):
		t.Fatal("still waiting a second after the ISR grew")
	}
	if err := p.CheckProduce(1); err != nil {
		t.Fatalf("acks=1: %v", err)
	}

	p.SetRole(short)
	errc = check(p)
	p.SetRole(Role{LeaderID: 2, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Self: 1})
	select {
	case err := <-errc:
		if !errors.Is(err, kerr.NotLeaderForPartition) {
			t.Fatalf("deposed while waiting: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("still waiting a second after the leadership ended")
	}

	p = testPartition(t)
	p.shortISRHold = 200 * time.Millisecond
	p.SetRole(short)
	start := time.Now()
	if err := p.CheckProduce(-1); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("after the hold: %v", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 2*time.Second {
		t.Fatalf("refused after %v, want the 200ms hold", waited)
	}
	if err := p.CheckProduce(1); err != nil {
		t.Fatalf("acks=1 held: %v", err)
	}
}

// TestJoiningReplicaHoldsTheHighWatermark: once the leader proposes adding a
// caught-up replica to the ISR, that replica holds the high watermark before
// the change commits. The controller may elect it as soon as it commits (a
// reassignment's completion does), so a high watermark that moved past it
// over the old ISR in between would acknowledge records the new leader does
// not have (TestRemoveNodeWithData lost them so).
func TestJoiningReplicaHoldsTheHighWatermark(t *testing.T) {
	p := testPartition(t)
	cfg := p.Config()
	cfg.ReplicaLagTimeMaxMs = 60_000
	p.SetConfig(cfg)
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Self: 1})
	appendDurable(t, p)
	p.UpdateFollower(2, p.LogEndOffset())
	p.UpdateFollower(3, p.LogEndOffset())
	joinedAt := p.LogEndOffset()
	if hw := p.HighWatermark(); hw != joinedAt {
		t.Fatalf("hw %d, want %d", hw, joinedAt)
	}
	if _, isr, ok := p.ISRChange(all); !ok || !slices.Equal(isr, []int32{1, 2, 3}) {
		t.Fatalf("ISR change %v (ok=%v), want [1 2 3]", isr, ok)
	}
	// The expansion is in flight; the old ISR [1 2] has the next record.
	res := appendDurable(t, p)
	p.UpdateFollower(2, p.LogEndOffset())
	if hw := p.HighWatermark(); hw != joinedAt {
		t.Fatalf("hw %d passed the joining replica 3 (at %d) before its addition committed", hw, joinedAt)
	}
	// Once 3 has it too, it is committed; the committed ISR keeps holding it.
	p.UpdateFollower(3, res.LastOffset+1)
	if hw := p.HighWatermark(); hw != res.LastOffset+1 {
		t.Fatalf("hw %d, want %d", hw, res.LastOffset+1)
	}
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Self: 1, PartitionEpoch: 1})
	appendDurable(t, p)
	p.UpdateFollower(2, p.LogEndOffset())
	if hw := p.HighWatermark(); hw != res.LastOffset+1 {
		t.Fatalf("hw %d passed ISR member 3 (at %d)", hw, res.LastOffset+1)
	}
}
