package replica

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
)

// blockedFsyncPartition is a leader whose fsyncs wait until release is
// closed; entered is signalled as each pass begins.
func blockedFsyncPartition(t *testing.T) (p *Partition, entered chan struct{}, release chan struct{}) {
	t.Helper()
	entered, release = make(chan struct{}, 16), make(chan struct{})
	cfg := topicconfig.Config{SegmentBytes: 1 << 20, RetentionMs: -1, RetentionBytes: -1, MaxMessageBytes: 1 << 20, MinInsyncReplicas: 2, CleanupPolicy: partlog.CleanupDelete}
	p, err := openPartition(t.TempDir(), "t", 0, cfg, partlog.FlushAlways, partlog.Options{Flush: partlog.FlushAlways,
		BeforeFsync: func() error {
			entered <- struct{}{}
			<-release
			return nil
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		p.close()
	})
	p.SetRole(Role{Leader: true, LeaderID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	return p, entered, release
}

// A follower copies a batch while the leader's own fsync of it runs (the
// two fsyncs overlap), but the batch counts as committed only once the
// leader's fsync is done too.
func TestFollowerCopiesWhileTheLeaderFsyncs(t *testing.T) {
	p, entered, release := blockedFsyncPartition(t)
	_, changed := p.FollowerEndChanged()
	res, err := p.Append(oneBatch())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("a follower's long poll was not woken by the append")
	}
	// The produce waits: the leader's fsync starts and blocks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	committed := make(chan error, 1)
	go func() { committed <- p.WaitCommitted(ctx, res.LastOffset+1, 1) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the produce's wait did not start an fsync")
	}
	b, err := p.ReadForFollower(0, 1<<20, true)
	if err != nil || len(b) == 0 {
		t.Fatalf("follower read %d bytes, err %v: want the batch before the leader's fsync finished", len(b), err)
	}
	if err := p.UpdateFollower(2, res.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d while the leader's fsync runs: want 0", hw)
	}
	close(release)
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != res.LastOffset+1 {
		t.Fatalf("high watermark %d after the leader's fsync: want %d", hw, res.LastOffset+1)
	}
}

// A follower's copy starts its fsync without waiting, so the fsyncs of the
// partitions of one fetch response run together; SettleFromLeader then
// waits for it.
func TestCopyFromLeaderStartsTheFsync(t *testing.T) {
	leader := testPartition(t)
	leader.SetRole(Role{Leader: true, LeaderID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	if _, err := leader.Append(oneBatch()); err != nil {
		t.Fatal(err)
	}
	data, err := leader.ReadForFollower(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	f, entered, release := blockedFsyncPartition(t)
	f.SetRole(Role{Leader: false, LeaderID: 1, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 2})
	end, err := f.CopyFromLeader(data)
	if err != nil || end != 1 {
		t.Fatalf("copy: end %d, err %v", end, err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("CopyFromLeader did not start an fsync")
	}
	if f.CommittedEnd() != 0 {
		t.Fatalf("committed end %d before the fsync finished", f.CommittedEnd())
	}
	close(release)
	if err := f.SettleFromLeader(context.Background(), end, 1); err != nil {
		t.Fatal(err)
	}
	if f.CommittedEnd() != 1 || f.HighWatermark() != 1 {
		t.Fatalf("after settling: committed end %d, high watermark %d; want 1, 1", f.CommittedEnd(), f.HighWatermark())
	}
	if end, err := f.CopyFromLeader(nil); err != nil || end != 0 {
		t.Fatalf("copy of nothing: end %d, err %v; want 0 (nothing to wait for)", end, err)
	}
}

// The leader times a follower's copy from the newest append its fetch
// passed, not only the very latest append (which a busy follower rarely
// reaches exactly), and forgets appends of an earlier leadership.
func TestAppendTimesNewestPassed(t *testing.T) {
	var a appendTimes
	t0 := time.Unix(1000, 0)
	for i := range int64(5) {
		a.note(10*(i+1), t0.Add(time.Duration(i)*time.Millisecond)) // ends 10..50 at t0+0..4ms
	}
	now := t0.Add(10 * time.Millisecond)
	for _, c := range []struct {
		prev, next int64
		want       time.Duration
		ok         bool
	}{
		{0, 35, 8 * time.Millisecond, true},  // passed 10, 20, 30: the newest is 30 at +2ms
		{30, 50, 6 * time.Millisecond, true}, // passed 40 and 50
		{50, 60, 0, false},                   // nothing new passed
		{0, 5, 0, false},                     // none passed yet
		{31, 39, 0, false},                   // between appends
	} {
		d, ok := a.passed(c.prev, c.next, now)
		if ok != c.ok || d != c.want {
			t.Errorf("passed(%d, %d) = %v, %v; want %v, %v", c.prev, c.next, d, ok, c.want, c.ok)
		}
	}
	for i := range int64(appendWindow + 3) {
		a.note(100+i, now)
	}
	if _, ok := a.passed(0, 20, now); ok {
		t.Error("an append beyond the window was still remembered")
	}
	a.reset()
	if _, ok := a.passed(0, 1000, now); ok {
		t.Error("an append was remembered across a reset")
	}
}
