package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// raftOf asks node p's admin API for its raft status.
func raftOf(t *testing.T, p *testharness.Process) (api.RaftStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Admin+"/v1/raft", nil)
	if err != nil {
		return api.RaftStatus{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return api.RaftStatus{}, err
	}
	defer resp.Body.Close()
	var env api.Envelope[api.RaftStatus]
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return api.RaftStatus{}, err
	}
	return env.Data, nil
}

// joiner launches node id with --join at the cluster address of node 2 (a
// follower or the leader: either works) and extra flags.
func (c *procCluster) joiner(id int, extra ...string) *testharness.Process {
	c.t.Helper()
	return testharness.Launch(c.t, testharness.Serve{Binary: chronikBinary(c.t),
		Args: append([]string{"--node-id", strconv.Itoa(id), "--join", c.Procs[1].Cluster}, extra...)})
}

// waitMembers waits until node 1 reports exactly these voters and learners.
func (c *procCluster) waitMembers(within time.Duration, voters, learners []uint64) {
	c.t.Helper()
	var last api.RaftStatus
	testharness.Eventually(c.t, within, fmt.Sprintf("voters %v and learners %v", voters, learners), func() bool {
		st, err := raftOf(c.t, c.Procs[0])
		last = st
		return err == nil && slices.Equal(st.Voters, voters) && slices.Equal(st.Learners, learners)
	}, func() string { return fmt.Sprintf("voters %v learners %v", last.Voters, last.Learners) })
}

// hostsReplicas reports whether a topic created now places replicas on every
// one of ids.
func (c *procCluster) hostsReplicas(topic string, ids ...int32) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.client())
	resp, err := adm.CreateTopic(ctx, 10, 3, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.t.Fatalf("create %s: %v", topic, err)
	}
	testharness.Eventually(c.t, 10*time.Second, "replicas on the joined brokers", func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		hosted := map[int32]bool{}
		for _, p := range md.Topics[topic].Partitions {
			for _, r := range p.Replicas {
				hosted[r] = true
			}
		}
		for _, id := range ids {
			if !hosted[id] {
				return false
			}
		}
		return true
	})
}

// A three-node cluster under an acks=all stream grows to five with --join.
// With the default --metadata-voters 3 the joiners stay learners, yet they
// are brokers: a topic created afterwards places replicas on them. Node 5 is
// killed with -9 right after the leader added it, and restarted: it
// completes. Nothing acknowledged is lost.
func TestJoinGrowsClusterUnderAcksAllStream(t *testing.T) {
	c := startProcCluster(t)
	c.createRF3("stream")
	s := startStream(t, c, "stream")
	s.waitAcks(500, 30*time.Second)

	n4 := c.joiner(4)
	n4.WaitReady(t)
	c.waitMembers(20*time.Second, []uint64{1, 2, 3}, []uint64{4})

	n5 := c.joiner(5)
	c.waitMembers(20*time.Second, []uint64{1, 2, 3}, []uint64{4, 5})
	n5.Kill(t)
	n5 = testharness.Start(t, n5.Serve)
	st, err := raftOf(t, n5)
	if err != nil || !slices.Equal(st.Learners, []uint64{4, 5}) {
		t.Fatalf("restarted node 5: %+v, %v", st, err)
	}

	c.hostsReplicas("after-join", 4, 5)
	s.waitAcks(s.count()+500, 30*time.Second)
	s.finish()
	s.verify(c)
}

// With --metadata-voters 5 both joiners become voters once caught up.
func TestJoinersBecomeVotersUpToTarget(t *testing.T) {
	c := startProcCluster(t, "--metadata-voters", "5")
	for _, id := range []int{4, 5} {
		c.joiner(id, "--metadata-voters", "5").WaitReady(t)
	}
	c.waitMembers(30*time.Second, []uint64{1, 2, 3, 4, 5}, []uint64{})
}
