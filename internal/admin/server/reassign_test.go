package server

import (
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// An adding replica gets its progress: bytes left and copy rate from the
// leader's average bytes per offset; other followers get none.
func TestPartitionInfoAddingReplicaProgress(t *testing.T) {
	now := time.Now()
	v := broker.PartitionView{
		Topic: "orders", Partition: 0, Leader: 1, IsLeader: true, Replicas: []int32{3, 2, 1}, ISR: []int32{1, 2},
		AddingReplicas: []int32{3}, RemovingReplicas: []int32{1},
		LogStartOffset: 100, LogEndOffset: 1100, LogBytes: 2_000_000, // 2000 bytes per offset
		Followers: []replica.FollowerInfo{
			{ID: 3, LogEndOffset: 600, LastFetch: now, LastAdvance: now.Add(-2 * time.Second), OffsetsPerSecond: 50},
			{ID: 2, LogEndOffset: 1100, LastFetch: now, LastAdvance: now, InISR: true},
		},
	}
	p := partitionInfo(v, now)
	if len(p.AddingReplicas) != 1 || p.AddingReplicas[0] != 3 || len(p.RemovingReplicas) != 1 || p.RemovingReplicas[0] != 1 {
		t.Fatalf("adding %v removing %v", p.AddingReplicas, p.RemovingReplicas)
	}
	a, o := p.Followers[0], p.Followers[1]
	if !a.Adding || a.BytesLeft == nil || *a.BytesLeft != 1_000_000 || a.CopyBytesPerSecond == nil || *a.CopyBytesPerSecond != 100_000 ||
		a.LastAdvanceSeconds == nil || *a.LastAdvanceSeconds != 2 {
		t.Fatalf("adding replica: %+v", a)
	}
	if o.Adding || o.BytesLeft != nil || o.CopyBytesPerSecond != nil || o.LastAdvanceSeconds != nil {
		t.Fatalf("a normal follower got reassignment progress: %+v", o)
	}
	// An empty log gives no bytes per offset: zero, not a division by zero.
	v.LogStartOffset, v.LogEndOffset, v.LogBytes = 0, 0, 0
	if p := partitionInfo(v, now); *p.Followers[0].BytesLeft != 0 {
		t.Fatalf("empty log: %+v", p.Followers[0])
	}
}
