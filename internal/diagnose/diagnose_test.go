package diagnose

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Fixtures: a three-node cluster (ids 1-3, node 1 the raft leader and
// controller) with one topic, orders, of three partitions at replication
// factor 3 and min.insync.replicas 2. Partition p is led by node p+1.
// Every builder returns fresh values, so tests mutate them freely.

const fxTopic = "orders"

func fxAdmin(id int32) string { return fmt.Sprintf("http://10.0.0.%d:9644", id) }

// fxReplicas is partition p's assignment: its leader first.
func fxReplicas(p int32) []int32 {
	l := p + 1
	return []int32{l, l%3 + 1, (l+1)%3 + 1}
}

// fxHealthy is a healthy cluster under load: followers a few offsets
// behind, caught up 0.1 s ago, three acks=all produces waiting 20 ms.
func fxHealthy() api.ClusterView {
	var v api.ClusterView
	for id := int32(1); id <= 3; id++ {
		role := api.RoleFollower
		if id == 1 {
			role = api.RoleLeader
		}
		n := api.NodeView{Admin: fxAdmin(id), NodeID: id}
		n.Node = &api.NodeInfo{
			NodeID: id, Version: "0.1.0",
			KafkaAddr: fmt.Sprintf("10.0.0.%d:9092", id), ClusterAddr: fmt.Sprintf("10.0.0.%d:9093", id),
			AdminAddr: fmt.Sprintf("10.0.0.%d:9644", id), UptimeSeconds: 86400 + float64(id)*3.5,
			RaftRole: role, ControllerID: 1, Ready: true,
		}
		applied := uint64(1532)
		if id == 3 {
			applied = 1531 // a follower a moment behind is normal
		}
		n.Raft = &api.RaftStatus{NodeID: uint64(id), Role: role, Term: 4, LeaderID: 1, Commit: 1532, Applied: applied,
			SnapshotIndex: 1024, Voters: []uint64{1, 2, 3}}
		if id == 1 {
			n.Raft.Peers = []api.RaftPeer{
				{ID: 1, Member: api.MemberVoter, Match: 1532, Next: 1533, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0)},
				{ID: 2, Member: api.MemberVoter, Match: 1532, Next: 1533, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0.05)},
				{ID: 3, Member: api.MemberVoter, Lag: 1, Match: 1531, Next: 1533, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0.08)},
			}
		}
		n.Brokers = &api.Brokers{ControllerID: 1, Controller: id == 1}
		for b := int32(1); b <= 3; b++ {
			bi := api.BrokerInfo{ID: b, KafkaAddr: fmt.Sprintf("10.0.0.%d:9092", b), ClusterAddr: fmt.Sprintf("10.0.0.%d:9093", b),
				Controller: b == 1}
			if id == 1 {
				bi.LastHeartbeatSeconds = admintest.Secs([]float64{0, 0.4, 0.7}[b-1])
			}
			n.Brokers.Brokers = append(n.Brokers.Brokers, bi)
		}
		n.Partitions = &api.Partitions{}
		n.Reconcile = &api.Reconcile{Missing: []api.TopicPartition{}, Extra: []api.TopicPartition{}, CaughtUp: true}
		for p := int32(0); p < 3; p++ {
			n.Partitions.Partitions = append(n.Partitions.Partitions, fxHealthyPartition(id, p))
			tp := api.TopicPartition{Topic: fxTopic, Partition: p}
			n.Reconcile.Expected = append(n.Reconcile.Expected, tp)
			n.Reconcile.Running = append(n.Reconcile.Running, tp)
		}
		v.Nodes = append(v.Nodes, n)
	}
	return v
}

// fxHealthyPartition is node id's answer for partition p of the healthy cluster.
func fxHealthyPartition(id, p int32) api.PartitionInfo {
	replicas := fxReplicas(p)
	leader := replicas[0]
	leo := int64(120000 + 1000*p)
	lags := map[int32]int64{replicas[1]: 12, replicas[2]: 0}
	info := api.PartitionInfo{
		Topic: fxTopic, Partition: p, Role: api.ReplicaFollower, Leader: leader, LeaderEpoch: 3, PartitionEpoch: 5,
		Replicas: replicas, ISR: slices.Clone(replicas), MinISR: 2, LagTimeMaxSeconds: 30, Running: true,
		LogStartOffset: 0, LogEndOffset: leo - lags[id], HighWatermark: leo - 12,
	}
	if id == leader {
		info.Role = api.ReplicaLeader
		info.AcksAllWaiting, info.AcksAllOldestWaitSeconds = 3, 0.02
		for _, r := range replicas[1:] {
			info.Followers = append(info.Followers, api.ReplicaState{ID: r, LogEndOffset: leo - lags[r], Lag: lags[r],
				InISR: true, LastCaughtUpSeconds: admintest.Secs(0.1), LastFetchSeconds: admintest.Secs(0.01)})
		}
		return info
	}
	info.Fetcher = &api.FetcherState{Leader: leader, Running: true, LastFetchSeconds: admintest.Secs(0.01)}
	return info
}

// fxNode is node id's view in v.
func fxNode(t *testing.T, v *api.ClusterView, id int32) *api.NodeView {
	t.Helper()
	for i := range v.Nodes {
		if v.Nodes[i].NodeID == id {
			return &v.Nodes[i]
		}
	}
	t.Fatalf("no node %d in view", id)
	return nil
}

// fxPart is node id's answer for partition p in v.
func fxPart(t *testing.T, v *api.ClusterView, id, p int32) *api.PartitionInfo {
	t.Helper()
	n := fxNode(t, v, id)
	for i := range n.Partitions.Partitions {
		if n.Partitions.Partitions[i].Partition == p {
			return &n.Partitions.Partitions[i]
		}
	}
	t.Fatalf("node %d does not host partition %d", id, p)
	return nil
}

// fxFollower is the leader's state of replica r in partition info.
func fxFollower(t *testing.T, info *api.PartitionInfo, r int32) *api.ReplicaState {
	t.Helper()
	for i := range info.Followers {
		if info.Followers[i].ID == r {
			return &info.Followers[i]
		}
	}
	t.Fatalf("partition %d's leader has no state for replica %d", info.Partition, r)
	return nil
}

// fxAllParts applies fn to every node's answer for partition p.
func fxAllParts(v *api.ClusterView, p int32, fn func(*api.PartitionInfo)) {
	for i := range v.Nodes {
		if v.Nodes[i].Partitions == nil {
			continue
		}
		for j := range v.Nodes[i].Partitions.Partitions {
			if v.Nodes[i].Partitions.Partitions[j].Partition == p {
				fn(&v.Nodes[i].Partitions.Partitions[j])
			}
		}
	}
}

// fxDown replaces node id's answers with a connection failure.
func fxDown(t *testing.T, v *api.ClusterView, id int32) {
	t.Helper()
	n := fxNode(t, v, id)
	*n = api.NodeView{Admin: n.Admin, NodeID: id,
		Error: fmt.Sprintf("get %s/v1/node: dial tcp 10.0.0.%d:9644: connect: connection refused", n.Admin, id)}
}

// fxStalled: node 3's disk is slow. It fell out of orders-0's ISR 42 s
// ago and still fetches; in orders-1 it is still in the ISR but has not
// caught up for 31 s (the leader asked to shrink), so acks=all waits.
func fxStalled(t *testing.T) api.ClusterView {
	v := fxHealthy()
	for _, n := range v.Nodes {
		n.Raft.Commit, n.Raft.Applied = 1533, 1533
	}
	for i := range fxNode(t, &v, 1).Raft.Peers {
		fxNode(t, &v, 1).Raft.Peers[i].Match = 1533
		fxNode(t, &v, 1).Raft.Peers[i].Next = 1534
	}
	fxAllParts(&v, 0, func(p *api.PartitionInfo) { p.ISR, p.PartitionEpoch = []int32{1, 2}, 6 })
	p0 := fxPart(t, &v, 1, 0)
	f := fxFollower(t, p0, 3)
	f.Lag, f.LogEndOffset, f.InISR = 48210, p0.LogEndOffset-48210, false
	f.LastCaughtUpSeconds, f.LastFetchSeconds = admintest.Secs(42.5), admintest.Secs(0.3)
	p0.HighWatermark = p0.LogEndOffset - 12
	fxPart(t, &v, 3, 0).LogEndOffset = f.LogEndOffset
	fxPart(t, &v, 3, 0).Fetcher.LastFetchSeconds = admintest.Secs(0.3)

	p1 := fxPart(t, &v, 2, 1)
	f = fxFollower(t, p1, 3)
	f.Lag, f.LogEndOffset, f.Lagging = 9000, p1.LogEndOffset-9000, true
	f.LastCaughtUpSeconds, f.LastFetchSeconds = admintest.Secs(31.2), admintest.Secs(0.4)
	p1.HighWatermark = f.LogEndOffset
	p1.AcksAllWaiting, p1.AcksAllOldestWaitSeconds = 57, 4.8
	fxPart(t, &v, 3, 1).LogEndOffset = f.LogEndOffset
	return v
}

// fxNodeDown: node 3 stopped answering 14 s ago. The controller fenced
// it, took it out of every ISR and moved orders-2's leadership to node 1,
// which has never seen node 3 catch up as its leader.
func fxNodeDown(t *testing.T) api.ClusterView {
	v := fxHealthy()
	fxDown(t, &v, 3)
	for _, id := range []int32{1, 2} {
		n := fxNode(t, &v, id)
		n.Raft.Commit, n.Raft.Applied = 1547, 1547
		n.Brokers.Brokers[2].Fenced = true
	}
	leader := fxNode(t, &v, 1)
	for i := range leader.Raft.Peers[:2] {
		leader.Raft.Peers[i].Match, leader.Raft.Peers[i].Next = 1547, 1548
	}
	leader.Raft.Peers[2] = api.RaftPeer{ID: 3, Member: api.MemberVoter, Lag: 7, Match: 1540, Next: 1541, State: api.PeerProbe, RecentActive: false, Connected: false,
		LastContactSeconds: admintest.Secs(14.1), LastError: "dial tcp 10.0.0.3:9093: connect: connection refused"}
	leader.Brokers.Brokers[2].LastHeartbeatSeconds = admintest.Secs(14.2)
	for p := int32(0); p < 2; p++ {
		fxAllParts(&v, p, func(pi *api.PartitionInfo) {
			pi.ISR = slices.DeleteFunc(pi.ISR, func(id int32) bool { return id == 3 })
			pi.PartitionEpoch = 6
		})
	}
	for _, id := range []int32{1, 2} {
		fxPart(t, &v, id, 2).ISR = []int32{1, 2}
		fxPart(t, &v, id, 2).Leader, fxPart(t, &v, id, 2).LeaderEpoch, fxPart(t, &v, id, 2).PartitionEpoch = 1, 4, 6
	}
	// orders-0 and orders-1 kept taking writes without node 3.
	for _, p := range []int32{0, 1} {
		lp := fxPart(t, &v, fxReplicas(p)[0], p)
		lp.LogEndOffset += 4100
		var isrLag int64
		for i := range lp.Followers {
			f := &lp.Followers[i]
			if f.ID == 3 {
				f.InISR, f.Lag = false, f.Lag+4100
				f.LastCaughtUpSeconds, f.LastFetchSeconds = admintest.Secs(14.0), admintest.Secs(14.0)
				continue
			}
			f.LogEndOffset += 4100
			isrLag = max(isrLag, f.Lag)
		}
		lp.HighWatermark = lp.LogEndOffset - isrLag
		for _, id := range []int32{1, 2} {
			if id != lp.Leader {
				fp := fxPart(t, &v, id, p)
				fp.LogEndOffset += 4100
				fp.HighWatermark = lp.HighWatermark
			}
		}
	}
	// Node 1 leads orders-2 now: replica 3 never fetched from it.
	p2 := fxPart(t, &v, 1, 2)
	p2.Role, p2.Fetcher = api.ReplicaLeader, nil
	p2.LogEndOffset += 3800
	p2.HighWatermark = p2.LogEndOffset
	p2.AcksAllWaiting, p2.AcksAllOldestWaitSeconds = 2, 0.01
	p2.Followers = []api.ReplicaState{
		{ID: 2, LogEndOffset: p2.LogEndOffset, InISR: true, LastCaughtUpSeconds: admintest.Secs(0.05), LastFetchSeconds: admintest.Secs(0.05)},
		{ID: 3, LogEndOffset: 0, Lag: p2.LogEndOffset, InISR: false},
	}
	fxPart(t, &v, 2, 2).Fetcher = &api.FetcherState{Leader: 1, Running: true, LastFetchSeconds: admintest.Secs(0.05)}
	fxPart(t, &v, 2, 2).LogEndOffset, fxPart(t, &v, 2, 2).HighWatermark = p2.LogEndOffset, p2.LogEndOffset
	return v
}

// fxKey names a finding for comparisons: code, severity, where.
func fxKey(f api.Finding) string {
	where := "-"
	if f.Partition != nil {
		where = tpName(f.Topic, *f.Partition)
	}
	node := "-"
	if f.Node != nil {
		node = fmt.Sprint(*f.Node)
	}
	return fmt.Sprintf("%s %s %s node=%s", f.Code, f.Severity, where, node)
}

func fxKeys(fs []api.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, fxKey(f))
	}
	return out
}

// checkWellFormed asserts what every finding must carry.
func checkWellFormed(t *testing.T, fs []api.Finding) {
	t.Helper()
	for _, f := range fs {
		k := fxKey(f)
		if f.Message == "" || strings.Contains(f.Message, "\n") {
			t.Errorf("%s: message must be one non-empty line: %q", k, f.Message)
		}
		if f.NextStep == "" || strings.Contains(f.NextStep, "\n") {
			t.Errorf("%s: next step must be one non-empty line: %q", k, f.NextStep)
		}
		if len(f.Evidence) == 0 {
			t.Errorf("%s: no evidence", k)
		}
		for key := range f.Evidence {
			if key != strings.ToLower(key) || strings.ContainsAny(key, " -") {
				t.Errorf("%s: evidence key %q is not snake_case", k, key)
			}
		}
		if severityRank(f.Severity) > 2 {
			t.Errorf("%s: unknown severity", k)
		}
		if f.Partition != nil && !strings.Contains(f.Message, tpName(f.Topic, *f.Partition)) {
			t.Errorf("%s: message does not name the partition: %q", k, f.Message)
		}
		if f.Node != nil && !strings.Contains(f.Message, fmt.Sprint(*f.Node)) {
			t.Errorf("%s: message does not name node %d: %q", k, *f.Node, f.Message)
		}
	}
	if _, err := json.Marshal(fs); err != nil {
		t.Errorf("findings do not encode: %v", err)
	}
}

// ruleCase is one snapshot for a rule: the healthy cluster changed by
// mutate, and the findings expected (as fxKey strings).
type ruleCase struct {
	name   string
	mutate func(t *testing.T, v *api.ClusterView)
	want   []string
	check  func(t *testing.T, fs []api.Finding)
}

func runRuleCases(t *testing.T, r rule, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := fxHealthy()
			if tc.mutate != nil {
				tc.mutate(t, &v)
			}
			fs := r(newDiagInput(v))
			sortFindings(fs)
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if got := fxKeys(fs); !reflect.DeepEqual(got, want) {
				t.Fatalf("findings:\n got %q\nwant %q", got, want)
			}
			checkWellFormed(t, fs)
			if tc.check != nil {
				tc.check(t, fs)
			}
		})
	}
}

func TestRuleNodeUnreachable(t *testing.T) {
	runRuleCases(t, ruleNodeUnreachable, []ruleCase{
		{name: "healthy"},
		{name: "known id", mutate: func(t *testing.T, v *api.ClusterView) { fxDown(t, v, 3) },
			want: []string{"NODE_UNREACHABLE warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if fs[0].Evidence["admin"] != fxAdmin(3) || !strings.Contains(fs[0].Evidence["error"].(string), "refused") {
					t.Errorf("evidence %v", fs[0].Evidence)
				}
			}},
		{name: "unknown id", mutate: func(t *testing.T, v *api.ClusterView) {
			v.Nodes = append(v.Nodes, api.NodeView{Admin: "http://10.0.0.9:9644", NodeID: -1, Error: "context deadline exceeded\n(after 2s)"})
		}, want: []string{"NODE_UNREACHABLE warning - node=-"}},
	})
}

func TestRuleRaftNoLeader(t *testing.T) {
	noLeader := func(t *testing.T, v *api.ClusterView) {
		for i := range v.Nodes {
			v.Nodes[i].Raft.LeaderID, v.Nodes[i].Raft.Role, v.Nodes[i].Raft.Peers = 0, api.RoleCandidate, nil
		}
	}
	runRuleCases(t, ruleRaftNoLeader, []ruleCase{
		{name: "healthy"},
		{name: "nobody knows a leader", mutate: noLeader, want: []string{"RAFT_NO_LEADER critical - node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				if !reflect.DeepEqual(fs[0].SeenBy, []int32{1, 2, 3}) || fs[0].Evidence["nodes_answering"] != 3 {
					t.Errorf("seen by %v, evidence %v", fs[0].SeenBy, fs[0].Evidence)
				}
			}},
		{name: "one node still knows one", mutate: func(t *testing.T, v *api.ClusterView) {
			noLeader(t, v)
			fxNode(t, v, 2).Raft.LeaderID = 1
		}},
		{name: "the only answering node knows none", mutate: func(t *testing.T, v *api.ClusterView) {
			fxDown(t, v, 1)
			fxDown(t, v, 2)
			fxNode(t, v, 3).Raft.LeaderID = 0
		}, want: []string{"RAFT_NO_LEADER critical - node=-"}},
		{name: "nobody answered", mutate: func(t *testing.T, v *api.ClusterView) {
			for _, id := range []int32{1, 2, 3} {
				fxDown(t, v, id)
			}
		}},
	})
}

func TestRuleRaftFollowerBehind(t *testing.T) {
	peer := func(t *testing.T, v *api.ClusterView, id int) *api.RaftPeer { return &fxNode(t, v, 1).Raft.Peers[id-1] }
	runRuleCases(t, ruleRaftFollowerBehind, []ruleCase{
		{name: "healthy"},
		{name: "not recently active", mutate: func(t *testing.T, v *api.ClusterView) {
			p := peer(t, v, 3)
			p.RecentActive, p.Connected, p.Match, p.LastError = false, false, 1400, "connection refused"
			p.LastContactSeconds = admintest.Secs(2)
		}, want: []string{"RAFT_FOLLOWER_BEHIND warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				ev := fs[0].Evidence
				if ev["entries_behind"] != uint64(132) || ev["last_error"] != "connection refused" || !reflect.DeepEqual(fs[0].SeenBy, []int32{1}) {
					t.Errorf("evidence %v seen by %v", ev, fs[0].SeenBy)
				}
			}},
		{name: "flag reset by an election, heard just now and caught up", mutate: func(t *testing.T, v *api.ClusterView) {
			p := peer(t, v, 2)
			p.RecentActive, p.LastContactSeconds = false, admintest.Secs(0.08)
		}},
		{name: "not recently active, heard just now but behind", mutate: func(t *testing.T, v *api.ClusterView) {
			p := peer(t, v, 2)
			p.RecentActive, p.LastContactSeconds, p.Match = false, admintest.Secs(0.08), 1500
		}, want: []string{"RAFT_FOLLOWER_BEHIND warning - node=2"}},
		{name: "silent over 5s", mutate: func(t *testing.T, v *api.ClusterView) { peer(t, v, 2).LastContactSeconds = admintest.Secs(6) },
			want: []string{"RAFT_FOLLOWER_BEHIND warning - node=2"}},
		{name: "just under 5s", mutate: func(t *testing.T, v *api.ClusterView) { peer(t, v, 2).LastContactSeconds = admintest.Secs(4.9) }},
		{name: "never heard from", mutate: func(t *testing.T, v *api.ClusterView) { peer(t, v, 3).LastContactSeconds = nil },
			want: []string{"RAFT_FOLLOWER_BEHIND warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if fs[0].Evidence["last_contact_seconds"] != nil || !strings.Contains(fs[0].Message, "never") {
					t.Errorf("evidence %v message %q", fs[0].Evidence, fs[0].Message)
				}
			}},
		{name: "the leader itself is ignored", mutate: func(t *testing.T, v *api.ClusterView) {
			p := peer(t, v, 1)
			p.RecentActive, p.LastContactSeconds = false, nil
		}},
		{name: "leader did not answer", mutate: func(t *testing.T, v *api.ClusterView) { fxDown(t, v, 1) }},
		{name: "the newest term's leader is asked", mutate: func(t *testing.T, v *api.ClusterView) {
			// Node 1 was deposed but has not noticed; node 2 leads term 5.
			peer(t, v, 3).LastContactSeconds = nil
			r := fxNode(t, v, 2).Raft
			r.Role, r.Term, r.LeaderID = api.RoleLeader, 5, 2
			r.Peers = []api.RaftPeer{
				{ID: 1, Match: 1532, Next: 1533, State: api.PeerReplicate, RecentActive: false, LastContactSeconds: admintest.Secs(9)},
				{ID: 2, Match: 1532, Next: 1533, State: api.PeerReplicate, RecentActive: true, LastContactSeconds: admintest.Secs(0)},
				{ID: 3, Match: 1532, Next: 1533, State: api.PeerReplicate, RecentActive: true, LastContactSeconds: admintest.Secs(0.1)},
			}
		}, want: []string{"RAFT_FOLLOWER_BEHIND warning - node=1"}},
	})
}

func TestRuleBrokerFenced(t *testing.T) {
	fence := func(t *testing.T, v *api.ClusterView, on int32, shutDown bool) {
		b := &fxNode(t, v, on).Brokers.Brokers[2]
		b.Fenced, b.ShutDown = true, shutDown
	}
	runRuleCases(t, ruleBrokerFenced, []ruleCase{
		{name: "healthy"},
		{name: "fenced by the controller", mutate: func(t *testing.T, v *api.ClusterView) {
			for _, id := range []int32{1, 2, 3} {
				fence(t, v, id, false)
			}
			fxNode(t, v, 1).Brokers.Brokers[2].LastHeartbeatSeconds = admintest.Secs(12.5)
		}, want: []string{"BROKER_FENCED warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if !reflect.DeepEqual(fs[0].SeenBy, []int32{1}) || fs[0].Evidence["last_heartbeat_seconds"] != 12.5 {
					t.Errorf("seen by %v evidence %v", fs[0].SeenBy, fs[0].Evidence)
				}
			}},
		{name: "shut down cleanly", mutate: func(t *testing.T, v *api.ClusterView) { fence(t, v, 1, true) },
			want: []string{"BROKER_FENCED info - node=3"}},
		{name: "the controller's word wins over a stale node", mutate: func(t *testing.T, v *api.ClusterView) { fence(t, v, 2, false) }},
		{name: "controller did not answer", mutate: func(t *testing.T, v *api.ClusterView) {
			fxDown(t, v, 1)
			fence(t, v, 2, false)
			fence(t, v, 3, false)
		}, want: []string{"BROKER_FENCED warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if !reflect.DeepEqual(fs[0].SeenBy, []int32{2, 3}) {
					t.Errorf("seen by %v", fs[0].SeenBy)
				}
			}},
	})
}

func TestRuleNoLeader(t *testing.T) {
	runRuleCases(t, ruleNoLeader, []ruleCase{
		{name: "healthy"},
		{name: "leader -1", mutate: func(t *testing.T, v *api.ClusterView) {
			fxAllParts(v, 1, func(p *api.PartitionInfo) {
				p.Leader, p.LeaderEpoch, p.Role, p.ISR, p.Followers, p.Fetcher = -1, 4, api.ReplicaOffline, []int32{2}, nil, nil
			})
		}, want: []string{"NO_LEADER critical orders-1 node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				if !reflect.DeepEqual(fs[0].SeenBy, []int32{1, 2, 3}) || fs[0].Evidence["leader_epoch"] != int32(4) {
					t.Errorf("seen by %v evidence %v", fs[0].SeenBy, fs[0].Evidence)
				}
			}},
	})
}

func TestRuleISRUninitialized(t *testing.T) {
	runRuleCases(t, ruleISRUninitialized, []ruleCase{
		{name: "healthy"},
		{name: "empty isr", mutate: func(t *testing.T, v *api.ClusterView) {
			fxAllParts(v, 2, func(p *api.PartitionInfo) { p.ISR = []int32{} })
		}, want: []string{"ISR_UNINITIALIZED critical orders-2 node=-"}},
		{name: "leader outside a non-empty isr is another code", mutate: func(t *testing.T, v *api.ClusterView) {
			fxAllParts(v, 2, func(p *api.PartitionInfo) { p.ISR = []int32{1, 2} })
		}},
	})
}

func TestRuleLeaderNotInISR(t *testing.T) {
	runRuleCases(t, ruleLeaderNotInISR, []ruleCase{
		{name: "healthy"},
		{name: "leader outside", mutate: func(t *testing.T, v *api.ClusterView) {
			fxAllParts(v, 2, func(p *api.PartitionInfo) { p.ISR = []int32{1, 2} })
		}, want: []string{"LEADER_NOT_IN_ISR critical orders-2 node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "leader 3") {
					t.Errorf("message %q", fs[0].Message)
				}
			}},
		{name: "empty isr is another code", mutate: func(t *testing.T, v *api.ClusterView) {
			fxAllParts(v, 2, func(p *api.PartitionInfo) { p.ISR = []int32{} })
		}},
		{name: "no leader is another code", mutate: func(t *testing.T, v *api.ClusterView) {
			fxAllParts(v, 2, func(p *api.PartitionInfo) { p.Leader, p.Role, p.ISR = -1, api.ReplicaOffline, []int32{1} })
		}},
	})
}

// isrCase sets partition 0's ISR and min ISR on every node.
func isrCase(isr []int32, minISR int) func(t *testing.T, v *api.ClusterView) {
	return func(t *testing.T, v *api.ClusterView) {
		fxAllParts(v, 0, func(p *api.PartitionInfo) { p.ISR, p.MinISR = slices.Clone(isr), minISR })
	}
}

func TestRuleUnderMinISR(t *testing.T) {
	runRuleCases(t, ruleUnderMinISR, []ruleCase{
		{name: "healthy"},
		{name: "one of two", mutate: isrCase([]int32{1}, 2), want: []string{"UNDER_MIN_ISR critical orders-0 node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				ev := fs[0].Evidence
				if ev["isr_size"] != 1 || ev["min_isr"] != 2 || !reflect.DeepEqual(ev["out_of_isr"], []int32{2, 3}) {
					t.Errorf("evidence %v", ev)
				}
			}},
		{name: "at min is not under", mutate: isrCase([]int32{1, 2}, 2)},
		{name: "min isr 1", mutate: isrCase([]int32{1}, 1)},
		{name: "only the nodes that see it", mutate: func(t *testing.T, v *api.ClusterView) {
			// Node 3 has not applied the shrink yet.
			isrCase([]int32{1}, 2)(t, v)
			fxPart(t, v, 3, 0).ISR = []int32{1, 2, 3}
		}, want: []string{"UNDER_MIN_ISR critical orders-0 node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				if !reflect.DeepEqual(fs[0].SeenBy, []int32{1, 2}) {
					t.Errorf("seen by %v", fs[0].SeenBy)
				}
			}},
	})
}

func TestRuleAtMinISR(t *testing.T) {
	runRuleCases(t, ruleAtMinISR, []ruleCase{
		{name: "healthy"},
		{name: "two of three, min 2", mutate: isrCase([]int32{1, 2}, 2), want: []string{"AT_MIN_ISR warning orders-0 node=-"}},
		{name: "under min is another code", mutate: isrCase([]int32{1}, 2)},
		{name: "replication factor equals min", mutate: func(t *testing.T, v *api.ClusterView) {
			fxAllParts(v, 0, func(p *api.PartitionInfo) { p.Replicas, p.ISR, p.MinISR = []int32{1}, []int32{1}, 1 })
		}},
	})
}

func TestRuleUnderReplicated(t *testing.T) {
	runRuleCases(t, ruleUnderReplicated, []ruleCase{
		{name: "healthy"},
		{name: "two of three, min 1", mutate: isrCase([]int32{1, 2}, 1), want: []string{"UNDER_REPLICATED warning orders-0 node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				if !reflect.DeepEqual(fs[0].Evidence["out_of_isr"], []int32{3}) {
					t.Errorf("evidence %v", fs[0].Evidence)
				}
			}},
		{name: "at min says it instead", mutate: isrCase([]int32{1, 2}, 2)},
		{name: "under min says it instead", mutate: isrCase([]int32{1}, 2)},
	})
}

func TestRuleFollowerStalled(t *testing.T) {
	state := func(t *testing.T, v *api.ClusterView) *api.ReplicaState { return fxFollower(t, fxPart(t, v, 1, 0), 3) }
	runRuleCases(t, ruleFollowerStalled, []ruleCase{
		{name: "healthy"},
		{name: "not caught up for 42s", mutate: func(t *testing.T, v *api.ClusterView) {
			s := state(t, v)
			s.Lag, s.LastCaughtUpSeconds, s.InISR = 48210, admintest.Secs(42.5), false
		}, want: []string{"FOLLOWER_STALLED warning orders-0 node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				ev := fs[0].Evidence
				if ev["lag"] != int64(48210) || ev["last_caught_up_seconds"] != 42.5 || ev["lag_time_max_seconds"] != 30.0 || ev["in_isr"] != false {
					t.Errorf("evidence %v", ev)
				}
				if !reflect.DeepEqual(fs[0].SeenBy, []int32{1}) || !strings.Contains(fs[0].NextStep, "disk") {
					t.Errorf("seen by %v, next step %q", fs[0].SeenBy, fs[0].NextStep)
				}
			}},
		{name: "never caught up", mutate: func(t *testing.T, v *api.ClusterView) { state(t, v).LastCaughtUpSeconds = nil },
			want: []string{"FOLLOWER_STALLED warning orders-0 node=3"}},
		{name: "within the lag time", mutate: func(t *testing.T, v *api.ClusterView) { state(t, v).LastCaughtUpSeconds = admintest.Secs(29.9) }},
		{name: "unreachable replica", mutate: func(t *testing.T, v *api.ClusterView) {
			state(t, v).LastCaughtUpSeconds = admintest.Secs(40)
			fxDown(t, v, 3)
		}, want: []string{"FOLLOWER_STALLED warning orders-0 node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].NextStep, "did not answer") {
					t.Errorf("next step %q", fs[0].NextStep)
				}
			}},
		{name: "two partitions", mutate: func(t *testing.T, v *api.ClusterView) {
			state(t, v).LastCaughtUpSeconds = admintest.Secs(40)
			fxFollower(t, fxPart(t, v, 3, 2), 1).LastCaughtUpSeconds = admintest.Secs(35)
		}, want: []string{"FOLLOWER_STALLED warning orders-0 node=3", "FOLLOWER_STALLED warning orders-2 node=1"}},
	})
}

func TestRuleReplicaNotRunning(t *testing.T) {
	missing := func(t *testing.T, v *api.ClusterView, caughtUp bool) {
		r := fxNode(t, v, 2).Reconcile
		r.Running = r.Running[1:]
		r.Missing = []api.TopicPartition{{Topic: fxTopic, Partition: 0}}
		r.CaughtUp = caughtUp
	}
	runRuleCases(t, ruleReplicaNotRunning, []ruleCase{
		{name: "healthy"},
		{name: "reconcile says missing", mutate: func(t *testing.T, v *api.ClusterView) { missing(t, v, true) },
			want: []string{"REPLICA_NOT_RUNNING warning orders-0 node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				ev := fs[0].Evidence
				if ev["expected"] != 3 || ev["running"] != 2 || ev["missing"] != 1 || ev["source"] != "reconcile" {
					t.Errorf("evidence %v", ev)
				}
			}},
		{name: "reconciler still catching up", mutate: func(t *testing.T, v *api.ClusterView) {
			missing(t, v, false)
			fxPart(t, v, 2, 0).Running = false
		}},
		{name: "partition says not running", mutate: func(t *testing.T, v *api.ClusterView) { fxPart(t, v, 3, 1).Running = false },
			want: []string{"REPLICA_NOT_RUNNING warning orders-1 node=3"}},
		{name: "both say it once", mutate: func(t *testing.T, v *api.ClusterView) {
			missing(t, v, true)
			fxPart(t, v, 2, 0).Running = false
		}, want: []string{"REPLICA_NOT_RUNNING warning orders-0 node=2"}},
	})
}

func TestRuleAcksAllWaiting(t *testing.T) {
	runRuleCases(t, ruleAcksAllWaiting, []ruleCase{
		{name: "healthy under load"},
		{name: "stuck behind a slow isr member", mutate: func(t *testing.T, v *api.ClusterView) {
			p := fxPart(t, v, 2, 1)
			p.AcksAllWaiting, p.AcksAllOldestWaitSeconds = 57, 4.8
			fxFollower(t, p, 3).Lag = 9000
		}, want: []string{"ACKS_ALL_WAITING warning orders-1 node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				ev := fs[0].Evidence
				if ev["acks_all_waiting"] != 57 || ev["acks_all_oldest_wait_seconds"] != 4.8 || ev["slowest_isr_replica"] != int32(3) {
					t.Errorf("evidence %v", ev)
				}
				if !strings.Contains(fs[0].NextStep, "replica 3") {
					t.Errorf("next step %q", fs[0].NextStep)
				}
			}},
		{name: "old but nobody waiting", mutate: func(t *testing.T, v *api.ClusterView) {
			fxPart(t, v, 2, 1).AcksAllWaiting, fxPart(t, v, 2, 1).AcksAllOldestWaitSeconds = 0, 5
		}},
		{name: "exactly one second", mutate: func(t *testing.T, v *api.ClusterView) {
			fxPart(t, v, 2, 1).AcksAllOldestWaitSeconds = 1
		}},
		{name: "followers are not asked", mutate: func(t *testing.T, v *api.ClusterView) {
			fxPart(t, v, 3, 1).AcksAllWaiting, fxPart(t, v, 3, 1).AcksAllOldestWaitSeconds = 5, 5
		}},
	})
}

func TestRuleMetadataDiverged(t *testing.T) {
	runRuleCases(t, ruleMetadataDiverged, []ruleCase{
		{name: "healthy"},
		{name: "epoch differs at the same index", mutate: func(t *testing.T, v *api.ClusterView) {
			fxPart(t, v, 2, 1).PartitionEpoch = 4
		}, want: []string{"METADATA_DIVERGED warning orders-1 node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				ev := fs[0].Evidence
				if !reflect.DeepEqual(fs[0].SeenBy, []int32{1, 2}) || ev["raft_applied_index"] != uint64(1532) {
					t.Errorf("seen by %v evidence %v", fs[0].SeenBy, ev)
				}
				if !reflect.DeepEqual(ev["partition_epochs"], map[string]any{"1": int32(5), "2": int32(4)}) {
					t.Errorf("epochs %v", ev["partition_epochs"])
				}
			}},
		{name: "leader differs at the same index", mutate: func(t *testing.T, v *api.ClusterView) {
			fxPart(t, v, 1, 0).Leader = 2
		}, want: []string{"METADATA_DIVERGED warning orders-0 node=-"}},
		{name: "a node behind may differ", mutate: func(t *testing.T, v *api.ClusterView) {
			fxPart(t, v, 3, 1).PartitionEpoch = 4 // node 3 applied 1531
		}},
		{name: "no raft answer, no comparison", mutate: func(t *testing.T, v *api.ClusterView) {
			fxNode(t, v, 2).Raft = nil
			fxPart(t, v, 2, 1).PartitionEpoch = 4
		}},
	})
}

func TestDiagnoseHealthyClusterUnderLoad(t *testing.T) {
	v := fxHealthy()
	fs := Run(v)
	if len(fs) != 0 {
		t.Fatalf("healthy cluster has findings: %q", fxKeys(fs))
	}
	if fs == nil {
		t.Error("no findings must be an empty slice, so it encodes as []")
	}
	if WorstSeverity(fs) != "" || ExitCode(fs) != 0 {
		t.Errorf("worst %q exit %d", WorstSeverity(fs), ExitCode(fs))
	}
	for _, r := range MergePartitions(v) {
		if r.Status != api.StatusOK {
			t.Errorf("%s: status %s", tpName(r.Topic, r.Partition), r.Status)
		}
	}
}

func TestMergePartitionsUsesTheLeadersView(t *testing.T) {
	v := fxHealthy()
	// A follower with newer metadata does not outrank the leader's answer.
	fxPart(t, &v, 3, 0).PartitionEpoch = 9
	rows := MergePartitions(v)
	if len(rows) != 3 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		p := int32(i)
		leader := fxReplicas(p)[0]
		lp := fxPart(t, &v, leader, p)
		if r.Topic != fxTopic || r.Partition != p || r.Source != leader || r.Leader != leader {
			t.Errorf("row %d: %s source %d leader %d", i, tpName(r.Topic, r.Partition), r.Source, r.Leader)
		}
		if r.HighWatermark != lp.HighWatermark || r.LogEndOffset != lp.LogEndOffset || r.PartitionEpoch != 5 {
			t.Errorf("row %d: hw %d leo %d epoch %d", i, r.HighWatermark, r.LogEndOffset, r.PartitionEpoch)
		}
		if r.MaxLag != 12 || len(r.ReplicaStates) != 2 || r.AcksAllWaiting != 3 || r.LagTimeMaxSeconds != 30 || r.MinISR != 2 {
			t.Errorf("row %d: %+v", i, r)
		}
		if r.Stalled != nil || r.Unreachable != nil || r.Status != api.StatusOK {
			t.Errorf("row %d: stalled %v unreachable %v status %s", i, r.Stalled, r.Unreachable, r.Status)
		}
	}
	// The rows own their slices: changing one leaves the view alone.
	rows[0].ISR[0] = 99
	if fxPart(t, &v, 1, 0).ISR[0] != 1 {
		t.Error("row aliases the view's ISR")
	}
}

func TestMergePartitionsLeaderUnreachable(t *testing.T) {
	t.Run("newest metadata wins", func(t *testing.T) {
		v := fxHealthy()
		fxDown(t, &v, 2) // leads orders-1
		// Node 3 applied a shrink that node 1 has not.
		p := fxPart(t, &v, 3, 1)
		p.ISR, p.PartitionEpoch = []int32{2, 3}, 6
		rows := MergePartitions(v)
		r := rows[1]
		if r.Source != 3 || !reflect.DeepEqual(r.ISR, []int32{2, 3}) || r.PartitionEpoch != 6 {
			t.Errorf("source %d isr %v epoch %d", r.Source, r.ISR, r.PartitionEpoch)
		}
		if r.HighWatermark != -1 || r.LogEndOffset != -1 || r.ReplicaStates != nil || r.MaxLag != 0 || r.Stalled != nil {
			t.Errorf("leader-only numbers without the leader: %+v", r)
		}
		// Its ISR is only metadata without the leader: nothing is known to be OK.
		if !reflect.DeepEqual(r.Unreachable, []int32{2}) || r.Status != api.StatusLeaderUnreachable {
			t.Errorf("unreachable %v status %s", r.Unreachable, r.Status)
		}
		// Node 2 is a follower of the other partitions.
		if !reflect.DeepEqual(rows[0].Unreachable, []int32{2}) || rows[0].Source != 1 {
			t.Errorf("row 0: unreachable %v source %d", rows[0].Unreachable, rows[0].Source)
		}
	})
	t.Run("ties go to the lowest node id", func(t *testing.T) {
		v := fxHealthy()
		fxDown(t, &v, 2)
		fxPart(t, &v, 3, 1).ISR = []int32{2, 3}
		if r := MergePartitions(v)[1]; r.Source != 1 || len(r.ISR) != 3 {
			t.Errorf("source %d isr %v", r.Source, r.ISR)
		}
	})
	t.Run("a deposed leader is not believed", func(t *testing.T) {
		v := fxHealthy()
		// Node 2 took over orders-0 at leader epoch 4; node 1 still thinks it leads epoch 3.
		for _, id := range []int32{2, 3} {
			p := fxPart(t, &v, id, 0)
			p.Leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR = 2, 4, 6, []int32{2, 3}
		}
		p2 := fxPart(t, &v, 2, 0)
		p2.Role, p2.Fetcher, p2.HighWatermark = api.ReplicaLeader, nil, 777
		p2.Followers = []api.ReplicaState{{ID: 1, Lag: 5, LastCaughtUpSeconds: admintest.Secs(0.2)}, {ID: 3, InISR: true, LastCaughtUpSeconds: admintest.Secs(0.1)}}
		if r := MergePartitions(v)[0]; r.Source != 2 || r.HighWatermark != 777 || r.MaxLag != 5 {
			t.Errorf("leader's view: source %d hw %d max lag %d", r.Source, r.HighWatermark, r.MaxLag)
		}
		fxDown(t, &v, 2)
		if r := MergePartitions(v)[0]; r.Source != 3 || r.Leader != 2 || r.HighWatermark != -1 {
			t.Errorf("without the new leader: source %d leader %d hw %d", r.Source, r.Leader, r.HighWatermark)
		}
	})
}

func TestMergePartitionsStalled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		caught  *float64
		lagTime float64
		stalled bool
	}{
		{"caught up recently", admintest.Secs(0.1), 30, false},
		{"at the lag time", admintest.Secs(30), 30, false},
		{"past the lag time", admintest.Secs(30.5), 30, true},
		{"never", nil, 30, true},
		{"short lag time", admintest.Secs(11), 10, true},
		{"unknown lag time uses 30s", admintest.Secs(29), 0, false},
		{"unknown lag time, past 30s", admintest.Secs(31), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := fxHealthy()
			fxAllParts(&v, 0, func(p *api.PartitionInfo) { p.LagTimeMaxSeconds = tc.lagTime })
			fxFollower(t, fxPart(t, &v, 1, 0), 2).LastCaughtUpSeconds = tc.caught
			r := MergePartitions(v)[0]
			if got := slices.Contains(r.Stalled, 2); got != tc.stalled {
				t.Errorf("stalled %v, want %v", r.Stalled, tc.stalled)
			}
			if tc.stalled != (r.Status == api.StatusStalled) {
				t.Errorf("status %s", r.Status)
			}
		})
	}
}

func TestMergePartitionsSorted(t *testing.T) {
	v := fxHealthy()
	// Another topic, hosted by node 2 only and listed out of order.
	n := fxNode(t, &v, 2)
	for _, p := range []int32{0, 1} {
		n.Partitions.Partitions = append([]api.PartitionInfo{{Topic: "audit", Partition: p, Role: api.ReplicaLeader, Leader: 2,
			Replicas: []int32{2}, ISR: []int32{2}, MinISR: 1, Running: true}}, n.Partitions.Partitions...)
	}
	slices.Reverse(fxNode(t, &v, 1).Partitions.Partitions)
	var got []string
	for _, r := range MergePartitions(v) {
		got = append(got, tpName(r.Topic, r.Partition)+" "+r.Status)
	}
	want := []string{"audit-0 OK", "audit-1 OK", "orders-0 OK", "orders-1 OK", "orders-2 OK"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if rows := MergePartitions(api.ClusterView{}); rows == nil || len(rows) != 0 {
		t.Errorf("empty view: %v", rows)
	}
}

func TestPartitionStatus(t *testing.T) {
	base := func() api.PartitionRow {
		return api.PartitionRow{Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, MinISR: 2}
	}
	for _, tc := range []struct {
		name   string
		change func(*api.PartitionRow)
		want   string
	}{
		{"ok", func(*api.PartitionRow) {}, api.StatusOK},
		{"no leader beats everything", func(r *api.PartitionRow) { r.Leader, r.ISR, r.Stalled = -1, nil, []int32{2} }, api.StatusOffline},
		{"leader unreachable", func(r *api.PartitionRow) { r.Unreachable = []int32{1} }, api.StatusLeaderUnreachable},
		{"leader unreachable beats the isr rules", func(r *api.PartitionRow) { r.Unreachable, r.ISR = []int32{1, 3}, []int32{1} }, api.StatusLeaderUnreachable},
		{"no leader beats leader unreachable", func(r *api.PartitionRow) { r.Leader, r.Unreachable = -1, []int32{1} }, api.StatusOffline},
		{"a silent follower is not a silent leader", func(r *api.PartitionRow) { r.Unreachable = []int32{3} }, api.StatusOK},
		{"empty isr", func(r *api.PartitionRow) { r.ISR = nil }, api.StatusISRUninitialized},
		{"leader outside the isr", func(r *api.PartitionRow) { r.ISR = []int32{2, 3} }, api.StatusISRUninitialized},
		{"under min", func(r *api.PartitionRow) { r.ISR = []int32{1} }, api.StatusUnderMinISR},
		{"under min beats stalled", func(r *api.PartitionRow) { r.ISR, r.Stalled = []int32{1}, []int32{2} }, api.StatusUnderMinISR},
		{"stalled beats at min", func(r *api.PartitionRow) { r.ISR, r.Stalled = []int32{1, 2}, []int32{3} }, api.StatusStalled},
		{"stalled in a full isr", func(r *api.PartitionRow) { r.Stalled = []int32{3} }, api.StatusStalled},
		{"at min", func(r *api.PartitionRow) { r.ISR = []int32{1, 2} }, api.StatusAtMinISR},
		{"under replicated", func(r *api.PartitionRow) { r.ISR, r.MinISR = []int32{1, 2}, 1 }, api.StatusUnderReplicated},
		{"min equals replicas is not at min", func(r *api.PartitionRow) { r.MinISR = 3 }, api.StatusOK},
		{"single replica", func(r *api.PartitionRow) { r.Replicas, r.ISR, r.MinISR = []int32{1}, []int32{1}, 1 }, api.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.change(&r)
			if got := PartitionStatus(r); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDiagnoseSortsFindings(t *testing.T) {
	p := func(v int32) *int32 { return &v }
	fs := []api.Finding{
		{Code: "B", Severity: api.SeverityInfo},
		{Code: "A", Severity: api.SeverityWarning, Topic: "t", Partition: p(2)},
		{Code: "A", Severity: api.SeverityWarning, Topic: "t", Partition: p(1), Node: p(3)},
		{Code: "A", Severity: api.SeverityWarning, Topic: "t", Partition: p(1), Node: p(2)},
		{Code: "A", Severity: api.SeverityWarning},
		{Code: "A", Severity: api.SeverityWarning, Topic: "s", Partition: p(9)},
		{Code: "Z", Severity: api.SeverityCritical},
		{Code: "B", Severity: api.SeverityWarning},
	}
	sortFindings(fs)
	var got []string
	for _, f := range fs {
		got = append(got, fxKey(f))
	}
	want := []string{
		"Z critical - node=-",
		"A warning - node=-",
		"A warning s-9 node=-",
		"A warning t-1 node=2",
		"A warning t-1 node=3",
		"A warning t-2 node=-",
		"B warning - node=-",
		"B info - node=-",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}

	// Run puts a critical finding first whatever its code.
	v := fxHealthy()
	fxDown(t, &v, 3)
	fxAllParts(&v, 0, func(p *api.PartitionInfo) { p.ISR = []int32{1} })
	all := Run(v)
	if len(all) < 3 || all[0].Code != CodeLeaderUnreachable || all[1].Code != CodeUnderMinISR || all[len(all)-1].Severity != api.SeverityWarning {
		t.Errorf("findings %q", fxKeys(all))
	}
}

func TestWorstSeverityAndExitCode(t *testing.T) {
	for _, tc := range []struct {
		sev   []string
		worst string
		code  int
	}{
		{nil, "", 0},
		{[]string{api.SeverityInfo}, api.SeverityInfo, 0},
		{[]string{api.SeverityInfo, api.SeverityWarning, api.SeverityInfo}, api.SeverityWarning, 3},
		{[]string{api.SeverityWarning, api.SeverityCritical, api.SeverityInfo}, api.SeverityCritical, 4},
		{[]string{api.SeverityCritical}, api.SeverityCritical, 4},
	} {
		var fs []api.Finding
		for _, s := range tc.sev {
			fs = append(fs, api.Finding{Code: "X", Severity: s})
		}
		if got := WorstSeverity(fs); got != tc.worst {
			t.Errorf("%v: worst %q, want %q", tc.sev, got, tc.worst)
		}
		if got := ExitCode(fs); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.sev, got, tc.code)
		}
	}
}

// The recorded snapshots (admintest.LoadView, shared with the TUI's and
// the CLI's tests): what Run finds in each, and what the merged table
// shows.
func TestDiagnoseTestdata(t *testing.T) {
	for _, tc := range []struct {
		file     string
		findings []string
		statuses []string
		exit     int
	}{
		{"healthy.json", []string{}, []string{api.StatusOK, api.StatusOK, api.StatusOK}, 0},
		{"follower-stalled.json", []string{
			"ACKS_ALL_WAITING warning orders-1 node=2",
			"AT_MIN_ISR warning orders-0 node=-",
			"FOLLOWER_STALLED warning orders-0 node=3",
			"FOLLOWER_STALLED warning orders-1 node=3",
		}, []string{api.StatusStalled, api.StatusStalled, api.StatusOK}, 3},
		{"node-down.json", []string{
			"AT_MIN_ISR warning orders-0 node=-",
			"AT_MIN_ISR warning orders-1 node=-",
			"AT_MIN_ISR warning orders-2 node=-",
			"BROKER_FENCED warning - node=3",
			// A fenced broker's replica is down, not stalled.
			"NODE_UNREACHABLE warning - node=3",
			"RAFT_FOLLOWER_BEHIND warning - node=3",
		}, []string{api.StatusAtMinISR, api.StatusAtMinISR, api.StatusAtMinISR}, 3},
		{"leader-paused.json", []string{
			"LEADER_UNREACHABLE critical orders-1 node=2",
			"NODE_UNREACHABLE warning - node=2",
		}, []string{api.StatusOK, api.StatusLeaderUnreachable, api.StatusOK}, 4},
	} {
		t.Run(tc.file, func(t *testing.T) {
			v := admintest.LoadView(t, tc.file)
			fs := Run(v)
			if got := fxKeys(fs); !reflect.DeepEqual(got, tc.findings) {
				t.Errorf("findings:\n got %q\nwant %q", got, tc.findings)
			}
			checkWellFormed(t, fs)
			if ExitCode(fs) != tc.exit {
				t.Errorf("exit %d, want %d", ExitCode(fs), tc.exit)
			}
			var statuses []string
			for _, r := range MergePartitions(v) {
				statuses = append(statuses, r.Status)
			}
			if !reflect.DeepEqual(statuses, tc.statuses) {
				t.Errorf("statuses %v, want %v", statuses, tc.statuses)
			}
		})
	}
}

// The recorded snapshots are written from the fixtures above; run with
// CHRONIK_UPDATE_TESTDATA=1 after changing them (or the types).
func TestWriteTestdata(t *testing.T) {
	if os.Getenv("CHRONIK_UPDATE_TESTDATA") == "" {
		t.Skip("set CHRONIK_UPDATE_TESTDATA=1 to rewrite " + admintest.Path("*.json"))
	}
	for name, v := range map[string]api.ClusterView{
		"healthy.json":          fxHealthy(),
		"follower-stalled.json": fxStalled(t),
		"node-down.json":        fxNodeDown(t),
		"leader-paused.json":    fxLeaderPaused(t),
	} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(admintest.Path(name), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The fixtures and the recorded files agree, so the builders stay the
// one place to change them.
func TestTestdataMatchesFixtures(t *testing.T) {
	for name, v := range map[string]api.ClusterView{
		"healthy.json":          fxHealthy(),
		"follower-stalled.json": fxStalled(t),
		"node-down.json":        fxNodeDown(t),
		"leader-paused.json":    fxLeaderPaused(t),
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back api.ClusterView
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		if got := admintest.LoadView(t, name); !reflect.DeepEqual(got, back) {
			t.Errorf("%s differs from its fixture; rerun with CHRONIK_UPDATE_TESTDATA=1", admintest.Path(name))
		}
	}
}

// fxLeaderPaused: node 2, leader of orders-1, stopped answering half a
// second ago (SIGSTOP): its admin API times out, but the controller has
// not fenced it yet and the raft leader heard from it 0.5 s ago, so every
// other node's metadata still names it leader of orders-1.
func fxLeaderPaused(t *testing.T) api.ClusterView {
	v := fxHealthy()
	n := fxNode(t, &v, 2)
	*n = api.NodeView{Admin: n.Admin, NodeID: 2,
		Error: fmt.Sprintf("no answer from chronik admin API at %s in time — is the node overloaded or a firewall dropping packets?", n.Admin)}
	leader := fxNode(t, &v, 1)
	leader.Raft.Peers[1].LastContactSeconds = admintest.Secs(0.5)
	leader.Brokers.Brokers[1].LastHeartbeatSeconds = admintest.Secs(0.6)
	return v
}

func TestRuleLeaderUnreachable(t *testing.T) {
	runRuleCases(t, ruleLeaderUnreachable, []ruleCase{
		{name: "healthy"},
		{name: "paused leader", mutate: func(t *testing.T, v *api.ClusterView) { *v = fxLeaderPaused(t) },
			want: []string{"LEADER_UNREACHABLE critical orders-1 node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				if fs[0].Evidence["metadata_from"] != int32(1) || !reflect.DeepEqual(fs[0].SeenBy, []int32{1}) {
					t.Errorf("evidence %v seen by %v", fs[0].Evidence, fs[0].SeenBy)
				}
			}},
		// A silent follower leaves its partitions' leaders answering.
		{name: "follower down", mutate: func(t *testing.T, v *api.ClusterView) {
			fxDown(t, v, 3)
			fxAllParts(v, 2, func(p *api.PartitionInfo) { p.Leader = 1 }) // node 3 led orders-2: moved
			fxPart(t, v, 1, 2).Role = api.ReplicaLeader
		}},
	})
}

func TestLeaderPausedSnapshot(t *testing.T) {
	v := fxLeaderPaused(t)
	var statuses []string
	for _, r := range MergePartitions(v) {
		statuses = append(statuses, r.Status)
		if r.Partition == 1 && (r.HighWatermark != -1 || r.Source != 1) {
			t.Errorf("orders-1: hw %d source %d, want -1 from node 1's metadata", r.HighWatermark, r.Source)
		}
	}
	if want := []string{api.StatusOK, api.StatusLeaderUnreachable, api.StatusOK}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	fs := Run(v)
	if got, want := fxKeys(fs), []string{"LEADER_UNREACHABLE critical orders-1 node=2", "NODE_UNREACHABLE warning - node=2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	if ExitCode(fs) != 4 {
		t.Errorf("exit %d", ExitCode(fs))
	}
}

// health is never HEALTHY while a node whose numbers a partition needs is
// silent, whatever the findings say.
func TestClusterStatusNeverHealthyWhileAnOwnerIsSilent(t *testing.T) {
	if st := BuildClusterStatus(fxHealthy(), Run(fxHealthy())); !st.Healthy {
		t.Fatalf("healthy cluster not healthy: %+v", st)
	}
	v := fxLeaderPaused(t)
	st := BuildClusterStatus(v, nil) // even with no finding at all
	if st.Healthy {
		t.Error("healthy with node 2 silent and leading orders-1")
	}
	if st.Partitions[api.StatusLeaderUnreachable] != 1 || st.Partitions[api.StatusOK] != 2 {
		t.Errorf("partition counts %v", st.Partitions)
	}
	v = fxHealthy()
	v.Nodes = append(v.Nodes, api.NodeView{Admin: "http://10.0.0.9:9644", NodeID: -1, Error: "refused"})
	if BuildClusterStatus(v, nil).Healthy {
		t.Error("healthy with a node that did not answer")
	}
}

// Every status has a mark, and the unknown state's is its own: neither
// the healthy nor any known-bad status looks like it.
func TestStatusMarks(t *testing.T) {
	type mark struct {
		symbol string
		color  Color
	}
	unknown := mark{}
	unknown.symbol, unknown.color = StatusMark(api.StatusLeaderUnreachable)
	for _, s := range api.Statuses() {
		var m mark
		m.symbol, m.color = StatusMark(s)
		if m.symbol == "" || m.color == ColorNone {
			t.Errorf("%s has no mark", s)
		}
		if s != api.StatusLeaderUnreachable && (m.symbol == unknown.symbol || m.color == unknown.color) {
			t.Errorf("%s is marked like LEADER_UNREACHABLE: %+v", s, m)
		}
	}
	for i, s := range api.Statuses() {
		if api.StatusRank(s) != i {
			t.Errorf("rank of %s: %d", s, api.StatusRank(s))
		}
	}
	if api.StatusRank(api.StatusOffline) >= api.StatusRank(api.StatusLeaderUnreachable) ||
		api.StatusRank(api.StatusLeaderUnreachable) >= api.StatusRank(api.StatusOK) {
		t.Error("LEADER_UNREACHABLE must rank after OFFLINE and before every ISR status")
	}
}
