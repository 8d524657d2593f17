package diagnose

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// fxTaken is when the fixtures' views were taken, for the causes' start.
var fxTaken = time.Date(2026, 12, 3, 5, 0, 0, 0, time.UTC)

// checkCauses asserts what every correlation must hold: each finding is
// under exactly one cause, and every cause says what, why and what next.
func checkCauses(t *testing.T, fs []api.Finding, cs []api.Cause) {
	t.Helper()
	seen := make([]int, len(fs))
	for _, c := range cs {
		if c.Message == "" || strings.Contains(c.Message, "\n") || c.NextStep == "" || strings.Contains(c.NextStep, "\n") {
			t.Errorf("%s: message %q next step %q", c.Code, c.Message, c.NextStep)
		}
		if len(c.Findings) == 0 || len(c.Effects) == 0 || c.Partitions == nil {
			t.Errorf("%s: findings %v effects %q partitions %v", c.Code, c.Findings, c.Effects, c.Partitions)
		}
		if severityRank(c.Severity) > 2 {
			t.Errorf("%s: severity %q", c.Code, c.Severity)
		}
		for _, i := range c.Findings {
			seen[i]++
		}
	}
	for i, n := range seen {
		if n != 1 {
			t.Errorf("finding %d (%s) is under %d causes", i, fxKey(fs[i]), n)
		}
	}
	if _, err := json.Marshal(cs); err != nil {
		t.Errorf("causes do not encode: %v", err)
	}
}

// causeKeys lists "CODE severity node=N" per cause.
func causeKeys(cs []api.Cause) []string {
	out := []string{}
	for _, c := range cs {
		k := c.Code + " " + c.Severity
		if c.Node != nil {
			k += " node=" + strconv.Itoa(int(*c.Node))
		}
		out = append(out, k)
	}
	return out
}

// findingCodes are the codes of a cause's findings, sorted.
func findingCodes(fs []api.Finding, c api.Cause) []string {
	var out []string
	for _, i := range c.Findings {
		out = append(out, fs[i].Code)
	}
	slices.Sort(out)
	return out
}

func TestCorrelate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		view    func(t *testing.T) api.ClusterView
		causes  []string
		codes   []string // the first cause's findings
		parts   []string // the first cause's partitions
		started time.Duration
		check   func(t *testing.T, c api.Cause)
	}{
		{name: "healthy", view: func(*testing.T) api.ClusterView { return fxHealthy() }, causes: []string{}},
		{
			name:   "a killed follower: one cause, every symptom under it",
			view:   fxNodeDown,
			causes: []string{"NODE_DOWN critical node=3"},
			codes:  []string{"AT_MIN_ISR", "AT_MIN_ISR", "AT_MIN_ISR", "BROKER_FENCED", "NODE_UNREACHABLE", "RAFT_FOLLOWER_BEHIND"},
			parts:  []string{"orders-0", "orders-1", "orders-2"},
			// The controller's last heartbeat from it, 14.2 s before the view.
			started: 14200 * time.Millisecond,
			check: func(t *testing.T, c api.Cause) {
				want := "3 partitions at min ISR: one more loss refuses acks=all, and acks=all producers are writing to 3 of them (orders-0, orders-1, orders-2)"
				if !slices.Contains(c.Effects, want) {
					t.Errorf("effects %q lack %q", c.Effects, want)
				}
				if !strings.Contains(c.Message, "refuses connections") || !strings.Contains(c.Message, "fenced by controller 1") ||
					!strings.Contains(c.Message, "not heard from for 14.2s") {
					t.Errorf("message %q", c.Message)
				}
			},
		},
		{
			name:    "a paused leader",
			view:    fxLeaderPaused,
			causes:  []string{"NODE_UNREACHABLE critical node=2"},
			codes:   []string{"LEADER_UNREACHABLE", "NODE_UNREACHABLE"},
			parts:   []string{"orders-1"},
			started: 600 * time.Millisecond,
			check: func(t *testing.T, c api.Cause) {
				if !strings.Contains(c.NextStep, "kill -CONT") || !strings.Contains(c.Message, "paused") {
					t.Errorf("message %q next %q", c.Message, c.NextStep)
				}
			},
		},
		{
			name:   "a slow follower",
			view:   fxStalled,
			causes: []string{"REPLICA_SLOW critical node=3"},
			codes:  []string{"ACKS_ALL_WAITING", "AT_MIN_ISR", "FOLLOWER_STALLED", "FOLLOWER_STALLED"},
			parts:  []string{"orders-0", "orders-1"},
			// orders-0's replica 3 last caught up 42.5 s ago.
			started: 42500 * time.Millisecond,
		},
		{
			name: "quorum lost",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				fxDown(t, &v, 2)
				fxDown(t, &v, 3)
				n := fxNode(t, &v, 1)
				n.Raft.Role, n.Raft.LeaderID, n.Raft.Peers = api.RoleCandidate, 0, nil
				n.Brokers.Controller, n.Brokers.ControllerID = false, -1
				return v
			},
			causes: []string{"RAFT_QUORUM_LOST critical"},
			// Nodes 2 and 3 led orders-1 and orders-2: their state is unknown.
			codes: []string{"LEADER_UNREACHABLE", "LEADER_UNREACHABLE", "NODE_UNREACHABLE", "NODE_UNREACHABLE", "RAFT_NO_LEADER"},
			parts: []string{"orders-1", "orders-2"},
			check: func(t *testing.T, c api.Cause) {
				if !reflect.DeepEqual(c.Nodes, []int32{2, 3}) || !strings.Contains(c.NextStep, "start voters [2 3]") || c.Started != "" {
					t.Errorf("nodes %v next %q started %q", c.Nodes, c.NextStep, c.Started)
				}
			},
		},
		{
			// Two of three voters answer: raft is electing a leader after
			// its leader went silent; the silent node is the cause.
			name: "a silent raft leader while the others elect: no lost quorum",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				n := fxNode(t, &v, 1)
				*n = api.NodeView{Admin: n.Admin, NodeID: 1,
					Error: fmt.Sprintf("no answer from chronik admin API at %s in time — is the node overloaded or a firewall dropping packets?", n.Admin)}
				for _, id := range []int32{2, 3} {
					m := fxNode(t, &v, id)
					m.Raft.Role, m.Raft.LeaderID = api.RoleCandidate, 0
					m.Brokers.Controller, m.Brokers.ControllerID = false, -1
				}
				return v
			},
			causes: []string{"NODE_UNREACHABLE critical node=1"},
			codes:  []string{"LEADER_UNREACHABLE", "NODE_UNREACHABLE", "RAFT_NO_LEADER"},
			parts:  []string{"orders-0"},
			check: func(t *testing.T, c api.Cause) {
				if !slices.ContainsFunc(c.Effects, func(e string) bool { return strings.HasPrefix(e, "no raft leader") }) {
					t.Errorf("effects %q do not say raft has no leader", c.Effects)
				}
			},
		},
		{
			name: "quorum lost comes first among critical causes",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				fxDown(t, &v, 2)
				fxDown(t, &v, 3)
				n := fxNode(t, &v, 1)
				n.Raft.Role, n.Raft.LeaderID, n.Raft.Peers = api.RoleCandidate, 0, nil
				n.Brokers.Controller, n.Brokers.ControllerID = false, -1
				fxPart(t, &v, 1, 0).ISR = []int32{}
				return v
			},
			causes: []string{"RAFT_QUORUM_LOST critical", "ISR_UNINITIALIZED critical"},
			codes:  []string{"LEADER_UNREACHABLE", "LEADER_UNREACHABLE", "NODE_UNREACHABLE", "NODE_UNREACHABLE", "RAFT_NO_LEADER", "UNDER_MIN_ISR"},
			parts:  []string{"orders-0", "orders-1", "orders-2"},
		},
		{
			name: "a full disk",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				r := fxNode(t, &v, 3).Raft
				r.Role, r.LeaderID, r.Error = api.RoleStopped, 0, "persist raft entries: write raft.db: no space left on device"
				return v
			},
			causes: []string{"DISK_FULL critical node=3"},
			codes:  []string{"RAFT_STOPPED"},
			parts:  []string{},
		},
		{
			name: "a node cut off from the controller",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				for _, id := range []int32{1, 2, 3} {
					fxNode(t, &v, id).Brokers.Brokers[2].Fenced = true
				}
				ctl := fxNode(t, &v, 1)
				ctl.Brokers.Brokers[2].LastHeartbeatSeconds = admintest.Secs(8.2)
				ctl.Raft.Peers[2].RecentActive, ctl.Raft.Peers[2].LastContactSeconds = false, admintest.Secs(8.1)
				fxNode(t, &v, 3).Raft.Role, fxNode(t, &v, 3).Raft.LeaderID = api.RolePreCandidate, 0
				return v
			},
			causes:  []string{"NODE_PARTITIONED warning node=3"},
			codes:   []string{"BROKER_FENCED", "RAFT_FOLLOWER_BEHIND"},
			parts:   []string{},
			started: 8200 * time.Millisecond,
			check: func(t *testing.T, c api.Cause) {
				if !strings.Contains(c.Message, "controller (node 1) does not hear it") || c.Evidence["its_raft_leader"] != uint64(0) {
					t.Errorf("message %q evidence %v", c.Message, c.Evidence)
				}
			},
		},
		{
			name: "failing fetches",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				ft := fxPart(t, &v, 3, 0).Fetcher
				ft.LastError, ft.LastFetchSeconds = "fetch from node 1: tls: bad certificate", admintest.Secs(6)
				rs := fxFollower(t, fxPart(t, &v, 1, 0), 3) // the leader saw the last fetch as long ago
				rs.LastFetchSeconds, rs.LastCaughtUpSeconds = admintest.Secs(6), admintest.Secs(6)
				return v
			},
			causes:  []string{"FOLLOWER_FETCH_ERRORS warning node=3"},
			codes:   []string{"FOLLOWER_FETCH_FAILING"},
			parts:   []string{"orders-0"},
			started: 6 * time.Second,
		},
		{
			name: "a leader slow to write: every ISR follower behind it alike",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				p := fxPart(t, &v, 2, 1)
				p.AcksAllWaiting, p.AcksAllOldestWaitSeconds = 3, 1.3
				for i := range p.Followers {
					p.Followers[i].Lag, p.Followers[i].LogEndOffset = 200, p.LogEndOffset-200
				}
				p.HighWatermark = p.LogEndOffset - 200
				return v
			},
			causes:  []string{"REPLICA_SLOW warning node=2"},
			codes:   []string{"ACKS_ALL_WAITING"},
			parts:   []string{"orders-1"},
			started: 1300 * time.Millisecond,
			check: func(t *testing.T, c api.Cause) {
				if !strings.Contains(c.Message, "node 2, leading orders-1, is slow to write") || !strings.Contains(c.NextStep, "fsync") {
					t.Errorf("message %q next %q", c.Message, c.NextStep)
				}
			},
		},
		{
			name: "a restarted fetcher's error while the leader sees it fetch",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				ft := fxPart(t, &v, 3, 0).Fetcher
				ft.LastError, ft.LastFetchSeconds = "NOT_LEADER_FOR_PARTITION", nil
				return v
			},
			causes: []string{},
		},
		{
			name: "an empty ISR",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				fxAllParts(&v, 0, func(p *api.PartitionInfo) { p.ISR = []int32{} })
				return v
			},
			causes: []string{"ISR_UNINITIALIZED critical"},
			codes:  []string{"ISR_UNINITIALIZED", "UNDER_MIN_ISR"},
			parts:  []string{"orders-0"},
		},
		{
			name: "acks=all stuck behind a replica that looks fine",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				fxPart(t, &v, 2, 1).AcksAllWaiting, fxPart(t, &v, 2, 1).AcksAllOldestWaitSeconds = 7, 3.5
				return v
			},
			causes:  []string{"ACKS_ALL_STUCK warning"},
			codes:   []string{"ACKS_ALL_WAITING"},
			parts:   []string{"orders-1"},
			started: 3500 * time.Millisecond,
		},
		{
			// bench/chaos's slow-fsync fault on a follower: the ISR stays
			// full while acks=all produces wait for its fsyncs.
			name: "a follower's slow disk holding acks=all",
			view: func(t *testing.T) api.ClusterView {
				v := fxHealthy()
				fxFastDisks(t, &v)
				fxFsync(t, &v, 3, 0.2104, 0.2301, 37)
				p := fxPart(t, &v, 2, 1)
				p.AcksAllWaiting, p.AcksAllOldestWaitSeconds = 9, 1.4
				fxFollower(t, p, 3).Lag = 40
				return v
			},
			causes:  []string{"DISK_SLOW warning node=3"},
			codes:   []string{"ACKS_ALL_WAITING", "SLOW_FSYNC"},
			parts:   []string{"orders-1"},
			started: 1400 * time.Millisecond,
			check: func(t *testing.T, c api.Cause) {
				if !strings.Contains(c.Message, "node 3's disk is slow") || !strings.Contains(c.Message, "210ms") {
					t.Errorf("message %q", c.Message)
				}
				if c.Evidence["fsync_median_seconds"] != 0.2104 || !strings.Contains(c.NextStep, "iostat") {
					t.Errorf("evidence %v next %q", c.Evidence, c.NextStep)
				}
			},
		},
		{
			name: "a slow disk explains what REPLICA_SLOW could only suspect",
			view: func(t *testing.T) api.ClusterView {
				v := fxStalled(t)
				fxFsync(t, &v, 3, 0.65, 1.1, 20)
				return v
			},
			causes:  []string{"DISK_SLOW critical node=3"},
			codes:   []string{"ACKS_ALL_WAITING", "AT_MIN_ISR", "FOLLOWER_STALLED", "FOLLOWER_STALLED", "SLOW_FSYNC"},
			parts:   []string{"orders-0", "orders-1"},
			started: 42500 * time.Millisecond,
		},
		{
			name: "a stalled follower whose fsyncs are fast",
			view: func(t *testing.T) api.ClusterView {
				v := fxStalled(t)
				fxFastDisks(t, &v)
				return v
			},
			causes: []string{"REPLICA_SLOW critical node=3"},
			codes:  []string{"ACKS_ALL_WAITING", "AT_MIN_ISR", "FOLLOWER_STALLED", "FOLLOWER_STALLED"},
			parts:  []string{"orders-0", "orders-1"},
			check: func(t *testing.T, c api.Cause) {
				if !strings.Contains(c.Message, "fsyncs are fast (median 4ms)") || strings.Contains(c.NextStep, "iostat") {
					t.Errorf("message %q next %q", c.Message, c.NextStep)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.view(t)
			v.Taken = fxTaken
			fs := Run(v)
			cs := Correlate(v, fs)
			checkCauses(t, fs, cs)
			if got := causeKeys(cs); !reflect.DeepEqual(got, tc.causes) {
				t.Fatalf("causes %q, want %q\nfindings %q", got, tc.causes, fxKeys(fs))
			}
			if len(cs) == 0 {
				return
			}
			c := cs[0]
			if got := findingCodes(fs, c); !reflect.DeepEqual(got, tc.codes) {
				t.Errorf("findings under it %q, want %q", got, tc.codes)
			}
			if !reflect.DeepEqual(c.Partitions, tc.parts) {
				t.Errorf("partitions %q, want %q", c.Partitions, tc.parts)
			}
			if tc.started != 0 {
				if want := fxTaken.Add(-tc.started).Format(time.RFC3339); c.Started != want {
					t.Errorf("started %q, want %q", c.Started, want)
				}
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			t.Logf("%s: %s; effects %q; next: %s", c.Code, c.Message, c.Effects, c.NextStep)
		})
	}
}

// The doctor report keeps every finding as it was and adds the causes;
// its exit code follows the riskier of the two.
func TestDoctorReportCauses(t *testing.T) {
	v := admintest.LoadView(t, "node-down.json")
	rep := BuildDoctorReport(v)
	if !reflect.DeepEqual(rep.Findings, Run(v)) {
		t.Error("findings changed by the correlation")
	}
	if len(rep.Causes) != 1 || rep.Causes[0].Code != CauseNodeDown || rep.ExitCode != 4 || ExitCode(rep.Findings) != 3 {
		t.Errorf("causes %q exit %d (findings alone %d)", causeKeys(rep.Causes), rep.ExitCode, ExitCode(rep.Findings))
	}
	if rep.Causes[0].Started != "" {
		t.Errorf("started %q from a view with no time", rep.Causes[0].Started)
	}
	healthy := BuildDoctorReport(fxHealthy())
	b, err := json.Marshal(healthy)
	if err != nil || !strings.Contains(string(b), `"causes":[]`) || healthy.ExitCode != 0 {
		t.Errorf("healthy report %s (%v)", b, err)
	}
}

// A partial view (node 2 has not answered yet, its time not up): its
// partition shows LEADER_UNREACHABLE and nothing is healthy, but no
// finding or cause accuses a node that may answer in a moment.
func TestPartialView(t *testing.T) {
	v := fxHealthy()
	n := fxNode(t, &v, 2)
	*n = api.NodeView{Admin: n.Admin, NodeID: 2, Error: api.PendingError, Pending: true}
	v.Partial = true
	var statuses []string
	for _, r := range MergePartitions(v) {
		statuses = append(statuses, r.Status)
	}
	if want := []string{api.StatusOK, api.StatusLeaderUnreachable, api.StatusOK}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	rep := BuildDoctorReport(v)
	if len(rep.Findings) != 0 || len(rep.Causes) != 0 {
		t.Errorf("findings %q causes %q in a partial view", fxKeys(rep.Findings), causeKeys(rep.Causes))
	}
	st := BuildClusterStatus(v, rep.Findings)
	if st.Healthy || !st.Partial || st.Brokers[1].State != "waiting" {
		t.Errorf("status %+v", st)
	}
}
