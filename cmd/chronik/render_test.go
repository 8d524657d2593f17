package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// threeNodes is a leader, a follower and a node that did not answer.
func threeNodes() []api.NodeResult[api.RaftStatus] {
	one, two := int32(1), int32(2)
	// as the admin API answers them: voters and peers sorted
	l, f := admintest.SortedRaft(admintest.LeaderStatus()), admintest.FollowerStatus()
	// and a joined node beyond the voter target, following as a learner
	l.Learners = []uint64{4}
	l.Peers = append(l.Peers, api.RaftPeer{ID: 4, Member: api.MemberLearner, Lag: 1, Match: 119, Next: 120,
		State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0.5)})
	return []api.NodeResult[api.RaftStatus]{
		{Admin: "http://127.0.0.1:1", NodeID: &one, Data: &l},
		{Admin: "http://127.0.0.1:2", NodeID: &two, Data: &f},
		{Admin: "http://127.0.0.1:3", Error: "cannot reach chronik admin API at http://127.0.0.1:3: connection refused"},
	}
}

func render(t *testing.T, results []api.NodeResult[api.RaftStatus], tty bool) string {
	t.Helper()
	var buf bytes.Buffer
	if err := RenderRaftTable(&buf, results, tty); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRenderRaftTableTTY(t *testing.T) {
	want := `NODE                ROLE         TERM  LEADER  COMMIT  APPLIED  SNAPSHOT  VOTERS  LEARNERS
1                   leader       7     1       120     119      100       1,2,3   4
2                   follower     7     1       118     118      100       1,2,3   -
http://127.0.0.1:3  unreachable  -     -       -       -        -         -       -

PEERS as seen by leader 1 (term 7)
ID  MEMBER   MATCH  LAG  NEXT  STATE      ACTIVE  CONNECTED  LAST CONTACT
1   voter    120    0    121   replicate  yes     yes        0s ago
2   voter    118    2    121   replicate  yes     yes        250ms ago
3   voter    0      120  1     probe      no      no         never
4   learner  119    1    120   replicate  yes     yes        500ms ago

peer 3 last error: dial tcp 127.0.0.1:9093: connect: connection refused
`
	if got := render(t, threeNodes(), true); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRenderRaftTablePlain(t *testing.T) {
	want := strings.Join([]string{
		"1\tleader\t7\t1\t120\t119\t100\t1,2,3\t4",
		"2\tfollower\t7\t1\t118\t118\t100\t1,2,3\t-",
		"http://127.0.0.1:3\tunreachable\t-\t-\t-\t-\t-\t-\t-",
		"",
		"1\tvoter\t120\t0\t121\treplicate\tyes\tyes\t0.000",
		"2\tvoter\t118\t2\t121\treplicate\tyes\tyes\t0.250",
		"3\tvoter\t0\t120\t1\tprobe\tno\tno\tnever",
		"4\tlearner\t119\t1\t120\treplicate\tyes\tyes\t0.500",
	}, "\n") + "\n"
	if got := render(t, threeNodes(), false); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestRenderRaftTableNoLeader(t *testing.T) {
	results := threeNodes()[1:] // the follower and the unreachable node
	stopped := api.RaftStatus{NodeID: 2, Role: api.RoleStopped, Term: 7, Voters: []uint64{}, Error: "raft log write: no space left on device"}
	results[0].Data = &stopped
	got := render(t, results, true)
	for _, want := range []string{
		"2                   stopped      7     -       0       0        0         -       -\n",
		"no node that answered is the raft leader",
		"node 2 stopped as a voter: raft log write: no space left on device\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if plain := render(t, results, false); strings.Count(plain, "\n") != 2 {
		t.Errorf("plain output has more than the two node rows:\n%s", plain)
	}
}

// TestRenderLeaderViewHighestTerm: a deposed leader cut off from the
// quorum still says "leader"; the peers shown are the current leader's.
func TestRenderLeaderViewHighestTerm(t *testing.T) {
	old := api.RaftStatus{NodeID: 3, Role: api.RoleLeader, Term: 6, LeaderID: 3, Voters: []uint64{1, 2, 3},
		Peers: []api.RaftPeer{{ID: 9, State: api.PeerProbe}}}
	results := threeNodes()
	three := int32(3)
	results[2] = api.NodeResult[api.RaftStatus]{Admin: "http://127.0.0.1:3", NodeID: &three, Data: &old}
	got := render(t, results, true)
	if !strings.Contains(got, "PEERS as seen by leader 1 (term 7)") || strings.Contains(got, "\n9 ") {
		t.Errorf("peers are not the term-7 leader's:\n%s", got)
	}
}

func TestRenderCellsStayOnOneRow(t *testing.T) {
	results := threeNodes()
	results[0].Data.Role = "lea\tder\nx"
	if got := render(t, results, false); strings.Count(got, "\n") != 3 || !strings.HasPrefix(got, "1\tlea der x\t7") {
		t.Errorf("a tab or newline in a cell broke the row:\n%q", got)
	}
}

func TestLastContactForPeople(t *testing.T) {
	tests := []struct {
		sec  *float64
		want string
	}{
		{nil, "never"},
		{admintest.Secs(0.0004), "0s ago"},
		{admintest.Secs(0.25), "250ms ago"},
		{admintest.Secs(3.14159), "3.1s ago"},
		{admintest.Secs(65.4), "1m5s ago"},
	}
	for _, tt := range tests {
		if got := lastContact(tt.sec, true); got != tt.want {
			t.Errorf("lastContact(%v) = %q, want %q", tt.sec, got, tt.want)
		}
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, threeNodes()); err != nil {
		t.Fatal(err)
	}
	var got []api.NodeResult[api.RaftStatus]
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, threeNodes()) {
		t.Errorf("round trip changed the results:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `"error": "cannot reach`) || strings.Count(buf.String(), `"data"`) != 2 {
		t.Errorf("unexpected JSON:\n%s", buf.String())
	}
}

func TestWriteYAML(t *testing.T) {
	two := int32(2)
	f := api.RaftStatus{NodeID: 2, Role: api.RoleFollower, Term: 7, LeaderID: 1, Voters: []uint64{}, Learners: []uint64{}, Error: "123"}
	results := []api.NodeResult[api.RaftStatus]{
		{Admin: "http://127.0.0.1:2", NodeID: &two, Data: &f},
		{Admin: "http://127.0.0.1:3", Error: "cannot reach: connection refused — is it running?"},
	}
	var buf bytes.Buffer
	if err := WriteYAML(&buf, results); err != nil {
		t.Fatal(err)
	}
	want := `- admin: http://127.0.0.1:2
  node_id: 2
  data:
    node_id: 2
    role: follower
    term: 7
    leader_id: 1
    commit: 0
    applied: 0
    snapshot_index: 0
    voters: []
    learners: []
    error: "123"
- admin: http://127.0.0.1:3
  error: 'cannot reach: connection refused — is it running?'
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
	// The YAML means the same as the JSON.
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(buf.Bytes(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	var jbuf bytes.Buffer
	if err := WriteJSON(&jbuf, results); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(jbuf.Bytes(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Errorf("YAML %v differs from JSON %v", fromYAML, fromJSON)
	}
}
