package diagnose

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Root causes: the rules say what they see, one finding per symptom; a
// single fault shows as many (a paused node: its partitions at min ISR,
// fenced, a raft voter behind, unreachable). Correlate groups them under
// the fault that explains them, so an operator reads one cause and one
// next step, with the findings still there as its evidence.

// Cause codes; docs/admin-api.md describes each.
const (
	// CauseNodeDown: the node's admin API refuses connections: its process
	// is not running (or nothing listens there any more).
	CauseNodeDown = "NODE_DOWN"
	// CauseNodeUnreachable: connections open (or time out) but no answer
	// comes in time: paused (SIGSTOP), stuck, overloaded, or packets dropped.
	CauseNodeUnreachable = "NODE_UNREACHABLE"
	// CauseNodePartitioned: the node answers here, but the controller or
	// the raft leader does not hear it: cut off from the cluster while it
	// may still serve clients.
	CauseNodePartitioned = "NODE_PARTITIONED"
	CauseRaftQuorumLost  = "RAFT_QUORUM_LOST"
	CauseDiskFull        = "DISK_FULL"
	CauseFetchErrors     = "FOLLOWER_FETCH_ERRORS"
	// CauseReplicaSlow: a node that answers and reports no error, yet its
	// replicas fall behind: its disk (fsync), CPU or network. The answers
	// do not tell these apart.
	CauseReplicaSlow      = "REPLICA_SLOW"
	CauseISRUninitialized = "ISR_UNINITIALIZED"
	CauseLeaderNotInISR   = "LEADER_NOT_IN_ISR"
	CauseAcksAllStuck     = "ACKS_ALL_STUCK"
	// CauseDiskSlow: a node's partition log fsyncs are slow (SLOW_FSYNC):
	// the replicas it hosts lag, and acks=all produces to partitions whose
	// ISR holds it wait.
	CauseDiskSlow = "DISK_SLOW"
)

// enospc is how Go spells ENOSPC in an error; a node's raft or fetch
// error carrying it means its disk is full.
const enospc = "no space left on device"

// correlation is the state of one Correlate call.
type correlation struct {
	view    api.ClusterView
	fs      []api.Finding
	rows    map[string]api.PartitionRow // by "topic-partition"
	claimed []bool
	causes  []api.Cause
	// electing: no answering node knows a raft leader, but a majority of
	// voters answers, so raft elects one; the silent voter explains it.
	electing bool
}

// Correlate groups findings (as Run returns them, in that order) under
// the causes that explain them. Every finding is under exactly one cause:
// the faults recognised here first (a lost quorum, a full disk, silent or
// cut-off nodes, broken ISRs, failing fetches, slow replicas, stuck
// acks=all), then one cause per remaining finding code. Causes are sorted
// most severe first, then in that order; the slice is empty, not nil,
// when fs is.
func Correlate(v api.ClusterView, fs []api.Finding) []api.Cause {
	c := &correlation{view: v, fs: fs, rows: map[string]api.PartitionRow{}, claimed: make([]bool, len(fs))}
	for _, r := range MergePartitions(v) {
		c.rows[tpName(r.Topic, r.Partition)] = r
	}
	c.quorumLost()
	c.diskFull()
	c.silentNodes()
	c.partitionedNodes()
	// Broken partition metadata before the per-node faults: a leader
	// outside its ISR refuses its followers' fetches, which are effects.
	c.perPartitionCode(CodeISRUninitialized, CauseISRUninitialized)
	c.perPartitionCode(CodeLeaderNotInISR, CauseLeaderNotInISR)
	c.perNode(CodeFetchFailing, CauseFetchErrors)
	// A measured slow disk before the guesses: it explains the stalled
	// replicas and held acks=all that REPLICA_SLOW could only suspect.
	c.slowDisks()
	c.perNode(CodeFollowerStalled, CauseReplicaSlow)
	c.slowLeaders()
	c.perPartitionCode(CodeAcksAllWaiting, CauseAcksAllStuck)
	c.rest()
	// Most severe first; among equals, in the order found above, which
	// puts the widest fault (a lost quorum) before the narrower ones.
	slices.SortStableFunc(c.causes, func(a, b api.Cause) int {
		return cmp.Compare(severityRank(a.Severity), severityRank(b.Severity))
	})
	if c.causes == nil {
		return []api.Cause{}
	}
	return c.causes
}

// --- which findings a fault explains ---

// idsOf reads a list of node ids from evidence: []int32 as the rules put
// it, or []any of numbers as JSON decodes it.
func idsOf(v any) []int32 {
	switch x := v.(type) {
	case []int32:
		return x
	case []any:
		var out []int32
		for _, e := range x {
			if f, ok := e.(float64); ok {
				out = append(out, int32(f))
			}
		}
		return out
	}
	return nil
}

// idOf reads one node id from evidence.
func idOf(v any) (int32, bool) {
	switch x := v.(type) {
	case int32:
		return x, true
	case float64:
		return int32(x), true
	}
	return 0, false
}

// caused reports whether a fault of node id explains f: the node's own
// findings, partitions it is missing from, acks=all held back by it, and
// fetches from it that fail.
func caused(f api.Finding, id int32) bool {
	if f.Node != nil && *f.Node == id {
		switch f.Code {
		case CodeNodeUnreachable, CodeBrokerFenced, CodeRaftFollowerBehind, CodeRaftStopped, CodeFollowerStalled,
			CodeFetchFailing, CodeLeaderUnreachable, CodeReplicaNotRunning:
			return true
		}
	}
	switch f.Code {
	case CodeAtMinISR, CodeUnderMinISR, CodeUnderReplicated:
		return slices.Contains(idsOf(f.Evidence["out_of_isr"]), id)
	case CodeNoLeader:
		return slices.Contains(idsOf(f.Evidence["isr"]), id)
	case CodeAcksAllWaiting:
		s, ok := idOf(f.Evidence["slowest_isr_replica"])
		return ok && s == id
	case CodeFetchFailing:
		l, ok := idOf(f.Evidence["leader"])
		return ok && l == id
	}
	return false
}

// claim marks the unclaimed findings pred selects as explained and
// returns their indexes.
func (c *correlation) claim(pred func(api.Finding) bool) []int {
	var out []int
	for i, f := range c.fs {
		if !c.claimed[i] && pred(f) {
			c.claimed[i] = true
			out = append(out, i)
		}
	}
	return out
}

func (c *correlation) claimNode(id int32) []int {
	return c.claim(func(f api.Finding) bool { return caused(f, id) })
}

func (c *correlation) findingsOf(idx []int, code string) []api.Finding {
	var out []api.Finding
	for _, i := range idx {
		if c.fs[i].Code == code {
			out = append(out, c.fs[i])
		}
	}
	return out
}

// --- the faults ---

// quorumLost: no answering node knows a raft leader, and too few voters
// answer to elect one. The voters that did not answer are its cause, and
// everything they explain is under it. When a majority answers, raft is
// between leaders (an election after the leader died or went silent):
// that is no lost quorum, and the silent node is the cause (silentNodes).
func (c *correlation) quorumLost() {
	voters := map[int32]bool{}
	answering := map[int32]bool{}
	for _, n := range c.view.Nodes {
		if n.Reachable() && n.Raft != nil {
			answering[viewNodeID(n)] = true
			for _, id := range n.Raft.Voters {
				voters[int32(id)] = true
			}
		}
	}
	if n := len(answering); n > len(voters)/2 && n < len(voters) {
		c.electing = slices.ContainsFunc(c.fs, func(f api.Finding) bool { return f.Code == CodeRaftNoLeader })
		return
	}
	noLeader := c.claim(func(f api.Finding) bool { return f.Code == CodeRaftNoLeader })
	if len(noLeader) == 0 {
		return
	}
	var silent []int32
	for id := range voters {
		if !answering[id] {
			silent = append(silent, id)
		}
	}
	slices.Sort(silent)
	idx := noLeader
	for _, id := range silent {
		idx = append(idx, c.claimNode(id)...)
	}
	cause := api.Cause{
		Code:     CauseRaftQuorumLost,
		Severity: api.SeverityCritical,
		Nodes:    silent,
		Evidence: map[string]any{"voters": sortedIDs(slices.Collect(maps.Keys(voters))), "answering": sortedIDs(slices.Collect(maps.Keys(answering))), "silent": silent},
	}
	if len(silent) > 0 {
		cause.Message = fmt.Sprintf("raft quorum lost: %d of %d voters answer, voters %v are silent; no leader, ISR or topic change can commit, so no failover happens",
			len(answering), len(voters), silent)
		cause.NextStep = fmt.Sprintf("start voters %v again so that a majority (%d of %d) runs; `chronik raft status` shows each voter's term and role",
			silent, len(voters)/2+1, len(voters))
	} else {
		cause.Message = fmt.Sprintf("raft quorum lost: all %d voters answer here but none knows a leader, so they cannot reach each other's cluster ports", len(voters))
		cause.NextStep = "check the network between the nodes' cluster ports (firewall, routes, TLS); `chronik raft status` shows each voter's term and transport errors"
	}
	c.add(cause, idx)
}

// diskFull: a node whose raft stopped, or whose fetches fail, with ENOSPC.
func (c *correlation) diskFull() {
	for _, n := range c.view.Nodes {
		if !n.Reachable() {
			continue
		}
		id := viewNodeID(n)
		var errs []string
		if n.Raft != nil && strings.Contains(n.Raft.Error, enospc) {
			errs = append(errs, "raft: "+oneLine(n.Raft.Error))
		}
		if n.Partitions != nil {
			for _, p := range n.Partitions.Partitions {
				if p.Fetcher != nil && strings.Contains(p.Fetcher.LastError, enospc) {
					errs = append(errs, tpName(p.Topic, p.Partition)+": "+oneLine(p.Fetcher.LastError))
				}
				if p.Cleaner != nil && strings.Contains(p.Cleaner.Uncleanable, enospc) {
					errs = append(errs, tpName(p.Topic, p.Partition)+" log cleaner: "+oneLine(p.Cleaner.Uncleanable))
				}
			}
		}
		if len(errs) == 0 {
			continue
		}
		idx := c.claimNode(id)
		// A full disk also stops the node's log cleaner (its passes write
		// new segments before removing the old ones).
		idx = append(idx, c.claim(func(f api.Finding) bool {
			return f.Node != nil && *f.Node == id && (f.Code == CodeLogCleanerStopped || f.Code == CodeLogCleanerBehind)
		})...)
		c.add(api.Cause{
			Code:     CauseDiskFull,
			Severity: api.SeverityCritical,
			Node:     ptr32(id),
			Message:  fmt.Sprintf("node %d's disk is full: %s", id, errs[0]),
			Evidence: map[string]any{"errors": errs},
			NextStep: fmt.Sprintf("free space on node %d's data disk (or grow it); restart node %d if its raft stopped", id, id),
		}, idx)
	}
}

// silentNodes: one cause per node whose admin API did not answer.
func (c *correlation) silentNodes() {
	for _, n := range c.view.Nodes {
		if n.Reachable() || n.Pending {
			continue
		}
		var idx []int
		cause := api.Cause{Code: CauseNodeUnreachable, Severity: api.SeverityWarning,
			Evidence: map[string]any{"admin": n.Admin, "admin_error": n.Error}}
		who := "the node at " + n.Admin
		if n.NodeID >= 0 {
			idx = c.claimNode(n.NodeID)
			if c.electing {
				// Its silence is why the others are between leaders.
				idx = append(idx, c.claim(func(f api.Finding) bool { return f.Code == CodeRaftNoLeader })...)
			}
			cause.Node = ptr32(n.NodeID)
			who = "node " + strconv.Itoa(int(n.NodeID))
		} else {
			idx = c.claim(func(f api.Finding) bool { return f.Code == CodeNodeUnreachable && f.Evidence["admin"] == n.Admin })
		}
		if len(idx) == 0 {
			continue // already explained (a lost quorum's silent voter)
		}
		how := "connections open but no answer comes in time: it is paused (SIGSTOP), stuck or overloaded, or packets are dropped"
		step := fmt.Sprintf("check %s's process on its host: stopped (`ps -o stat` shows T; `kill -CONT` resumes it), stuck or swapping (`top`, its log), or a firewall dropping packets", who)
		if strings.Contains(n.Error, "connection refused") {
			cause.Code = CauseNodeDown
			how = "its admin API refuses connections: the process is not running"
			step = fmt.Sprintf("start %s again (its log says why it stopped); its replicas rejoin the ISRs once caught up", who)
		}
		cause.Message = fmt.Sprintf("%s is silent: %s", who, how)
		cause.NextStep = step
		c.nodeFacts(&cause, idx, true)
		c.add(cause, idx)
	}
}

// partitionedNodes: a node that answers here while the controller fenced
// it or the raft leader does not hear it is cut off from them.
func (c *correlation) partitionedNodes() {
	for _, n := range c.view.Nodes {
		if !n.Reachable() {
			continue
		}
		id := viewNodeID(n)
		cut := slices.ContainsFunc(c.fs, func(f api.Finding) bool {
			return f.Node != nil && *f.Node == id &&
				(f.Code == CodeRaftFollowerBehind || f.Code == CodeBrokerFenced && f.Evidence["shut_down"] != true)
		})
		if !cut {
			continue
		}
		idx := c.claimNode(id)
		if len(idx) == 0 {
			continue
		}
		ctl, port := "the controller", "the controller's cluster port"
		if list := c.view.BrokerList(); list != nil && list.ControllerID >= 0 {
			ctl = fmt.Sprintf("the controller (node %d)", list.ControllerID)
			port = fmt.Sprintf("node %d's cluster port (the controller)", list.ControllerID)
		}
		cause := api.Cause{
			Code:     CauseNodePartitioned,
			Severity: api.SeverityWarning,
			Node:     ptr32(id),
			Message:  fmt.Sprintf("node %d answers here, but %s does not hear it: it is cut off from the cluster while it may still serve its clients", id, ctl),
			Evidence: map[string]any{"ready": n.Node != nil && n.Node.Ready},
			NextStep: fmt.Sprintf("check the network between node %d and %s: firewall, routes, TLS; it stays fenced until its heartbeats arrive", id, port),
		}
		if n.Raft != nil {
			cause.Evidence["its_raft_leader"] = n.Raft.LeaderID
			cause.Evidence["its_raft_role"] = n.Raft.Role
		}
		c.nodeFacts(&cause, idx, true)
		c.add(cause, idx)
	}
}

// perNode: one cause per node for the unclaimed findings of code about it
// (failing fetches, stalled replicas), with everything else it explains.
func (c *correlation) perNode(code, causeCode string) {
	var nodes []int32
	for i, f := range c.fs {
		if !c.claimed[i] && f.Code == code && f.Node != nil && !slices.Contains(nodes, *f.Node) {
			nodes = append(nodes, *f.Node)
		}
	}
	slices.Sort(nodes)
	for _, id := range nodes {
		idx := c.claim(func(f api.Finding) bool { return caused(f, id) && (f.Code != CodeFetchFailing || *f.Node == id) })
		cause := api.Cause{Code: causeCode, Severity: api.SeverityWarning, Node: ptr32(id), Evidence: map[string]any{}}
		switch causeCode {
		case CauseFetchErrors:
			first := c.findingsOf(idx, CodeFetchFailing)[0]
			cause.Message = fmt.Sprintf("node %d's fetches from its leaders fail: %s", id, oneLine(fmt.Sprint(first.Evidence["last_error"])))
			cause.NextStep = first.NextStep
		default:
			stalled := c.findingsOf(idx, CodeFollowerStalled)[0] // why this node was picked
			cause.Message = fmt.Sprintf("node %d answers and reports no fetch error, yet its replicas fall behind: its disk (fsync), CPU or network is too slow", id)
			cause.NextStep = fmt.Sprintf("check node %d's disk latency (`iostat -x`, fsync times), CPU and network to the leaders; %s shows its lag", id, describeHint(stalled.Topic))
			if fs := c.fsyncOf(id); fs != nil && fs.Passes >= slowFsyncMinPasses && fs.MedianSeconds < slowFsyncSeconds {
				// No SLOW_FSYNC (slowDisks would have claimed these): its
				// measured fsyncs clear the disk.
				cause.Evidence["fsync_median_seconds"] = fs.MedianSeconds
				cause.Message = fmt.Sprintf("node %d answers and reports no fetch error, yet its replicas fall behind; its fsyncs are fast (median %s), so its CPU or network is too slow",
					id, seconds(fs.MedianSeconds))
				cause.NextStep = fmt.Sprintf("check node %d's CPU (`top`: load, steal) and network to the leaders; %s shows its lag", id, describeHint(stalled.Topic))
			}
		}
		c.nodeFacts(&cause, idx, false)
		c.add(cause, idx)
	}
}

// slowDisks: one cause per node with a SLOW_FSYNC finding, with what a
// slow disk there explains: its stalled replicas, the partitions it fell
// out of the ISR of, and acks=all produces held by partitions whose ISR
// holds it (as follower, every produce waits for its fsync before it
// fetches on; as leader, for its own).
func (c *correlation) slowDisks() {
	for i, f := range c.fs {
		if c.claimed[i] || f.Code != CodeSlowFsync || f.Node == nil {
			continue
		}
		id := *f.Node
		idx := c.claim(func(g api.Finding) bool {
			switch {
			case g.Code == CodeSlowFsync:
				return g.Node != nil && *g.Node == id
			case g.Code == CodeAcksAllWaiting:
				return slices.Contains(idsOf(g.Evidence["isr"]), id) || caused(g, id)
			case g.Code == CodeFetchFailing:
				return false // an error, not slowness: FOLLOWER_FETCH_ERRORS
			}
			return caused(g, id)
		})
		what, unit := fsyncWhat(f.Evidence["fsync_source"])
		cause := api.Cause{
			Code:     CauseDiskSlow,
			Severity: f.Severity,
			Node:     ptr32(id),
			Message: fmt.Sprintf("node %d's disk is slow: its %s take %s (median of %v %s, max %s); "+
				"its replicas lag and acks=all produces to partitions whose ISR holds it wait for them",
				id, what, evSeconds(f.Evidence["fsync_median_seconds"]), f.Evidence["fsync_passes"], unit, evSeconds(f.Evidence["fsync_max_seconds"])),
			Evidence: maps.Clone(f.Evidence),
			NextStep: f.NextStep,
		}
		c.nodeFacts(&cause, idx, false)
		c.add(cause, idx)
	}
}

// fsyncWhat names what SLOW_FSYNC measured, by its fsync_source, and
// what it counted.
func fsyncWhat(source any) (what, unit string) {
	if source == "raft_store" {
		return "raft store writes", "writes"
	}
	return "fsyncs", "passes"
}

// evSeconds prints evidence holding seconds (a float64 as the rules put
// it and as JSON decodes it).
func evSeconds(v any) string {
	if s, ok := v.(float64); ok {
		return seconds(s)
	}
	return fmt.Sprint(v)
}

// slowLeaders: acks=all produces held while every ISR follower is the
// same distance behind the leader. A slow follower lags alone; when all
// of them stop at the same offset, they have everything the leader let
// them have, and what holds the high watermark is the leader itself: its
// disk (each batch is fsynced before it counts) or its network. One cause
// per leader node, REPLICA_SLOW, with those partitions' findings.
func (c *correlation) slowLeaders() {
	byLeader := map[int32][]string{}
	var leaders []int32
	evidence := map[int32]map[string]any{}
	for i, f := range c.fs {
		if c.claimed[i] || f.Code != CodeAcksAllWaiting || f.Node == nil || f.Partition == nil {
			continue
		}
		name := tpName(f.Topic, *f.Partition)
		r, ok := c.rows[name]
		if !ok || r.Leader != *f.Node {
			continue
		}
		var lags []int64
		for _, rs := range r.ReplicaStates {
			if slices.Contains(r.ISR, rs.ID) {
				lags = append(lags, rs.Lag)
			}
		}
		if len(lags) < 2 || slices.Min(lags) <= 0 || slices.Min(lags) != slices.Max(lags) {
			continue
		}
		id := *f.Node
		if _, ok := byLeader[id]; !ok {
			leaders = append(leaders, id)
			evidence[id] = map[string]any{"isr_followers_lag": lags[0], "acks_all_oldest_wait_seconds": f.Evidence["acks_all_oldest_wait_seconds"]}
		}
		byLeader[id] = append(byLeader[id], name)
	}
	slices.Sort(leaders)
	for _, id := range leaders {
		parts := byLeader[id]
		idx := c.claim(func(f api.Finding) bool {
			return f.Partition != nil && slices.Contains(parts, tpName(f.Topic, *f.Partition))
		})
		c.add(api.Cause{
			Code:     CauseReplicaSlow,
			Severity: api.SeverityWarning,
			Node:     ptr32(id),
			Message: fmt.Sprintf("node %d, leading %s, is slow to write: every ISR follower is %v offsets behind it alike, so its own disk (fsync) or network holds the high watermark and acks=all produces wait",
				id, strings.Join(parts, ", "), evidence[id]["isr_followers_lag"]),
			Evidence: evidence[id],
			NextStep: fmt.Sprintf("check node %d's disk latency (`iostat -x`, fsync times) and network: every acks=all produce to a partition it leads waits for its writes", id),
		}, idx)
	}
}

// fsyncOf is node id's reported fsync latency; nil when it did not answer
// or does not report it.
func (c *correlation) fsyncOf(id int32) *api.FsyncLatency {
	for _, n := range c.view.Nodes {
		if n.Reachable() && n.Node != nil && viewNodeID(n) == id {
			return n.Node.Fsync
		}
	}
	return nil
}

// perPartitionCode: one cause for every partition with an unclaimed
// finding of code, with the other findings about those partitions.
func (c *correlation) perPartitionCode(code, causeCode string) {
	var parts []string
	var first api.Finding
	for i, f := range c.fs {
		if !c.claimed[i] && f.Code == code && f.Partition != nil {
			if len(parts) == 0 {
				first = f
			}
			parts = append(parts, tpName(f.Topic, *f.Partition))
		}
	}
	if len(parts) == 0 {
		return
	}
	idx := c.claim(func(f api.Finding) bool {
		return f.Partition != nil && slices.Contains(parts, tpName(f.Topic, *f.Partition))
	})
	msg := first.Message
	if len(parts) > 1 {
		msg = fmt.Sprintf("%d partitions: %s (first: %s)", len(parts), strings.ToLower(effectText(code, len(parts))), first.Message)
	}
	c.add(api.Cause{Code: causeCode, Severity: first.Severity, Message: msg, NextStep: first.NextStep, Evidence: first.Evidence}, idx)
}

// rest: one cause per code of what no fault above explains.
func (c *correlation) rest() {
	var codes []string
	for i, f := range c.fs {
		if !c.claimed[i] && !slices.Contains(codes, f.Code) {
			codes = append(codes, f.Code)
		}
	}
	for _, code := range codes {
		idx := c.claim(func(f api.Finding) bool { return f.Code == code })
		first := c.fs[idx[0]]
		cause := api.Cause{Code: code, Severity: first.Severity, Message: first.Message, NextStep: first.NextStep, Evidence: first.Evidence}
		if len(idx) == 1 {
			cause.Node = first.Node
		} else {
			cause.Message = fmt.Sprintf("%d %s findings; the first: %s", len(idx), code, first.Message)
		}
		c.add(cause, idx)
	}
}

// --- what every cause carries ---

// nodeFacts adds to a node's cause what its findings say about it: since
// when it is silent (silent: the cluster does not hear it) or its findings
// began, fenced, how far its raft log is behind.
func (c *correlation) nodeFacts(cause *api.Cause, idx []int, silent bool) {
	var facts []string
	for _, f := range c.findingsOf(idx, CodeBrokerFenced) {
		cause.Evidence["fenced"] = true
		cause.Evidence["last_heartbeat_seconds"] = f.Evidence["last_heartbeat_seconds"]
		facts = append(facts, fmt.Sprintf("fenced by controller %v", f.Evidence["controller_id"]))
	}
	for _, f := range c.findingsOf(idx, CodeRaftFollowerBehind) {
		cause.Evidence["raft_last_contact_seconds"] = f.Evidence["last_contact_seconds"]
		cause.Evidence["raft_entries_behind"] = f.Evidence["entries_behind"]
		facts = append(facts, fmt.Sprintf("a raft voter %v entries behind", f.Evidence["entries_behind"]))
	}
	age, ok := c.age(idx)
	if !silent {
		if ok {
			facts = append([]string{"for " + roundAge(age)}, facts...)
		}
	} else {
		if cause.Node != nil {
			if a, known := c.nodeAge(*cause.Node); known && (!ok || a > age) {
				age, ok = a, true
			}
		}
		if ok {
			cause.Evidence["silent_seconds"] = age
			facts = append([]string{"not heard from for " + roundAge(age)}, facts...)
		}
	}
	if len(facts) > 0 {
		cause.Message += " (" + strings.Join(facts, ", ") + ")"
	}
}

// age is how long ago the oldest sign among the findings was: the
// controller's last heartbeat, the raft leader's last contact, a replica's
// last catch-up or fetch, the oldest acks=all wait.
func (c *correlation) age(idx []int) (float64, bool) {
	best, found := 0.0, false
	for _, i := range idx {
		for _, k := range []string{"last_heartbeat_seconds", "last_contact_seconds", "last_caught_up_seconds",
			"last_fetch_seconds", "acks_all_oldest_wait_seconds"} {
			if s, ok := c.fs[i].Evidence[k].(float64); ok && (!found || s > best) {
				best, found = s, true
			}
		}
	}
	return best, found
}

// nodeAge is how long ago the cluster last heard from node id: the
// controller's last heartbeat from it or the raft leader's last contact,
// whichever is older.
func (c *correlation) nodeAge(id int32) (float64, bool) {
	best, found := 0.0, false
	if list := c.view.BrokerList(); list != nil && list.Controller {
		for _, b := range list.Brokers {
			if b.ID == id && b.LastHeartbeatSeconds != nil {
				best, found = *b.LastHeartbeatSeconds, true
			}
		}
	}
	if lv, ok := raftLeaderView(c.view); ok && int32(lv.Raft.NodeID) != id {
		for _, p := range lv.Raft.Peers {
			if int32(p.ID) == id && p.LastContactSeconds != nil && (!found || *p.LastContactSeconds > best) {
				best, found = *p.LastContactSeconds, true
			}
		}
	}
	return best, found
}

func roundAge(s float64) string {
	return (time.Duration(s*10) * time.Second / 10).String()
}

// add completes a cause from the findings it groups (partitions, effects,
// started, severity by risk) and keeps it.
func (c *correlation) add(cause api.Cause, idx []int) {
	slices.Sort(idx)
	cause.Findings = idx
	if cause.Findings == nil {
		cause.Findings = []int{}
	}
	cause.Partitions = []string{}
	byCode := map[string][]api.Finding{}
	var codes []string
	for _, i := range idx {
		f := c.fs[i]
		if severityRank(f.Severity) < severityRank(cause.Severity) {
			cause.Severity = f.Severity
		}
		if f.Partition != nil {
			if p := tpName(f.Topic, *f.Partition); !slices.Contains(cause.Partitions, p) {
				cause.Partitions = append(cause.Partitions, p)
			}
		}
		if _, ok := byCode[f.Code]; !ok {
			codes = append(codes, f.Code)
		}
		byCode[f.Code] = append(byCode[f.Code], f)
	}
	slices.Sort(cause.Partitions)
	slices.SortStableFunc(codes, func(a, b string) int {
		return cmp.Compare(severityRank(byCode[a][0].Severity), severityRank(byCode[b][0].Severity))
	})
	cause.Effects = []string{}
	for _, code := range codes {
		cause.Effects = append(cause.Effects, c.effect(code, byCode[code]))
	}
	// Severity follows risk: a partition at min ISR that acks=all producers
	// are writing to is one failure away from refusing their writes.
	for _, f := range byCode[CodeAtMinISR] {
		if r, ok := c.rows[tpName(f.Topic, *f.Partition)]; ok && r.AcksAllWaiting > 0 {
			cause.Severity = api.SeverityCritical
		}
	}
	age, ok := c.age(idx)
	if s, known := cause.Evidence["silent_seconds"].(float64); known && (!ok || s > age) {
		age, ok = s, true
	}
	if ok && !c.view.Taken.IsZero() {
		cause.Started = c.view.Taken.Add(-time.Duration(age * float64(time.Second))).UTC().Format(time.RFC3339)
	}
	if cause.Evidence == nil {
		cause.Evidence = map[string]any{}
	}
	c.causes = append(c.causes, cause)
}

// effectText says what n findings of a code mean, for an effect line.
func effectText(code string, n int) string {
	parts := "partition"
	if n != 1 {
		parts = "partitions"
	}
	switch code {
	case CodeAtMinISR:
		return fmt.Sprintf("%d %s at min ISR: one more loss refuses acks=all", n, parts)
	case CodeUnderMinISR:
		return fmt.Sprintf("%d %s under min ISR: acks=all produces are refused", n, parts)
	case CodeUnderReplicated:
		return fmt.Sprintf("%d %s under-replicated", n, parts)
	case CodeLeaderUnreachable:
		return fmt.Sprintf("%d %s whose leader does not answer: state unknown, clients wait until another replica leads", n, parts)
	case CodeNoLeader:
		return fmt.Sprintf("%d %s without a leader: no produce or fetch", n, parts)
	case CodeFollowerStalled:
		return fmt.Sprintf("%d %s with a replica stalled past the lag time", n, parts)
	case CodeFetchFailing:
		return fmt.Sprintf("%d %s whose follower cannot fetch", n, parts)
	case CodeAcksAllWaiting:
		return fmt.Sprintf("%d %s holding acks=all produces", n, parts)
	case CodeISRUninitialized:
		return fmt.Sprintf("%d %s with an empty ISR", n, parts)
	case CodeLeaderNotInISR:
		return fmt.Sprintf("%d %s whose leader is outside its ISR", n, parts)
	case CodeReplicaNotRunning:
		return fmt.Sprintf("%d %s with a replica not running", n, parts)
	case CodeRacksNotHonoured:
		return fmt.Sprintf("%d %s with two replicas in one rack while others are free", n, parts)
	case CodeLogCleanerBehind:
		return fmt.Sprintf("%d %s whose log cleaning is behind: their logs grow", n, parts)
	case CodeHangingTransaction:
		return fmt.Sprintf("%d %s with a hanging transaction: read_committed consumers are stuck at its start", n, parts)
	}
	return fmt.Sprintf("%d %s", n, code)
}

// effect is one line for a cause's findings of one code.
func (c *correlation) effect(code string, fs []api.Finding) string {
	switch code {
	case CodeBrokerFenced, CodeNodeUnreachable, CodeRaftFollowerBehind, CodeRaftNoLeader, CodeRaftStopped,
		CodeMetadataDiverged, CodeSlowFsync, CodeSecurityPlaintextListener, CodeSecurityOpenAccess, CodeCertExpiring,
		CodeLogCleanerStopped:
		if len(fs) == 1 {
			return fs[0].Message
		}
		return fmt.Sprintf("%d × %s; the first: %s", len(fs), code, fs[0].Message)
	}
	var names []string
	acks := 0
	for _, f := range fs {
		if f.Partition == nil {
			continue
		}
		name := tpName(f.Topic, *f.Partition)
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		if r, ok := c.rows[name]; ok && r.AcksAllWaiting > 0 {
			acks++
		}
	}
	line := effectText(code, len(names))
	if code == CodeAtMinISR && acks > 0 {
		line += fmt.Sprintf(", and acks=all producers are writing to %d of them", acks)
	}
	return line + " (" + strings.Join(names, ", ") + ")"
}

// CauseWhere names what a cause is about: its node, its nodes, its one
// partition, or the cluster.
func CauseWhere(c api.Cause) string {
	switch {
	case c.Node != nil:
		return "node " + strconv.Itoa(int(*c.Node))
	case len(c.Nodes) > 0:
		ids := make([]string, len(c.Nodes))
		for i, id := range c.Nodes {
			ids[i] = strconv.Itoa(int(id))
		}
		return "nodes " + strings.Join(ids, ",")
	case len(c.Partitions) == 1:
		return c.Partitions[0]
	case len(c.Partitions) > 1:
		return strconv.Itoa(len(c.Partitions)) + " partitions"
	}
	return "cluster"
}
