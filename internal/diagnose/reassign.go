package diagnose

import (
	"fmt"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// CodeReassignmentStalled: a replica a partition reassignment adds has not
// copied anything for reassignmentStalledSeconds.
const CodeReassignmentStalled = "REASSIGNMENT_STALLED"

// reassignmentStalledSeconds: an adding replica whose log end has not moved
// for this long is not copying (its broker is down, cannot reach the leader,
// or the throttle is too low for the write rate); a healthy copy advances
// with every fetch.
const reassignmentStalledSeconds = 30.0

// ruleReassignmentStalled: the leader reports an adding replica that is not
// caught up and whose log end has not advanced for
// reassignmentStalledSeconds (or never did); one finding per replica. A
// caught-up adding replica waiting for the others is not stalled.
func ruleReassignmentStalled(in diagInput) []api.Finding {
	var out []api.Finding
	for _, r := range in.rows {
		for _, rs := range r.ReplicaStates {
			if !rs.Adding || rs.Lag == 0 {
				continue
			}
			since := rs.LastAdvanceSeconds
			if since != nil && *since < reassignmentStalledSeconds {
				continue
			}
			still := "has not copied anything under this leader"
			if since != nil {
				still = fmt.Sprintf("has copied nothing for %.0fs", *since)
			}
			out = append(out, api.Finding{
				Code:      CodeReassignmentStalled,
				Severity:  api.SeverityWarning,
				Topic:     r.Topic,
				Partition: ptr32(r.Partition),
				Node:      ptr32(rs.ID),
				Message: fmt.Sprintf("%s: replica %d, which a reassignment adds, %s; %d offsets (about %s) behind leader %d",
					tpName(r.Topic, r.Partition), rs.ID, still, rs.Lag, bytesText(rs.BytesLeft), r.Leader),
				Evidence: map[string]any{
					"lag":                   rs.Lag,
					"bytes_left":            optInt(rs.BytesLeft),
					"last_advance_seconds":  optValue(rs.LastAdvanceSeconds),
					"last_fetch_seconds":    optValue(rs.LastFetchSeconds),
					"leader":                r.Leader,
					"leader_log_end_offset": r.LogEndOffset,
				},
				NextStep: fmt.Sprintf("check that node %d runs and reaches leader %d, and that its --reassignment-throttle exceeds the partition's write rate; "+
					"`chronik partition move %s/%d --cancel` stops the move", rs.ID, r.Leader, r.Topic, r.Partition),
				SeenBy: []int32{r.Source},
			})
		}
	}
	return out
}

func optInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// bytesText prints an estimated byte count: "12.5 MB", "unknown size".
func bytesText(p *int64) string {
	switch {
	case p == nil:
		return "unknown size"
	case *p >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(*p)/1e9)
	case *p >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(*p)/1e6)
	case *p >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(*p)/1e3)
	}
	return fmt.Sprintf("%d B", *p)
}
