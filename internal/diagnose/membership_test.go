package diagnose

import (
	"reflect"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// fxLearners makes node 1 (the leader) see learners 4 and 5 (joined with
// --join), caught up and active, with a voter target of target.
func fxLearners(t *testing.T, v *api.ClusterView, target int) {
	r := fxNode(t, v, 1).Raft
	r.VoterTarget, r.Learners = target, []uint64{4, 5}
	for i := range r.Peers {
		r.Peers[i].Member = api.MemberVoter
	}
	r.Peers = append(r.Peers,
		api.RaftPeer{ID: 4, Member: api.MemberLearner, Match: 1532, Next: 1533, State: api.PeerReplicate,
			RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0.1)},
		api.RaftPeer{ID: 5, Member: api.MemberLearner, Match: 1532, Next: 1533, State: api.PeerReplicate,
			RecentActive: true, Connected: true, LastContactSeconds: admintest.Secs(0.1)})
}

func TestRuleMetadataVotersBelowTarget(t *testing.T) {
	learner := func(t *testing.T, v *api.ClusterView, id uint64) *api.RaftPeer {
		for i, p := range fxNode(t, v, 1).Raft.Peers {
			if p.ID == id {
				return &fxNode(t, v, 1).Raft.Peers[i]
			}
		}
		t.Fatalf("no peer %d", id)
		return nil
	}
	runRuleCases(t, ruleMetadataVotersBelowTarget, []ruleCase{
		{name: "healthy, no target known"},
		{name: "at the target, learners beyond it", mutate: func(t *testing.T, v *api.ClusterView) { fxLearners(t, v, 3) }},
		{name: "below the target with caught-up learners", mutate: func(t *testing.T, v *api.ClusterView) { fxLearners(t, v, 5) },
			want: []string{"METADATA_VOTERS_BELOW_TARGET warning - node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				ev := fs[0].Evidence
				if ev["voter_target"] != 5 || !reflect.DeepEqual(ev["caught_up_learners"], []uint64{4, 5}) {
					t.Errorf("evidence %v", ev)
				}
			}},
		{name: "below the target, learners behind or silent", mutate: func(t *testing.T, v *api.ClusterView) {
			fxLearners(t, v, 5)
			learner(t, v, 4).Lag = 7
			learner(t, v, 5).RecentActive = false
		}},
		{name: "below the target, nothing to promote (one node)", mutate: func(t *testing.T, v *api.ClusterView) {
			r := fxNode(t, v, 1).Raft
			r.VoterTarget, r.Voters, r.Peers = 3, []uint64{1}, r.Peers[:1]
		}},
		{name: "leader did not answer", mutate: func(t *testing.T, v *api.ClusterView) { fxLearners(t, v, 5); fxDown(t, v, 1) }},
	})
}

func TestRuleRaftLearnerBehind(t *testing.T) {
	learner := func(t *testing.T, v *api.ClusterView) *api.RaftPeer {
		fxLearners(t, v, 3)
		r := fxNode(t, v, 1).Raft
		return &r.Peers[len(r.Peers)-1] // node 5
	}
	runRuleCases(t, ruleRaftLearnerBehind, []ruleCase{
		{name: "healthy"},
		{name: "caught-up learners", mutate: func(t *testing.T, v *api.ClusterView) { fxLearners(t, v, 3) }},
		{name: "silent and behind", mutate: func(t *testing.T, v *api.ClusterView) {
			p := learner(t, v)
			p.RecentActive, p.Connected, p.Match, p.Lag, p.LastError = false, false, 1000, 532, "connection refused"
			p.LastContactSeconds = admintest.Secs(30)
		}, want: []string{"RAFT_LEARNER_BEHIND warning - node=5"},
			check: func(t *testing.T, fs []api.Finding) {
				if ev := fs[0].Evidence; ev["entries_behind"] != uint64(532) || ev["last_error"] != "connection refused" {
					t.Errorf("evidence %v", ev)
				}
			}},
		{name: "never heard from", mutate: func(t *testing.T, v *api.ClusterView) {
			p := learner(t, v)
			p.Lag, p.LastContactSeconds = 1532, nil
		}, want: []string{"RAFT_LEARNER_BEHIND warning - node=5"}},
		{name: "behind but talking (catching up)", mutate: func(t *testing.T, v *api.ClusterView) { learner(t, v).Lag = 400 }},
		{name: "silent but caught up", mutate: func(t *testing.T, v *api.ClusterView) {
			p := learner(t, v)
			p.RecentActive, p.LastContactSeconds = false, admintest.Secs(30)
		}},
	})
}

// A silent learner is RAFT_LEARNER_BEHIND, not RAFT_FOLLOWER_BEHIND: it
// does not vote, so the quorum is not at risk.
func TestRaftFollowerBehindSkipsLearners(t *testing.T) {
	v := fxHealthy()
	fxLearners(t, &v, 3)
	r := fxNode(t, &v, 1).Raft
	p := &r.Peers[len(r.Peers)-1]
	p.RecentActive, p.Lag, p.LastContactSeconds = false, 10, nil
	if fs := ruleRaftFollowerBehind(newDiagInput(v)); len(fs) != 0 {
		t.Fatalf("findings %q", fxKeys(fs))
	}
}
