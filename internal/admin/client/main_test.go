package client

import (
	"cmp"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The client is tested against the real handler (server.NewHandler) over
// a fake source, so client and server cannot drift apart.

// fakeSource is a server.Source whose answers a test sets.
type fakeSource struct {
	mu    sync.Mutex
	node  api.NodeInfo
	raft  api.RaftStatus
	ready bool
}

func (f *fakeSource) Node() api.NodeInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.node
}

func (f *fakeSource) Raft() api.RaftStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.raft
}

func (f *fakeSource) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func secs(v float64) *float64 { return &v }

// leaderStatus is node 1 leading a three-voter quorum, with its peers
// deliberately out of order.
func leaderStatus() api.RaftStatus {
	return api.RaftStatus{
		NodeID: 1, Role: api.RoleLeader, Term: 7, LeaderID: 1, Commit: 120, Applied: 119, SnapshotIndex: 100,
		Voters: []uint64{3, 1, 2},
		Peers: []api.RaftPeer{
			{ID: 3, Match: 0, Next: 1, State: api.PeerProbe, LastError: "dial tcp 127.0.0.1:9093: connect: connection refused"},
			{ID: 1, Match: 120, Next: 121, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: secs(0)},
			{ID: 2, Match: 118, Next: 121, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: secs(0.25)},
		},
	}
}

// sortedRaft is s as the handler answers it: voters and peers sorted.
func sortedRaft(s api.RaftStatus) api.RaftStatus {
	slices.Sort(s.Voters)
	slices.SortFunc(s.Peers, func(a, b api.RaftPeer) int { return cmp.Compare(a.ID, b.ID) })
	return s
}

func followerStatus() api.RaftStatus {
	return api.RaftStatus{NodeID: 2, Role: api.RoleFollower, Term: 7, LeaderID: 1, Commit: 118, Applied: 118, SnapshotIndex: 100,
		Voters: []uint64{1, 2, 3}}
}

func newFakeSource(id int32, raft api.RaftStatus) *fakeSource {
	return &fakeSource{
		node: api.NodeInfo{NodeID: id, Version: "1.2.3", KafkaAddr: "localhost:9092", ClusterAddr: "127.0.0.1:9093",
			AdminAddr: "127.0.0.1:9644", UptimeSeconds: 12.5, RaftRole: raft.Role, ControllerID: 1, Ready: true},
		raft:  raft,
		ready: true,
	}
}

// serve runs the admin handler for src until the test ends.
func serve(t *testing.T, src server.Source) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(server.NewHandler(src, nil))
	t.Cleanup(srv.Close)
	return srv
}

// newHTTPClient is a client with its own transport, whose idle connections
// (and their goroutines) go when the test ends.
func newHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
