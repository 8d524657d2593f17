package diagnose

import (
	"fmt"
	"slices"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Raft membership findings: nodes that joined with --join are learners until
// the leader promotes them (while the voters are fewer than
// --metadata-voters), and learners beyond the target follow the log for ever.
const (
	CodeMetadataVotersBelowTarget = "METADATA_VOTERS_BELOW_TARGET"
	CodeRaftLearnerBehind         = "RAFT_LEARNER_BEHIND"
)

// ruleMetadataVotersBelowTarget: the leader has fewer voters than its
// --metadata-voters while a learner it hears from has everything committed,
// so a promotion could restore the target but has not happened. Without
// such a learner (a one-node cluster, or every other node down) there is
// nothing to promote and nothing to report here; other rules cover nodes
// that are down.
func ruleMetadataVotersBelowTarget(in diagInput) []api.Finding {
	lv, ok := raftLeaderView(in.view)
	if !ok {
		return nil
	}
	leader := lv.Raft
	if leader.VoterTarget == 0 || len(leader.Voters) >= leader.VoterTarget {
		return nil
	}
	var ready []uint64
	for _, p := range leader.Peers {
		if p.Member == api.MemberLearner && p.RecentActive && p.Lag == 0 {
			ready = append(ready, p.ID)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	slices.Sort(ready)
	return []api.Finding{{
		Code:     CodeMetadataVotersBelowTarget,
		Severity: api.SeverityWarning,
		Message: fmt.Sprintf("raft has %d voters, fewer than the target of %d, while caught-up learners %v could vote",
			len(leader.Voters), leader.VoterTarget, ready),
		Evidence: map[string]any{
			"voters":             leader.Voters,
			"voter_target":       leader.VoterTarget,
			"learners":           leader.Learners,
			"caught_up_learners": ready,
		},
		NextStep: fmt.Sprintf("the leader (node %d) promotes a caught-up learner every election timeout: look in its log for "+
			"\"could not promote\"; `chronik raft status` shows each member's lag", leader.NodeID),
		SeenBy: []int32{viewNodeID(lv)},
	}}
}

// ruleRaftLearnerBehind: a learner lacks committed entries and the leader
// has not heard from it for longer than raftContactMaxSeconds (or never):
// it is not catching up. It does not vote, so the quorum is not at risk,
// but it serves stale metadata and cannot be promoted.
func ruleRaftLearnerBehind(in diagInput) []api.Finding {
	lv, ok := raftLeaderView(in.view)
	if !ok {
		return nil
	}
	leader := lv.Raft
	var out []api.Finding
	for _, p := range leader.Peers {
		if p.Member != api.MemberLearner || p.Lag == 0 {
			continue
		}
		quiet := p.LastContactSeconds == nil || *p.LastContactSeconds > raftContactMaxSeconds
		if p.RecentActive && !quiet {
			continue
		}
		heard := "never heard from it"
		if p.LastContactSeconds != nil {
			heard = fmt.Sprintf("last heard from it %.1fs ago", *p.LastContactSeconds)
		}
		ev := map[string]any{
			"match":                p.Match,
			"leader_commit":        leader.Commit,
			"entries_behind":       p.Lag,
			"state":                p.State,
			"recent_active":        p.RecentActive,
			"connected":            p.Connected,
			"last_contact_seconds": optValue(p.LastContactSeconds),
		}
		if p.LastError != "" {
			ev["last_error"] = p.LastError
		}
		out = append(out, api.Finding{
			Code:     CodeRaftLearnerBehind,
			Severity: api.SeverityWarning,
			Node:     ptr32(int32(p.ID)),
			Message: fmt.Sprintf("raft learner %d is not catching up: leader %d %s, %d entries behind (match %d, commit %d)",
				p.ID, leader.NodeID, heard, p.Lag, p.Match, leader.Commit),
			Evidence: ev,
			NextStep: fmt.Sprintf("check that node %d runs and that it and node %d reach each other's cluster port; "+
				"`chronik raft status` shows its lag", p.ID, leader.NodeID),
			SeenBy: []int32{viewNodeID(lv)},
		})
	}
	return out
}
