package replica

import (
	"context"
	"testing"
)

// A fetch still in flight when this replica became the leader must not
// append the old leader's bytes after the start of the new epoch: they
// would sit under an epoch that does not cover them, and every follower
// fetching them would be told to truncate them again, forever.
func TestAppendFromLeaderRefusedOnceLeader(t *testing.T) {
	old, p := testPartition(t), testPartition(t)
	old.SetRole(Role{Leader: true, LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 1})
	p.SetRole(Role{LeaderID: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Self: 2})
	appendDurable(t, old)
	copyFrom(t, p, old)
	appendDurable(t, old)
	inFlight, err := old.ReadForFollower(p.LogEndOffset(), 1<<20, true)
	if err != nil || len(inFlight) == 0 {
		t.Fatalf("read for follower: %d bytes, %v", len(inFlight), err)
	}
	// p takes over at epoch 1 before the fetch's answer is applied.
	p.SetRole(Role{Leader: true, LeaderID: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}, Self: 2})
	end := p.LogEndOffset()
	if err := p.AppendFromLeader(context.Background(), inFlight, old.HighWatermark()); err == nil {
		t.Fatal("the new leader appended what the old leader sent")
	}
	if got := p.LogEndOffset(); got != end {
		t.Fatalf("log end %d after the refused append, want %d", got, end)
	}
}
