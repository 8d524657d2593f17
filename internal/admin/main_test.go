package admin

import (
	"net/http"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeSource is a Source whose answers a test sets.
type fakeSource struct {
	mu    sync.Mutex
	node  NodeInfo
	raft  RaftStatus
	ready bool
}

func (f *fakeSource) Node() NodeInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.node
}

func (f *fakeSource) Raft() RaftStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.raft
}

func (f *fakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeSource) setReady(r bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ready = r
}

func (f *fakeSource) setRaft(r RaftStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raft = r
}

func secs(v float64) *float64 { return &v }

// leaderStatus is node 1 leading a three-voter quorum, with its peers
// deliberately out of order.
func leaderStatus() RaftStatus {
	return RaftStatus{
		NodeID: 1, Role: RoleLeader, Term: 7, LeaderID: 1, Commit: 120, Applied: 119, SnapshotIndex: 100,
		Voters: []uint64{3, 1, 2},
		Peers: []RaftPeer{
			{ID: 3, Match: 0, Next: 1, State: PeerProbe, LastError: "dial tcp 127.0.0.1:9093: connect: connection refused"},
			{ID: 1, Match: 120, Next: 121, State: PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: secs(0)},
			{ID: 2, Match: 118, Next: 121, State: PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: secs(0.25)},
		},
	}
}

func followerStatus() RaftStatus {
	return RaftStatus{NodeID: 2, Role: RoleFollower, Term: 7, LeaderID: 1, Commit: 118, Applied: 118, SnapshotIndex: 100,
		Voters: []uint64{1, 2, 3}}
}

func newFakeSource(id int32, raft RaftStatus) *fakeSource {
	return &fakeSource{
		node: NodeInfo{NodeID: id, Version: "1.2.3", KafkaAddr: "localhost:9092", ClusterAddr: "127.0.0.1:9093",
			AdminAddr: "127.0.0.1:9644", UptimeSeconds: 12.5, RaftRole: raft.Role, ControllerID: 1, Ready: true},
		raft:  raft,
		ready: true,
	}
}

// newHTTPClient is a client with its own transport, whose idle connections
// (and their goroutines) go when the test ends.
func newHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
