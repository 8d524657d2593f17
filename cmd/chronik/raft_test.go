package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// raftCluster starts admin servers for node 1 (leader) and node 2
// (follower) and finds a URL where nothing listens, for node 3.
func raftCluster(t *testing.T) (leader, follower, down string) {
	t.Helper()
	voters := []uint64{1, 2, 3}
	l := httptest.NewServer(server.NewHandler(admintest.NewFakeSource(1, api.RaftStatus{
		NodeID: 1, Role: api.RoleLeader, Term: 4, LeaderID: 1, Commit: 42, Applied: 42, SnapshotIndex: 40, Voters: voters,
		Peers: []api.RaftPeer{
			{ID: 1, Member: api.MemberVoter, Match: 42, Next: 43, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0)},
			{ID: 2, Member: api.MemberVoter, Lag: 1, Match: 41, Next: 43, State: api.PeerReplicate, RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0.1)},
			{ID: 3, Member: api.MemberVoter, Lag: 12, Match: 30, Next: 31, State: api.PeerProbe, LastError: "connection refused"},
		},
	}), nil))
	t.Cleanup(l.Close)
	f := httptest.NewServer(server.NewHandler(admintest.NewFakeSource(2, api.RaftStatus{
		NodeID: 2, Role: api.RoleFollower, Term: 4, LeaderID: 1, Commit: 41, Applied: 40, SnapshotIndex: 40, Voters: voters,
	}), nil))
	t.Cleanup(f.Close)
	down = "http://" + testharness.FreeAddr(t) // nothing listens there
	return l.URL, f.URL, down
}

// newRaftTestEnv is a testEnv that also ignores the caller's CHRONIK_ADMIN.
func newRaftTestEnv(t *testing.T) *testEnv {
	t.Helper()
	t.Setenv(envAdmin, "")
	return newTestEnv(t)
}

func TestRaftStatusTable(t *testing.T) {
	leader, follower, down := raftCluster(t)
	e := newRaftTestEnv(t)
	code := e.run(t, "raft", "status", "--admin", strings.Join([]string{leader, follower, down}, ","))
	if code != exitError {
		t.Errorf("exit code %d, want 1 (one node unreachable)", code)
	}
	want := strings.Join([]string{
		"1\tleader\t4\t1\t42\t42\t40\t1,2,3\t-",
		"2\tfollower\t4\t1\t41\t40\t40\t1,2,3\t-",
		down + "\tunreachable\t-\t-\t-\t-\t-\t-\t-",
		"",
		"1\tvoter\t42\t0\t43\treplicate\tyes\tyes\t0.000",
		"2\tvoter\t41\t1\t43\treplicate\tyes\tyes\t0.100",
		"3\tvoter\t30\t12\t31\tprobe\tno\tno\tnever",
	}, "\n") + "\n"
	if got := e.out.String(); got != want {
		t.Errorf("stdout\n got %q\nwant %q", got, want)
	}
	stderr := e.errOut.String()
	wantErr := "cannot reach chronik admin API at " + down + ": connection refused — is the node running and is --admin-addr right?\n" +
		"Error: no answer from 1 of 3 nodes\n"
	if stderr != wantErr {
		t.Errorf("stderr\n got %q\nwant %q", stderr, wantErr)
	}
}

func TestRaftStatusAllAnswer(t *testing.T) {
	leader, follower, _ := raftCluster(t)
	e := newRaftTestEnv(t)
	if code := e.run(t, "raft", "status", "--admin", leader, "--admin", follower); code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, e.errOut.String())
	}
	if e.errOut.String() != "" {
		t.Errorf("stderr not empty: %q", e.errOut.String())
	}
	if !strings.HasPrefix(e.out.String(), "1\tleader\t") {
		t.Errorf("stdout:\n%s", e.out.String())
	}
}

func TestRaftStatusJSON(t *testing.T) {
	leader, follower, down := raftCluster(t)
	e := newRaftTestEnv(t)
	code := e.run(t, "raft", "status", "-o", "json", "--admin", leader+","+follower+","+down)
	if code != exitError {
		t.Errorf("exit code %d, want 1", code)
	}
	var got []api.NodeResult[api.RaftStatus]
	if err := json.Unmarshal([]byte(e.out.String()), &got); err != nil {
		t.Fatalf("stdout is not a list of NodeResult: %v\n%s", err, e.out.String())
	}
	if len(got) != 3 {
		t.Fatalf("%d results, want 3", len(got))
	}
	if r := got[0]; r.Admin != leader || r.NodeID == nil || *r.NodeID != 1 || r.Data == nil ||
		r.Data.Role != api.RoleLeader || len(r.Data.Peers) != 3 || r.Data.Peers[2].LastError != "connection refused" ||
		r.Data.Peers[2].LastContactSeconds != nil || *r.Data.Peers[1].LastContactSeconds != 0.1 {
		t.Errorf("leader result %+v", r)
	}
	if r := got[1]; r.Admin != follower || *r.NodeID != 2 || r.Data.Commit != 41 || r.Data.Peers != nil {
		t.Errorf("follower result %+v", r)
	}
	if r := got[2]; r.Admin != down || r.NodeID != nil || r.Data != nil || !strings.Contains(r.Error, "connection refused") {
		t.Errorf("unreachable result %+v", r)
	}
	if !strings.Contains(e.errOut.String(), down) {
		t.Errorf("stderr does not name %s:\n%s", down, e.errOut.String())
	}
}

func TestRaftStatusYAML(t *testing.T) {
	leader, _, _ := raftCluster(t)
	e := newRaftTestEnv(t)
	if code := e.run(t, "raft", "status", "-o", "yaml", "--admin", leader); code != exitOK {
		t.Fatalf("exit code %d: %s", code, e.errOut.String())
	}
	var got []map[string]any
	if err := yaml.Unmarshal([]byte(e.out.String()), &got); err != nil {
		t.Fatalf("stdout is not YAML: %v\n%s", err, e.out.String())
	}
	if len(got) != 1 || got[0]["admin"] != leader || got[0]["node_id"] != 1 {
		t.Fatalf("YAML %v", got)
	}
	data, _ := got[0]["data"].(map[string]any)
	if data["role"] != "leader" || data["snapshot_index"] != 40 {
		t.Errorf("data %v", data)
	}
}

func TestRaftStatusOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string
		admins  []string
		output  string
		timeout time.Duration
	}{
		{name: "defaults", admins: []string{"http://127.0.0.1:9644"}, output: "table", timeout: 3 * time.Second},
		{name: "env", env: "h1:9644, h2:9644,", admins: []string{"http://h1:9644", "http://h2:9644"}, output: "table", timeout: 3 * time.Second},
		{name: "flag beats env", env: "h1:9644", args: []string{"--admin=https://h9:9644/", "-o", "yaml", "--timeout=500ms"},
			admins: []string{"https://h9:9644"}, output: "yaml", timeout: 500 * time.Millisecond},
		{name: "repeated and duplicate", args: []string{"--admin", "h1:1,h2:2", "--admin", "http://h1:1", "--output=json"},
			admins: []string{"http://h1:1", "http://h2:2"}, output: "json", timeout: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRaftTestEnv(t)
			t.Setenv(envAdmin, tt.env)
			var got *RaftStatusOptions
			cmd := NewCmdRaftStatus(e.f, func(o *RaftStatusOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Admins, tt.admins) || got.Output != tt.output || got.Timeout != tt.timeout || got.IsTTY {
				t.Errorf("options %+v, want admins %v output %s timeout %v, not a TTY", got, tt.admins, tt.output, tt.timeout)
			}
		})
	}
}

func TestRaftStatusBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  string
		code int
		want string
	}{
		{name: "output", args: []string{"-o", "xml"}, code: exitUsage, want: `Error: --output: want one of table, json, yaml, got "xml"`},
		{name: "timeout", args: []string{"--timeout=0s"}, code: exitUsage, want: "Error: --timeout: must be positive, got 0s"},
		{name: "admin scheme", args: []string{"--admin=ftp://h:21"}, code: exitUsage, want: `Error: --admin: admin URL "ftp://h:21": scheme "ftp", want http or https`},
		{name: "admin empty", args: []string{"--admin="}, code: exitUsage, want: "Error: --admin: no admin URL given"},
		{name: "argument", args: []string{"extra"}, code: exitUsage, want: `Error: unknown command "extra" for "chronik raft status"`},
		{name: "env", env: "ftp://h:21", code: exitError, want: `Error: environment variable CHRONIK_ADMIN: admin URL "ftp://h:21": scheme "ftp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRaftTestEnv(t)
			t.Setenv(envAdmin, tt.env)
			code := e.run(t, append([]string{"raft", "status"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			stderr := e.errOut.String()
			if !strings.Contains(stderr, tt.want) || strings.Count(stderr, "Error:") != 1 {
				t.Errorf("stderr %q, want %q once", stderr, tt.want)
			}
			if tt.code == exitUsage && !strings.Contains(stderr, "Run 'chronik raft status --help' for usage.") {
				t.Errorf("no help hint in %q", stderr)
			}
			if e.out.String() != "" {
				t.Errorf("stdout not empty: %q", e.out.String())
			}
		})
	}
}

func TestRaftGroup(t *testing.T) {
	e := newRaftTestEnv(t)
	if code := e.run(t, "raft"); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(e.out.String(), "status") {
		t.Errorf("raft help lacks status:\n%s", e.out.String())
	}
	e = newRaftTestEnv(t)
	if code := e.run(t, "raft", "stauts"); code != exitUsage {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(e.errOut.String(), `unknown command "stauts" for "chronik raft"`) ||
		!strings.Contains(e.errOut.String(), "Did you mean this?\n\tstatus") {
		t.Errorf("stderr %q", e.errOut.String())
	}
}

func TestRaftStatusNoColorAndTTY(t *testing.T) {
	e := newRaftTestEnv(t)
	t.Setenv("NO_COLOR", "1")
	var got *RaftStatusOptions
	cmd := NewCmdRaftStatus(e.f, func(o *RaftStatusOptions) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.NoColor {
		t.Error("NO_COLOR=1 did not set NoColor")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) || isTerminal(e.out) {
		t.Error("a pipe or a buffer taken for a terminal")
	}
}
