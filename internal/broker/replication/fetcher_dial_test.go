package replication

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// With FetchersConfig.Dial, every connection of a fetch loop comes from it,
// asked for the leader's id: the address Set names is not dialed (on a node
// it is the leader's Kafka listener, where replica ids are refused).
func TestFetchLoopConnectsThroughDial(t *testing.T) {
	var seen fetchLog
	leader := startFakeLeader(t, answerWith(&seen, "abc"))
	tp := TopicPartition{"t", 0}
	r := follower(0, 0, 1, -1)
	reps := &fakeReplicas{}
	reps.add(tp.Topic, tp.Partition, r)
	var mu sync.Mutex
	var asked []int32
	dial := func(ctx context.Context, id int32) (net.Conn, error) {
		mu.Lock()
		asked = append(asked, id)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, "tcp", leader.addr())
	}
	f := NewFetchers(FetchersConfig{NodeID: 2, Replicas: reps, Dial: dial, Logger: testharness.Logger()})
	defer f.Stop()
	ctx := testharness.Context(t, 30*time.Second)

	// A port nobody listens on: only Dial can reach the leader.
	f.Set(ctx, map[int32]map[TopicPartition]bool{7: {tp: true}}, map[int32]string{7: "127.0.0.1:1"})
	testharness.Eventually(t, 10*time.Second, "the follower to copy the leader through Dial",
		func() bool { return seen.saw(tp, 3) })
	mu.Lock()
	defer mu.Unlock()
	if len(asked) == 0 || slices.ContainsFunc(asked, func(id int32) bool { return id != 7 }) {
		t.Fatalf("Dial asked for leaders %v, want only 7", asked)
	}
}
