package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// What the partitions, detail and raft views show of a cluster that grows,
// shrinks or moves replicas: a reassignment's adding and removing replicas
// with the copy's bytes left and rate, and raft learners next to voters.

// reassigning reports whether any of rows is being reassigned, so the
// partitions view adds its COPYING column only then.
func reassigning(rows []api.PartitionRow) bool {
	return slices.ContainsFunc(rows, func(r api.PartitionRow) bool {
		return len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0
	})
}

// copyingCell is each adding replica's copy progress as the leader reports
// it: "4: 12.5 MB left, 1.0 MB/s"; "-" when nothing is being added.
func copyingCell(r api.PartitionRow) cell {
	var parts []string
	for _, id := range r.AddingReplicas {
		i := slices.IndexFunc(r.ReplicaStates, func(rs api.ReplicaState) bool { return rs.ID == id })
		if i < 0 {
			parts = append(parts, strconv.Itoa(int(id))+": leader has no figures")
			continue
		}
		parts = append(parts, strconv.Itoa(int(id))+": "+r.ReplicaStates[i].CopyProgress())
	}
	if len(parts) == 0 {
		if len(r.RemovingReplicas) > 0 {
			return cell{text: "◐ removing " + idList(r.RemovingReplicas), style: stMagenta}
		}
		return plain("-")
	}
	return cell{text: "◐ " + strings.Join(parts, "; "), style: stMagenta}
}

// replicaRole is a replica's role in the detail view: leader, follower,
// adding (a reassignment copies the log to it) or removing.
func replicaRole(r api.PartitionRow, id int32) string {
	role := "follower"
	if id == r.Leader {
		role = "leader"
	}
	switch {
	case slices.Contains(r.AddingReplicas, id):
		role += ", adding"
	case slices.Contains(r.RemovingReplicas, id):
		role += ", removing"
	}
	return role
}

// copyLines are the detail view's lines on a reassignment in progress: the
// target, and each adding replica's copy with when it last advanced.
func copyLines(r api.PartitionRow) []string {
	if len(r.AddingReplicas) == 0 && len(r.RemovingReplicas) == 0 {
		return nil
	}
	out := []string{"reassigning: " + r.ReplicasText()}
	for _, id := range r.AddingReplicas {
		i := slices.IndexFunc(r.ReplicaStates, func(rs api.ReplicaState) bool { return rs.ID == id })
		if i < 0 {
			out = append(out, fmt.Sprintf("replica %d copying: the leader has no figures for it yet", id))
			continue
		}
		rs := r.ReplicaStates[i]
		out = append(out, fmt.Sprintf("replica %d copying: %s, %d offsets behind, last advanced %s",
			id, rs.CopyProgress(), rs.Lag, ago(rs.LastAdvanceSeconds)))
	}
	return out
}

// idsText joins raft member ids: "1,2,3"; "-" for none.
func idsText(ids []uint64) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, v := range ids {
		s[i] = unum(v)
	}
	return strings.Join(s, ",")
}

// memberCell is a raft peer's kind: a learner follows the log without
// voting, so it is marked apart from the voters.
func memberCell(p api.RaftPeer) cell {
	switch p.Member {
	case api.MemberLearner:
		return cell{text: "◐ learner", style: stMagenta}
	case "":
		return plain("-") // a node from before learners existed
	}
	return plain(p.Member)
}

// votersLine sums up raft membership under the leader's peer table:
// voters against the target and the learners.
func votersLine(rs *api.RaftStatus) string {
	s := fmt.Sprintf("voters %s", idsText(rs.Voters))
	if rs.VoterTarget > 0 {
		s += fmt.Sprintf(" (target %d)", rs.VoterTarget)
	}
	return s + "  learners " + idsText(rs.Learners)
}
