// Package admintest is for tests only: the fakes, raft statuses and
// recorded cluster views that the admin client, admin server, diagnosis,
// TUI and CLI tests share.
//
// It imports only internal/admin/api and the standard library, never the
// broker or internal/admin/server, so the read path's tests link no more
// than the read path does.
package admintest

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// FakeSource is an admin server Source (Node, Raft, Ready) whose answers a
// test sets; it is safe to change while a handler reads it.
type FakeSource struct {
	mu    sync.Mutex
	node  api.NodeInfo
	raft  api.RaftStatus
	ready bool
}

// NewFakeSource is node id, ready, reporting raft.
func NewFakeSource(id int32, raft api.RaftStatus) *FakeSource {
	return &FakeSource{
		node: api.NodeInfo{NodeID: id, Version: "1.2.3", KafkaAddr: "localhost:9092", ClusterAddr: "127.0.0.1:9093",
			AdminAddr: "127.0.0.1:9644", UptimeSeconds: 12.5, RaftRole: raft.Role, ControllerID: 1, Ready: true},
		raft:  raft,
		ready: true,
	}
}

func (f *FakeSource) Node() api.NodeInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.node
}

func (f *FakeSource) Raft() api.RaftStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.raft
}

func (f *FakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

// SetReady changes what Ready answers.
func (f *FakeSource) SetReady(r bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready = r
}

// SetRaft changes what Raft answers.
func (f *FakeSource) SetRaft(r api.RaftStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raft = r
}

// Secs is a pointer to v, for RaftPeer.LastContactSeconds.
func Secs(v float64) *float64 { return &v }

// LeaderStatus is node 1 leading a three-voter quorum, with its voters and
// peers deliberately out of order (SortedRaft puts them in the order the
// admin API answers).
func LeaderStatus() api.RaftStatus {
	return api.RaftStatus{
		NodeID: 1, Role: api.RoleLeader, Term: 7, LeaderID: 1, Commit: 120, Applied: 119, SnapshotIndex: 100,
		Voters: []uint64{3, 1, 2},
		Peers: []api.RaftPeer{
			{ID: 3, Member: api.MemberVoter, Lag: 120, Match: 0, Next: 1, State: api.PeerProbe, LastError: "dial tcp 127.0.0.1:9093: connect: connection refused"},
			{ID: 1, Member: api.MemberVoter, Match: 120, Next: 121, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: Secs(0)},
			{ID: 2, Member: api.MemberVoter, Lag: 2, Match: 118, Next: 121, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: Secs(0.25)},
		},
	}
}

// FollowerStatus is node 2 following LeaderStatus's node 1.
func FollowerStatus() api.RaftStatus {
	return api.RaftStatus{NodeID: 2, Role: api.RoleFollower, Term: 7, LeaderID: 1, Commit: 118, Applied: 118, SnapshotIndex: 100,
		Voters: []uint64{1, 2, 3}}
}

// SortedRaft is s as the admin API answers it: voters, learners and peers
// sorted, learners a list. It sorts s's own slices.
func SortedRaft(s api.RaftStatus) api.RaftStatus {
	slices.Sort(s.Voters)
	slices.Sort(s.Learners)
	if s.Learners == nil {
		s.Learners = []uint64{}
	}
	slices.SortFunc(s.Peers, func(a, b api.RaftPeer) int { return cmp.Compare(a.ID, b.ID) })
	return s
}

// NewHTTPClient is a client with its own transport, whose idle connections
// (and their goroutines) go when the test ends.
func NewHTTPClient(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// FakeClusterSource is a FakeSource that also answers the cluster reads
// (an admin server ClusterSource): no brokers, no partitions, nothing to
// reconcile, so a gather of it succeeds. Its mutations do nothing.
type FakeClusterSource struct{ *FakeSource }

// NewFakeClusterSource is NewFakeSource answering the cluster reads too.
func NewFakeClusterSource(id int32, raft api.RaftStatus) FakeClusterSource {
	return FakeClusterSource{NewFakeSource(id, raft)}
}

func (FakeClusterSource) Brokers() api.Brokers {
	return api.Brokers{ControllerID: 1, Brokers: []api.BrokerInfo{}}
}
func (FakeClusterSource) Partitions() []api.PartitionInfo { return nil }
func (FakeClusterSource) Reconcile() api.Reconcile        { return api.Reconcile{CaughtUp: true} }
func (FakeClusterSource) CreateTopic(context.Context, api.CreateTopicRequest) (api.TopicCreated, error) {
	return api.TopicCreated{}, nil
}
func (FakeClusterSource) DeleteTopic(context.Context, string) error { return nil }
func (FakeClusterSource) ElectLeaders(context.Context, api.ElectLeadersRequest) (api.ElectLeadersResult, error) {
	return api.ElectLeadersResult{}, nil
}
