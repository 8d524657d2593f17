package replica

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
)

func testPartition(t *testing.T) *Partition {
	t.Helper()
	cfg := topicconfig.Config{SegmentBytes: 1 << 20, RetentionMs: -1, RetentionBytes: -1, MaxMessageBytes: 1 << 20, MinInsyncReplicas: 2, CleanupPolicy: partlog.CleanupDelete}
	p, err := openPartition(t.TempDir(), "t", 0, cfg, partlog.FlushAlways, partlog.Options{Flush: partlog.FlushAlways},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.close() })
	return p
}

func oneBatch() []byte {
	return batch.Build(time.Now().UnixMilli(), []batch.Record{{Value: []byte("v")}})
}

func TestCheckProduce(t *testing.T) {
	for _, c := range []struct {
		replicas, isr []int32
		minISR        int32
		ok            bool
	}{
		{[]int32{1, 2, 3}, []int32{1, 2, 3}, 2, true},
		{[]int32{1, 2, 3}, []int32{1, 2}, 2, true},
		{[]int32{1, 2, 3}, []int32{1}, 2, false},
		{[]int32{1}, []int32{1}, 2, true}, // capped at the replication factor
		{[]int32{1, 2}, []int32{1}, 3, false},
	} {
		p := testPartition(t)
		p.shortISRHold = 0 // refuse at once (the hold has its own test)
		cfg := p.Config()
		cfg.MinInsyncReplicas = c.minISR
		p.SetConfig(cfg)
		p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: c.replicas, ISR: c.isr, Self: 1})
		err := p.CheckProduce(-1)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, kerr.NotEnoughReplicas)) {
			t.Errorf("replicas %v isr %v min %d: %v", c.replicas, c.isr, c.minISR, err)
		}
		if err := p.CheckProduce(1); err != nil {
			t.Errorf("acks=1 refused: %v", err)
		}
	}
	p := testPartition(t)
	p.SetRole(Role{Leader: false, LeaderID: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	if err := p.CheckProduce(1); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("follower took a produce: %v", err)
	}
	if _, err := p.Append(oneBatch()); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("follower appended: %v", err)
	}
}

// A leader alone in its ISR commits on its own fsync.
func TestAloneInISRCommitsOnFsync(t *testing.T) {
	p := testPartition(t)
	p.SetRole(Role{Leader: true, Replicas: []int32{1}, ISR: []int32{1}, Self: 1})
	res, err := p.Append(oneBatch())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d, want 1", hw)
	}
}

// With other ISR members the leader's own fsync is not enough: acks=all
// waits for the high watermark, which only the ISR moves, and times out.
func TestAcksAllWaitsForTheWholeISR(t *testing.T) {
	p := testPartition(t)
	p.SetRole(Role{Leader: true, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	res, err := p.Append(oneBatch())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitDurable(ctx, res.LastOffset+1); err != nil {
		t.Fatalf("acks=1 wait: %v", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := p.WaitCommitted(short, res.LastOffset+1, res.LeaderEpoch); !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("acks=all wait without the follower: %v, want REQUEST_TIMED_OUT", err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d moved without the follower", hw)
	}
	// Once the ISR shrinks to the leader, its durable end is committed, but
	// below min.insync.replicas (2): the producer is told so.
	p.SetRole(Role{Leader: true, Replicas: []int32{1, 2}, ISR: []int32{1}, Self: 1})
	if err := p.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch); !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("after the ISR fell below the minimum: %v", err)
	}
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("high watermark %d, want 1", hw)
	}
}

// The leader's high watermark is the smallest log end over the ISR: its own
// durable end and each follower's fetch position; a follower outside the
// ISR does not hold it back.
func TestHighWatermarkIsMinimumOverISR(t *testing.T) {
	p := testPartition(t)
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Self: 1})
	var last int64
	for range 3 {
		res, err := p.Append(oneBatch())
		if err != nil {
			t.Fatal(err)
		}
		last = res.LastOffset
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitDurable(ctx, last+1); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d before any follower fetched", hw)
	}
	p.UpdateFollower(2, 3)
	p.UpdateFollower(3, 1)
	if hw := p.HighWatermark(); hw != 1 {
		t.Fatalf("hw %d, want 1 (follower 3's end)", hw)
	}
	p.UpdateFollower(3, 2)
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("hw %d, want 2", hw)
	}
	// Follower 3 leaves the ISR: it no longer holds the high watermark back.
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Self: 1})
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d after the ISR shrank, want 3", hw)
	}
	// The high watermark never moves back.
	p.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Self: 1})
	if hw := p.HighWatermark(); hw != 3 {
		t.Fatalf("hw %d after the ISR grew back, want it kept at 3", hw)
	}
	// Followers are served up to the leader's durable end.
	b, err := p.ReadForFollower(0, 1<<20, true)
	if err != nil || len(b) == 0 {
		t.Fatalf("read for follower: %d bytes, %v", len(b), err)
	}
}
