// Package diagnose is the pure diagnosis of a cluster from what its nodes'
// admin APIs answered: the merged partition table ([MergePartitions]), the
// rules that turn a view into findings ([Run]), and the reports built from
// them for `chronik isr describe`, `cluster status` and `doctor`. It reads
// only the api types; printing them is the caller's job.
package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// The diagnosis: the merged partition table every view of the cluster
// shares (`chronik isr describe`, the TUI) and the rules that turn a
// ClusterView into findings. Everything here is a pure function of the
// view, so each rule is tested with a table of snapshots.

// Finding codes; docs/admin-api.md describes each.
const (
	CodeNodeUnreachable    = "NODE_UNREACHABLE"
	CodeRaftNoLeader       = "RAFT_NO_LEADER"
	CodeRaftFollowerBehind = "RAFT_FOLLOWER_BEHIND"
	CodeRaftStopped        = "RAFT_STOPPED"
	CodeFetchFailing       = "FOLLOWER_FETCH_FAILING"
	CodeBrokerFenced       = "BROKER_FENCED"
	CodeNoLeader           = "NO_LEADER"
	CodeLeaderUnreachable  = "LEADER_UNREACHABLE"
	CodeISRUninitialized   = "ISR_UNINITIALIZED"
	CodeLeaderNotInISR     = "LEADER_NOT_IN_ISR"
	CodeUnderMinISR        = "UNDER_MIN_ISR"
	CodeAtMinISR           = "AT_MIN_ISR"
	CodeUnderReplicated    = "UNDER_REPLICATED"
	CodeFollowerStalled    = "FOLLOWER_STALLED"
	CodeReplicaNotRunning  = "REPLICA_NOT_RUNNING"
	CodeAcksAllWaiting     = "ACKS_ALL_WAITING"
	CodeMetadataDiverged   = "METADATA_DIVERGED"
	CodeSlowFsync          = "SLOW_FSYNC"
)

// Thresholds of the rules. They sit well above what a healthy cluster
// under load shows (sub-second contact, millisecond acks=all waits), so a
// finding means something an operator should look at.
const (
	// raftContactMaxSeconds: a voter the raft leader has not heard from
	// for longer is behind (the election timeout is about a second).
	raftContactMaxSeconds = 5.0
	// acksAllWaitMaxSeconds: an acks=all produce waiting longer is stuck
	// behind a slow ISR member rather than ordinary replication.
	acksAllWaitMaxSeconds = 1.0
	// fetchFailingMinSeconds: a follower whose fetches have failed (and
	// not succeeded since) for longer is stuck, not between two leaders.
	fetchFailingMinSeconds = 2.0
	// defaultLagTimeMaxSeconds stands in for a missing (zero)
	// replica.lag.time.max.ms, Kafka's default 30 s, so an unknown lag
	// time does not make every follower look stalled.
	defaultLagTimeMaxSeconds = 30.0
	// slowFsyncSeconds: a node whose recent fsync passes take this long
	// at the median has a slow disk. A healthy SSD fsyncs in well under
	// 10 ms and a spinning disk in 10-30 ms; at 100 ms every acks=all
	// produce waits several times its usual latency. The median (of
	// every log's last passes within 30 s, pooled) ignores the one
	// outlier a checkpoint or a neighbour's burst causes.
	slowFsyncSeconds = 0.1
	// slowFsyncCriticalSeconds: at this median a produce waits as long
	// as a client's default request timeout allows only a few times over,
	// and the node may drop out of ISRs; critical.
	slowFsyncCriticalSeconds = 0.5
	// slowFsyncMinPasses: fewer recent passes than this say nothing
	// about the disk, only about the few writes that happened.
	slowFsyncMinPasses = 3
)

// hosted is one node's PartitionInfo for a partition.
type hosted struct {
	node int32
	info api.PartitionInfo
}

// viewNodeID is the id of the node a view is about: its own /v1/node
// answer when there is one, else what the collector filled in.
func viewNodeID(v api.NodeView) int32 {
	if v.Node != nil {
		return v.Node.NodeID
	}
	return v.NodeID
}

// hostsByPartition gathers every answering node's PartitionInfo per
// partition, each list ordered by node id.
func hostsByPartition(v api.ClusterView) map[api.TopicPartition][]hosted {
	out := make(map[api.TopicPartition][]hosted)
	for _, n := range v.Nodes {
		if !n.Reachable() || n.Partitions == nil {
			continue
		}
		id := viewNodeID(n)
		for _, p := range n.Partitions.Partitions {
			tp := api.TopicPartition{Topic: p.Topic, Partition: p.Partition}
			out[tp] = append(out[tp], hosted{node: id, info: p})
		}
	}
	for tp := range out {
		slices.SortStableFunc(out[tp], func(a, b hosted) int { return cmp.Compare(a.node, b.node) })
	}
	return out
}

// unreachableNodes is the set of node ids (where known) that did not answer.
func unreachableNodes(v api.ClusterView) map[int32]bool {
	out := make(map[int32]bool)
	for _, n := range v.Nodes {
		if !n.Reachable() && n.NodeID >= 0 {
			out[n.NodeID] = true
		}
	}
	return out
}

// chooseView picks the PartitionInfo a row is built from. The leader's
// own answer wins when it is the current leader: it says leader, names
// itself, and no other node knows of a newer leader epoch (so a deposed
// leader that has not heard the news yet is not believed). Otherwise the
// newest metadata wins: the highest partition epoch, ties to the lowest
// node id. hs is ordered by node id and not empty.
func chooseView(hs []hosted) (hosted, bool) {
	maxLeaderEpoch := hs[0].info.LeaderEpoch
	for _, h := range hs[1:] {
		maxLeaderEpoch = max(maxLeaderEpoch, h.info.LeaderEpoch)
	}
	for _, h := range hs {
		if h.info.Role == api.ReplicaLeader && h.info.Leader == h.node && h.info.LeaderEpoch == maxLeaderEpoch {
			return h, true
		}
	}
	best := hs[0]
	for _, h := range hs[1:] {
		if h.info.PartitionEpoch > best.info.PartitionEpoch {
			best = h
		}
	}
	return best, false
}

// lagTimeMax is the row's lag time, or Kafka's default when unknown.
func lagTimeMax(seconds float64) float64 {
	if seconds <= 0 {
		return defaultLagTimeMaxSeconds
	}
	return seconds
}

// replicaStalled reports whether the leader says the replica has not been
// caught up for longer than the lag time; nil (never caught up) is stalled.
func replicaStalled(rs api.ReplicaState, lagMaxSeconds float64) bool {
	return rs.LastCaughtUpSeconds == nil || *rs.LastCaughtUpSeconds > lagTimeMax(lagMaxSeconds)
}

// fencedBrokers are the brokers fenced in the controller's broker list
// (or, when the controller did not answer, in any answering node's).
func fencedBrokers(v api.ClusterView) map[int32]bool {
	out := map[int32]bool{}
	if list := v.BrokerList(); list != nil {
		for _, b := range list.Brokers {
			if b.Fenced {
				out[b.ID] = true
			}
		}
	}
	return out
}

// MergePartitions is the cluster's partition table: one row per partition
// any answering node hosts, sorted by topic then partition.
//
// A row uses the leader's own PartitionInfo when the current leader
// answered; otherwise the answer with the highest partition epoch (ties:
// the lowest node id), and then HighWatermark and LogEndOffset are -1 and
// there are no replica states, since only the leader knows them.
// Stalled lists the replicas the leader reports not caught up for longer
// than the lag time (never caught up counts as stalled), except those on
// fenced brokers; Unreachable the replicas whose node did not answer.
func MergePartitions(v api.ClusterView) []api.PartitionRow {
	hosts := hostsByPartition(v)
	down := unreachableNodes(v)
	fenced := fencedBrokers(v)
	rows := make([]api.PartitionRow, 0, len(hosts))
	for _, hs := range hosts {
		src, fromLeader := chooseView(hs)
		p := src.info
		row := api.PartitionRow{
			Topic:             p.Topic,
			Partition:         p.Partition,
			Leader:            p.Leader,
			LeaderEpoch:       p.LeaderEpoch,
			PartitionEpoch:    p.PartitionEpoch,
			Replicas:          slices.Clone(p.Replicas),
			ISR:               slices.Clone(p.ISR),
			AddingReplicas:    slices.Clone(p.AddingReplicas),
			RemovingReplicas:  slices.Clone(p.RemovingReplicas),
			MinISR:            p.MinISR,
			HighWatermark:     -1,
			LogEndOffset:      -1,
			Source:            src.node,
			LagTimeMaxSeconds: p.LagTimeMaxSeconds,
			Cleaner:           p.Cleaner,
		}
		if fromLeader {
			row.HighWatermark = p.HighWatermark
			row.LogEndOffset = p.LogEndOffset
			row.AcksAllWaiting = p.AcksAllWaiting
			row.AcksAllOldestWaitSeconds = p.AcksAllOldestWaitSeconds
			row.LastStableOffset = p.LastStableOffset
			row.OngoingTransactions = p.OngoingTransactions
			for _, rs := range p.Followers {
				if rs.ID == p.Leader {
					continue
				}
				row.ReplicaStates = append(row.ReplicaStates, rs)
				row.MaxLag = max(row.MaxLag, rs.Lag)
				// A fenced broker is down, not stalled: its replicas left the
				// ISR with it, and UNDER_REPLICATED / BROKER_FENCED say so.
				if replicaStalled(rs, p.LagTimeMaxSeconds) && !fenced[rs.ID] {
					row.Stalled = append(row.Stalled, rs.ID)
				}
			}
		}
		for _, r := range row.Replicas {
			if down[r] {
				row.Unreachable = append(row.Unreachable, r)
			}
		}
		row.Status = PartitionStatus(row)
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b api.PartitionRow) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return rows
}

// PartitionStatus is the most severe status that applies to the row, in
// the order of the Status* constants.
func PartitionStatus(r api.PartitionRow) string {
	switch {
	case r.Leader == -1:
		return api.StatusOffline
	case slices.Contains(r.Unreachable, r.Leader):
		// Checked before the ISR rules: without the leader's answer the
		// row's ISR is only metadata, and nothing about it is known to be OK.
		return api.StatusLeaderUnreachable
	case len(r.ISR) == 0 || !slices.Contains(r.ISR, r.Leader):
		return api.StatusISRUninitialized
	case r.UnderMinISR():
		return api.StatusUnderMinISR
	case len(r.Stalled) > 0:
		return api.StatusStalled
	case atMinISR(r):
		return api.StatusAtMinISR
	case r.UnderReplicated():
		return api.StatusUnderReplicated
	default:
		return api.StatusOK
	}
}

// diagInput is what every rule reads: the raw view plus what is derived
// from it once.
type diagInput struct {
	view  api.ClusterView
	rows  []api.PartitionRow
	hosts map[api.TopicPartition][]hosted
}

func newDiagInput(v api.ClusterView) diagInput {
	return diagInput{view: v, rows: MergePartitions(v), hosts: hostsByPartition(v)}
}

// rule turns the input into the findings of one code.
type rule func(diagInput) []api.Finding

// allRules lists every rule; a function rather than a variable so there
// is no package-level mutable state.
func allRules() []rule {
	return []rule{
		ruleNodeUnreachable,
		ruleRaftNoLeader,
		ruleRaftFollowerBehind,
		ruleMetadataVotersBelowTarget,
		ruleRaftLearnerBehind,
		ruleRaftStopped,
		ruleBrokerFenced,
		ruleNoLeader,
		ruleLeaderUnreachable,
		ruleISRUninitialized,
		ruleLeaderNotInISR,
		ruleUnderMinISR,
		ruleAtMinISR,
		ruleUnderReplicated,
		ruleFollowerStalled,
		ruleReassignmentStalled,
		ruleFetchFailing,
		ruleReplicaNotRunning,
		ruleAcksAllWaiting,
		ruleMetadataDiverged,
		ruleSlowFsync,
		ruleSecurityPlaintextListener,
		ruleSecurityOpenAccess,
		ruleCertExpiring,
		ruleRacksNotHonoured,
		ruleLogCleanerStopped,
		ruleLogCleanerBehind,
		ruleHangingTransaction,
	}
}

// Run evaluates every rule on the view. Findings are sorted by
// severity (critical first), then code, topic, partition and node; the
// slice is empty, not nil, when all is well so it encodes as [].
func Run(v api.ClusterView) []api.Finding {
	in := newDiagInput(v)
	out := []api.Finding{}
	for _, r := range allRules() {
		out = append(out, r(in)...)
	}
	sortFindings(out)
	return out
}

// severityRank orders severities most severe first.
func severityRank(s string) int {
	switch s {
	case api.SeverityCritical:
		return 0
	case api.SeverityWarning:
		return 1
	case api.SeverityInfo:
		return 2
	default:
		return 3
	}
}

// compareOptID orders absent before present, then by value.
func compareOptID(a, b *int32) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	default:
		return cmp.Compare(*a, *b)
	}
}

func sortFindings(fs []api.Finding) {
	slices.SortStableFunc(fs, func(a, b api.Finding) int {
		return cmp.Or(
			cmp.Compare(severityRank(a.Severity), severityRank(b.Severity)),
			cmp.Compare(a.Code, b.Code),
			cmp.Compare(a.Topic, b.Topic),
			compareOptID(a.Partition, b.Partition),
			compareOptID(a.Node, b.Node),
			cmp.Compare(a.Message, b.Message), // keeps the order stable across runs
		)
	})
}

// WorstSeverity is the most severe severity among fs, "" when fs is empty.
func WorstSeverity(fs []api.Finding) string {
	worst := ""
	for _, f := range fs {
		if worst == "" || severityRank(f.Severity) < severityRank(worst) {
			worst = f.Severity
		}
	}
	return worst
}

// ExitCode is the CLI's exit status for fs: 0 when healthy (no findings or
// only info), 3 with a warning, 4 with a critical finding.
func ExitCode(fs []api.Finding) int {
	switch WorstSeverity(fs) {
	case api.SeverityCritical:
		return 4
	case api.SeverityWarning:
		return 3
	default:
		return 0
	}
}

// --- helpers shared by the rules ---

func ptr32(v int32) *int32 { return &v }

// tpName is how findings name a partition, as Kafka tools do.
func tpName(topic string, partition int32) string {
	return topic + "-" + strconv.FormatInt(int64(partition), 10)
}

// oneLine keeps text from elsewhere (an error) from breaking a finding's
// one-line message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// optValue is a *float64 as an evidence value: nil stays null (never).
func optValue(s *float64) any {
	if s == nil {
		return nil
	}
	return *s
}

// sortedIDs sorts and de-duplicates ids in place.
func sortedIDs(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// missingFrom lists the members of all that are not in sub, in order.
func missingFrom(all, sub []int32) []int32 {
	var out []int32
	for _, id := range all {
		if !slices.Contains(sub, id) {
			out = append(out, id)
		}
	}
	return out
}

// metaRow is a node's own PartitionInfo reduced to the metadata a status
// predicate looks at, so SeenBy can ask each node's view the same question.
func metaRow(p api.PartitionInfo) api.PartitionRow {
	return api.PartitionRow{Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR, MinISR: p.MinISR}
}

// partitionFinding starts a finding about row r, seen by every answering
// node whose own metadata satisfies pred (always including the row's source).
func partitionFinding(in diagInput, code, severity string, r api.PartitionRow, pred func(api.PartitionRow) bool) api.Finding {
	seen := []int32{r.Source}
	for _, h := range in.hosts[api.TopicPartition{Topic: r.Topic, Partition: r.Partition}] {
		if pred(metaRow(h.info)) {
			seen = append(seen, h.node)
		}
	}
	return api.Finding{
		Code:      code,
		Severity:  severity,
		Topic:     r.Topic,
		Partition: ptr32(r.Partition),
		SeenBy:    sortedIDs(seen),
	}
}

// isrEvidence is the evidence every ISR-size finding carries.
func isrEvidence(r api.PartitionRow) map[string]any {
	return map[string]any{
		"leader":          r.Leader,
		"leader_epoch":    r.LeaderEpoch,
		"partition_epoch": r.PartitionEpoch,
		"replicas":        r.Replicas,
		"isr":             r.ISR,
		"isr_size":        len(r.ISR),
		"replica_count":   len(r.Replicas),
		"min_isr":         r.MinISR,
		"out_of_isr":      missingFrom(r.Replicas, r.ISR),
	}
}

// describeHint is the command that shows a topic's replicas in detail.
func describeHint(topic string) string {
	return fmt.Sprintf("`chronik isr describe %s -v`", topic)
}

// --- node and quorum rules ---

// ruleNodeUnreachable: a node whose admin API did not answer.
func ruleNodeUnreachable(in diagInput) []api.Finding {
	var out []api.Finding
	for _, n := range in.view.Nodes {
		// A pending node has not had its time yet (a partial view).
		if n.Reachable() || n.Pending {
			continue
		}
		f := api.Finding{
			Code:     CodeNodeUnreachable,
			Severity: api.SeverityWarning,
			Evidence: map[string]any{"admin": n.Admin, "error": n.Error},
		}
		reason := oneLine(n.Error)
		who := "node at " + n.Admin
		if n.NodeID >= 0 {
			f.Node = ptr32(n.NodeID)
			who = fmt.Sprintf("node %d (%s)", n.NodeID, n.Admin)
		}
		f.Message = fmt.Sprintf("%s did not answer: %s", who, reason)
		f.NextStep = fmt.Sprintf("check that %s runs and its admin listener is reachable from here (`curl %s/healthz`)", who, n.Admin)
		out = append(out, f)
	}
	return out
}

// ruleRaftNoLeader: every answering node says it knows no raft leader, so
// no metadata change (ISR, leader, topic) can commit.
func ruleRaftNoLeader(in diagInput) []api.Finding {
	var seen []int32
	terms := map[string]any{}
	roles := map[string]any{}
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Raft == nil {
			continue
		}
		if n.Raft.LeaderID != 0 {
			return nil
		}
		id := viewNodeID(n)
		seen = append(seen, id)
		key := strconv.FormatInt(int64(id), 10)
		terms[key] = n.Raft.Term
		roles[key] = n.Raft.Role
	}
	if len(seen) == 0 {
		return nil // nobody answered about raft: NODE_UNREACHABLE says why
	}
	seen = sortedIDs(seen)
	return []api.Finding{{
		Code:     CodeRaftNoLeader,
		Severity: api.SeverityCritical,
		Message:  fmt.Sprintf("no raft leader: none of the %d answering nodes %v knows one; metadata changes cannot commit", len(seen), seen),
		Evidence: map[string]any{"nodes_answering": len(seen), "terms": terms, "roles": roles},
		NextStep: "start the missing voters so a majority is up; `chronik raft status` shows each node's term and role",
		SeenBy:   seen,
	}}
}

// raftLeaderView is the answering node that says it leads raft, the one
// with the highest term if several do (a deposed leader may not know yet).
func raftLeaderView(v api.ClusterView) (api.NodeView, bool) {
	var best api.NodeView
	found := false
	for _, n := range v.Nodes {
		if !n.Reachable() || n.Raft == nil || n.Raft.Role != api.RoleLeader {
			continue
		}
		if !found || n.Raft.Term > best.Raft.Term {
			best, found = n, true
		}
	}
	return best, found
}

// ruleRaftFollowerBehind: the raft leader has not heard from a voter
// recently; one more loss may cost the quorum.
func ruleRaftFollowerBehind(in diagInput) []api.Finding {
	lv, ok := raftLeaderView(in.view)
	if !ok {
		return nil
	}
	leader := lv.Raft
	var out []api.Finding
	for _, p := range leader.Peers {
		if p.ID == leader.NodeID || p.Member == api.MemberLearner { // learners: ruleRaftLearnerBehind
			continue
		}
		quiet := p.LastContactSeconds == nil || *p.LastContactSeconds > raftContactMaxSeconds
		behind := uint64(0)
		if leader.Commit > p.Match {
			behind = leader.Commit - p.Match
		}
		// raft resets recent_active at every election and quorum check, so
		// a voter heard just now and holding everything committed is fine
		// whatever the flag says at that instant.
		if !quiet && (p.RecentActive || behind == 0) {
			continue
		}
		ev := map[string]any{
			"match":                p.Match,
			"leader_commit":        leader.Commit,
			"entries_behind":       behind,
			"state":                p.State,
			"recent_active":        p.RecentActive,
			"connected":            p.Connected,
			"last_contact_seconds": optValue(p.LastContactSeconds),
		}
		if p.LastError != "" {
			ev["last_error"] = p.LastError
		}
		heard := "never heard from it"
		if p.LastContactSeconds != nil {
			heard = fmt.Sprintf("last heard from it %.1fs ago", *p.LastContactSeconds)
		}
		out = append(out, api.Finding{
			Code:     CodeRaftFollowerBehind,
			Severity: api.SeverityWarning,
			Node:     ptr32(int32(p.ID)),
			Message: fmt.Sprintf("raft voter %d: leader %d %s, %d entries behind (match %d, commit %d)",
				p.ID, leader.NodeID, heard, behind, p.Match, leader.Commit),
			Evidence: ev,
			NextStep: fmt.Sprintf("check that node %d runs and reaches node %d's cluster port; `chronik raft status` shows its progress", p.ID, leader.NodeID),
			SeenBy:   []int32{viewNodeID(lv)},
		})
	}
	return out
}

// ruleRaftStopped: a node stopped taking part in the metadata quorum
// (it could not persist raft entries, e.g. a full disk); the quorum has
// one voter fewer and the node's metadata no longer moves.
func ruleRaftStopped(in diagInput) []api.Finding {
	var out []api.Finding
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Raft == nil || n.Raft.Role != api.RoleStopped {
			continue
		}
		id := viewNodeID(n)
		out = append(out, api.Finding{
			Code:     CodeRaftStopped,
			Severity: api.SeverityCritical,
			Node:     ptr32(id),
			Message:  fmt.Sprintf("node %d stopped as a raft voter at applied index %d: %s", id, n.Raft.Applied, oneLine(n.Raft.Error)),
			Evidence: map[string]any{"error": n.Raft.Error, "term": n.Raft.Term, "applied": n.Raft.Applied, "voters": n.Raft.Voters},
			NextStep: fmt.Sprintf("fix what the error names on node %d (disk space, permissions), then restart it", id),
			SeenBy:   []int32{id},
		})
	}
	return out
}

// ruleBrokerFenced: the controller fenced a broker, so it is out of every
// ISR and leads nothing. A broker that fenced itself by a clean shutdown
// is only info. The controller's answer is authoritative; without it,
// every answering node's replicated broker list is asked.
func ruleBrokerFenced(in diagInput) []api.Finding {
	var views []api.NodeView
	for _, n := range in.view.Nodes {
		if n.Reachable() && n.Brokers != nil && n.Brokers.Controller {
			views = []api.NodeView{n}
			break
		}
		if n.Reachable() && n.Brokers != nil {
			views = append(views, n)
		}
	}
	type fenced struct {
		info api.BrokerInfo
		ctl  int32
		seen []int32
	}
	byID := map[int32]*fenced{}
	for _, n := range views {
		for _, b := range n.Brokers.Brokers {
			if !b.Fenced {
				continue
			}
			f, ok := byID[b.ID]
			if !ok {
				f = &fenced{info: b, ctl: n.Brokers.ControllerID}
				byID[b.ID] = f
			}
			f.seen = append(f.seen, viewNodeID(n))
		}
	}
	var out []api.Finding
	for id, f := range byID {
		b := f.info
		ev := map[string]any{
			"fenced":                 true,
			"shut_down":              b.ShutDown,
			"controller_id":          f.ctl,
			"last_heartbeat_seconds": optValue(b.LastHeartbeatSeconds),
		}
		fd := api.Finding{
			Code:     CodeBrokerFenced,
			Severity: api.SeverityWarning,
			Node:     ptr32(id),
			Evidence: ev,
			SeenBy:   sortedIDs(f.seen),
		}
		if b.ShutDown {
			fd.Severity = api.SeverityInfo
			fd.Message = fmt.Sprintf("broker %d is fenced after a controlled shutdown; its replicas are out of every ISR", id)
			fd.NextStep = fmt.Sprintf("start node %d again when it should serve; it rejoins the ISRs once caught up", id)
		} else {
			hb := ""
			if b.LastHeartbeatSeconds != nil {
				hb = fmt.Sprintf(", last heartbeat %.1fs ago", *b.LastHeartbeatSeconds)
			}
			fd.Message = fmt.Sprintf("broker %d is fenced by controller %d%s: it is out of every ISR and leads nothing", id, f.ctl, hb)
			fd.NextStep = fmt.Sprintf("check that node %d runs and reaches the controller; it is unfenced on its next heartbeat", id)
		}
		out = append(out, fd)
	}
	return out
}

// --- partition metadata rules ---

// ruleNoLeader: a partition without a leader serves neither produce nor fetch.
func ruleNoLeader(in diagInput) []api.Finding {
	pred := func(r api.PartitionRow) bool { return r.Leader == -1 }
	var out []api.Finding
	for _, r := range in.rows {
		if !pred(r) {
			continue
		}
		f := partitionFinding(in, CodeNoLeader, api.SeverityCritical, r, pred)
		f.Message = fmt.Sprintf("%s has no leader (replicas %v, isr %v, leader epoch %d)", tpName(r.Topic, r.Partition), r.Replicas, r.ISR, r.LeaderEpoch)
		f.Evidence = isrEvidence(r)
		f.NextStep = fmt.Sprintf("start one of its ISR replicas %v; only they can lead without losing acknowledged data", r.ISR)
		out = append(out, f)
	}
	return out
}

// ruleLeaderUnreachable: the partition's leader is on a node that did not
// answer. Critical: its clients most likely wait too (a silent node serves
// no one) until the controller fences the node and elects another leader,
// and until then nothing about the partition is known.
func ruleLeaderUnreachable(in diagInput) []api.Finding {
	pending := map[int32]bool{}
	for _, n := range in.view.Nodes {
		if n.Pending && n.NodeID >= 0 {
			pending[n.NodeID] = true
		}
	}
	// A leader still pending in a partial view is unknown, not silent: the
	// row says LEADER_UNREACHABLE, but there is no finding yet.
	pred := func(r api.PartitionRow) bool {
		return r.Leader >= 0 && slices.Contains(r.Unreachable, r.Leader) && !pending[r.Leader]
	}
	var out []api.Finding
	for _, r := range in.rows {
		if !pred(r) {
			continue
		}
		f := api.Finding{
			Code:      CodeLeaderUnreachable,
			Severity:  api.SeverityCritical,
			Topic:     r.Topic,
			Partition: ptr32(r.Partition),
			Node:      ptr32(r.Leader),
			// Only the row's source can say so: the others' metadata names
			// the same leader, but whether it answered is this gather's fact.
			SeenBy: []int32{r.Source},
		}
		f.Message = fmt.Sprintf("%s: its leader, node %d, did not answer; its high watermark and follower lag are unknown and its clients likely wait until another replica leads",
			tpName(r.Topic, r.Partition), r.Leader)
		f.Evidence = isrEvidence(r)
		f.Evidence["metadata_from"] = r.Source
		f.NextStep = fmt.Sprintf("check that node %d runs and answers; the controller moves leadership to one of ISR %v once it fences the node", r.Leader, missingFrom(r.ISR, []int32{r.Leader}))
		out = append(out, f)
	}
	return out
}

// ruleISRUninitialized: an empty ISR, which creation never produces by
// design; acks=all cannot complete.
func ruleISRUninitialized(in diagInput) []api.Finding {
	pred := func(r api.PartitionRow) bool { return len(r.ISR) == 0 }
	var out []api.Finding
	for _, r := range in.rows {
		if !pred(r) {
			continue
		}
		f := partitionFinding(in, CodeISRUninitialized, api.SeverityCritical, r, pred)
		f.Message = fmt.Sprintf("%s has an empty ISR (replicas %v, leader %d, partition epoch %d)", tpName(r.Topic, r.Partition), r.Replicas, r.Leader, r.PartitionEpoch)
		f.Evidence = isrEvidence(r)
		f.NextStep = fmt.Sprintf("report this with `chronik raft status` and %s output: an ISR must never be empty", describeHint(r.Topic))
		out = append(out, f)
	}
	return out
}

// ruleLeaderNotInISR: the leader is not a member of its own ISR.
func ruleLeaderNotInISR(in diagInput) []api.Finding {
	pred := func(r api.PartitionRow) bool {
		return r.Leader != -1 && len(r.ISR) > 0 && !slices.Contains(r.ISR, r.Leader)
	}
	var out []api.Finding
	for _, r := range in.rows {
		if !pred(r) {
			continue
		}
		f := partitionFinding(in, CodeLeaderNotInISR, api.SeverityCritical, r, pred)
		f.Message = fmt.Sprintf("%s: leader %d is not in its ISR %v (partition epoch %d)", tpName(r.Topic, r.Partition), r.Leader, r.ISR, r.PartitionEpoch)
		f.Evidence = isrEvidence(r)
		f.NextStep = fmt.Sprintf("elect a leader from the ISR (POST /v1/elect-leaders for %s) and report this with %s output", tpName(r.Topic, r.Partition), describeHint(r.Topic))
		out = append(out, f)
	}
	return out
}

func underMinISR(r api.PartitionRow) bool { return r.UnderMinISR() }

// atMinISR is a warning only once a replica was lost: a partition whose
// replication factor equals min.insync.replicas is at min while healthy.
func atMinISR(r api.PartitionRow) bool { return r.AtMinISR() && r.UnderReplicated() }

// ruleUnderMinISR: fewer in-sync replicas than min.insync.replicas, so
// every acks=all produce is refused with NOT_ENOUGH_REPLICAS.
func ruleUnderMinISR(in diagInput) []api.Finding {
	var out []api.Finding
	for _, r := range in.rows {
		if !underMinISR(r) {
			continue
		}
		f := partitionFinding(in, CodeUnderMinISR, api.SeverityCritical, r, underMinISR)
		out1 := missingFrom(r.Replicas, r.ISR)
		f.Message = fmt.Sprintf("%s: ISR %v has %d of min.insync.replicas %d; acks=all produces are refused", tpName(r.Topic, r.Partition), r.ISR, len(r.ISR), r.MinISR)
		f.Evidence = isrEvidence(r)
		f.NextStep = fmt.Sprintf("bring replicas %v back in sync; %s shows why they left", out1, describeHint(r.Topic))
		out = append(out, f)
	}
	return out
}

// ruleAtMinISR: exactly min.insync.replicas in sync, so one more loss
// refuses acks=all.
func ruleAtMinISR(in diagInput) []api.Finding {
	var out []api.Finding
	for _, r := range in.rows {
		if underMinISR(r) || !atMinISR(r) {
			continue
		}
		f := partitionFinding(in, CodeAtMinISR, api.SeverityWarning, r, atMinISR)
		f.Message = fmt.Sprintf("%s: ISR %v is at min.insync.replicas %d of %d replicas; one more loss refuses acks=all", tpName(r.Topic, r.Partition), r.ISR, r.MinISR, len(r.Replicas))
		f.Evidence = isrEvidence(r)
		f.NextStep = fmt.Sprintf("bring replicas %v back in sync; %s shows their lag", missingFrom(r.Replicas, r.ISR), describeHint(r.Topic))
		out = append(out, f)
	}
	return out
}

// ruleUnderReplicated: replicas out of the ISR while acks=all is not yet
// at risk; UNDER_MIN_ISR and AT_MIN_ISR already say it when they apply.
func ruleUnderReplicated(in diagInput) []api.Finding {
	pred := api.PartitionRow.UnderReplicated
	var out []api.Finding
	for _, r := range in.rows {
		if !pred(r) || underMinISR(r) || atMinISR(r) {
			continue
		}
		f := partitionFinding(in, CodeUnderReplicated, api.SeverityWarning, r, pred)
		f.Message = fmt.Sprintf("%s: ISR %v has %d of %d replicas (min.insync.replicas %d)", tpName(r.Topic, r.Partition), r.ISR, len(r.ISR), len(r.Replicas), r.MinISR)
		f.Evidence = isrEvidence(r)
		f.NextStep = fmt.Sprintf("bring replicas %v back in sync; %s shows their lag", missingFrom(r.Replicas, r.ISR), describeHint(r.Topic))
		out = append(out, f)
	}
	return out
}

// --- replication rules ---

// ruleFollowerStalled: the leader reports a replica not caught up for
// longer than the lag time; one finding per stalled replica.
func ruleFollowerStalled(in diagInput) []api.Finding {
	var out []api.Finding
	for _, r := range in.rows {
		for _, id := range r.Stalled {
			i := slices.IndexFunc(r.ReplicaStates, func(rs api.ReplicaState) bool { return rs.ID == id })
			if i < 0 {
				continue // Stalled comes from ReplicaStates, so this does not happen
			}
			rs := r.ReplicaStates[i]
			lagMax := lagTimeMax(r.LagTimeMaxSeconds)
			caughtUp := "never caught up with this leader"
			if rs.LastCaughtUpSeconds != nil {
				caughtUp = fmt.Sprintf("not caught up for %.1fs", *rs.LastCaughtUpSeconds)
			}
			step := fmt.Sprintf("check node %d's log and disk; %s shows its lag", id, describeHint(r.Topic))
			if slices.Contains(r.Unreachable, id) {
				step = fmt.Sprintf("node %d did not answer: check that it runs; %s shows its lag", id, describeHint(r.Topic))
			}
			out = append(out, api.Finding{
				Code:      CodeFollowerStalled,
				Severity:  api.SeverityWarning,
				Topic:     r.Topic,
				Partition: ptr32(r.Partition),
				Node:      ptr32(id),
				Message: fmt.Sprintf("%s: replica %d %s (lag time %gs), %d offsets behind leader %d",
					tpName(r.Topic, r.Partition), id, caughtUp, lagMax, rs.Lag, r.Leader),
				Evidence: map[string]any{
					"lag":                    rs.Lag,
					"last_caught_up_seconds": optValue(rs.LastCaughtUpSeconds),
					"last_fetch_seconds":     optValue(rs.LastFetchSeconds),
					"lag_time_max_seconds":   lagMax,
					"in_isr":                 rs.InISR,
					"lagging":                rs.Lagging,
					"leader":                 r.Leader,
					"leader_log_end_offset":  r.LogEndOffset,
				},
				NextStep: step,
				SeenBy:   []int32{r.Source},
			})
		}
	}
	return out
}

// ruleFetchFailing: a follower reports that its fetches from the leader
// fail (the error is cleared by the next clean fetch) and none succeeded
// for fetchFailingMinSeconds: it cannot reach the leader, is refused, or
// cannot write what it fetched.
func ruleFetchFailing(in diagInput) []api.Finding {
	var out []api.Finding
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Partitions == nil {
			continue
		}
		id := viewNodeID(n)
		for _, p := range n.Partitions.Partitions {
			ft := p.Fetcher
			if p.Role != api.ReplicaFollower || ft == nil || ft.LastError == "" ||
				(ft.LastFetchSeconds != nil && *ft.LastFetchSeconds <= fetchFailingMinSeconds) ||
				leaderSawFetch(in, p, id) {
				continue
			}
			since := "has never fetched"
			if ft.LastFetchSeconds != nil {
				since = fmt.Sprintf("last fetched %.1fs ago", *ft.LastFetchSeconds)
			}
			out = append(out, api.Finding{
				Code:      CodeFetchFailing,
				Severity:  api.SeverityWarning,
				Topic:     p.Topic,
				Partition: ptr32(p.Partition),
				Node:      ptr32(id),
				Message: fmt.Sprintf("%s: replica %d's fetches from leader %d fail and it %s: %s",
					tpName(p.Topic, p.Partition), id, ft.Leader, since, oneLine(ft.LastError)),
				Evidence: map[string]any{"leader": ft.Leader, "last_error": ft.LastError,
					"last_fetch_seconds": optValue(ft.LastFetchSeconds), "fetcher_running": ft.Running},
				NextStep: fmt.Sprintf("fix what the error names: node %d's disk, or its route to node %d's cluster port", id, ft.Leader),
				SeenBy:   []int32{id},
			})
		}
	}
	return out
}

// leaderSawFetch reports whether the partition's leader says replica id
// fetched within fetchFailingMinSeconds: a follower's fetcher that was just
// restarted (a new leader or ISR) reports an error and no fetch yet, while
// the replica fetches fine.
func leaderSawFetch(in diagInput, p api.PartitionInfo, id int32) bool {
	for _, r := range in.rows {
		if r.Topic != p.Topic || r.Partition != p.Partition {
			continue
		}
		for _, rs := range r.ReplicaStates {
			if rs.ID == id && rs.LastFetchSeconds != nil && *rs.LastFetchSeconds <= fetchFailingMinSeconds {
				return true
			}
		}
	}
	return false
}

// ruleReplicaNotRunning: metadata says a node hosts a replica that does
// not run there. Reconcile's Missing list counts only once the reconciler
// has caught up; a PartitionInfo with running=false counts unless the
// node's reconciler says it is still catching up (then it is expected).
func ruleReplicaNotRunning(in diagInput) []api.Finding {
	type key struct {
		node int32
		tp   api.TopicPartition
	}
	done := map[key]bool{}
	var out []api.Finding
	add := func(n api.NodeView, tp api.TopicPartition, source string) {
		id := viewNodeID(n)
		k := key{id, tp}
		if done[k] {
			return
		}
		done[k] = true
		ev := map[string]any{"source": source}
		if n.Reconcile != nil {
			ev["expected"] = len(n.Reconcile.Expected)
			ev["running"] = len(n.Reconcile.Running)
			ev["missing"] = len(n.Reconcile.Missing)
			ev["reconcile_caught_up"] = n.Reconcile.CaughtUp
		}
		out = append(out, api.Finding{
			Code:      CodeReplicaNotRunning,
			Severity:  api.SeverityWarning,
			Topic:     tp.Topic,
			Partition: ptr32(tp.Partition),
			Node:      ptr32(id),
			Message:   fmt.Sprintf("node %d should host %s by metadata but the replica is not running there", id, tpName(tp.Topic, tp.Partition)),
			Evidence:  ev,
			NextStep:  fmt.Sprintf("check node %d's log for why it could not open %s (disk, permissions); GET /v1/reconcile on it lists what is missing", id, tpName(tp.Topic, tp.Partition)),
			SeenBy:    []int32{id},
		})
	}
	for _, n := range in.view.Nodes {
		if !n.Reachable() {
			continue
		}
		if n.Reconcile != nil && n.Reconcile.CaughtUp {
			for _, tp := range n.Reconcile.Missing {
				add(n, tp, "reconcile")
			}
		}
		if n.Partitions == nil || (n.Reconcile != nil && !n.Reconcile.CaughtUp) {
			continue
		}
		for _, p := range n.Partitions.Partitions {
			if !p.Running {
				add(n, api.TopicPartition{Topic: p.Topic, Partition: p.Partition}, "partitions")
			}
		}
	}
	return out
}

// ruleAcksAllWaiting: a leader holds acks=all produces for longer than
// replication should take, i.e. the high watermark is stuck behind a slow
// ISR member. Every leader's answer is checked, not only the row's source,
// since a deposed leader's waiters are stuck too.
func ruleAcksAllWaiting(in diagInput) []api.Finding {
	var out []api.Finding
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Partitions == nil {
			continue
		}
		id := viewNodeID(n)
		for _, p := range n.Partitions.Partitions {
			if p.Role != api.ReplicaLeader || p.AcksAllWaiting <= 0 || p.AcksAllOldestWaitSeconds <= acksAllWaitMaxSeconds {
				continue
			}
			ev := map[string]any{
				"acks_all_waiting":             p.AcksAllWaiting,
				"acks_all_oldest_wait_seconds": p.AcksAllOldestWaitSeconds,
				"high_watermark":               p.HighWatermark,
				"log_end_offset":               p.LogEndOffset,
				"isr":                          p.ISR,
			}
			// The slowest ISR member is what holds the high watermark back.
			slowest := int32(-1)
			var slowLag int64
			for _, rs := range p.Followers {
				if slices.Contains(p.ISR, rs.ID) && (slowest == -1 || rs.Lag > slowLag) {
					slowest, slowLag = rs.ID, rs.Lag
				}
			}
			step := fmt.Sprintf("the high watermark waits for every ISR replica; %s shows which one lags", describeHint(p.Topic))
			if slowest != -1 {
				ev["slowest_isr_replica"] = slowest
				ev["slowest_isr_lag"] = slowLag
				step = fmt.Sprintf("check ISR replica %d (lag %d): the high watermark waits for it; %s shows its state", slowest, slowLag, describeHint(p.Topic))
			}
			out = append(out, api.Finding{
				Code:      CodeAcksAllWaiting,
				Severity:  api.SeverityWarning,
				Topic:     p.Topic,
				Partition: ptr32(p.Partition),
				Node:      ptr32(id),
				Message: fmt.Sprintf("%s: leader %d holds %d acks=all produces, oldest waiting %.1fs (high watermark %d, log end %d)",
					tpName(p.Topic, p.Partition), id, p.AcksAllWaiting, p.AcksAllOldestWaitSeconds, p.HighWatermark, p.LogEndOffset),
				Evidence: ev,
				NextStep: step,
				SeenBy:   []int32{id},
			})
		}
	}
	return out
}

// ruleMetadataDiverged: two nodes that applied the same raft index must
// hold the same metadata; a different partition epoch or leader for the
// same partition means the state machines diverged.
func ruleMetadataDiverged(in diagInput) []api.Finding {
	applied := map[int32]uint64{}
	for _, n := range in.view.Nodes {
		if n.Reachable() && n.Raft != nil {
			applied[viewNodeID(n)] = n.Raft.Applied
		}
	}
	var out []api.Finding
	for tp, hs := range in.hosts {
		groups := map[uint64][]hosted{}
		for _, h := range hs {
			if idx, ok := applied[h.node]; ok {
				groups[idx] = append(groups[idx], h)
			}
		}
		for idx, g := range groups {
			if len(g) < 2 {
				continue
			}
			diverged := false
			for _, h := range g[1:] {
				if h.info.PartitionEpoch != g[0].info.PartitionEpoch || h.info.Leader != g[0].info.Leader {
					diverged = true
				}
			}
			if !diverged {
				continue
			}
			epochs := map[string]any{}
			leaders := map[string]any{}
			var seen []int32
			desc := ""
			for _, h := range g {
				k := strconv.FormatInt(int64(h.node), 10)
				epochs[k] = h.info.PartitionEpoch
				leaders[k] = h.info.Leader
				seen = append(seen, h.node)
				if desc != "" {
					desc += ", "
				}
				desc += fmt.Sprintf("node %d: epoch %d leader %d", h.node, h.info.PartitionEpoch, h.info.Leader)
			}
			out = append(out, api.Finding{
				Code:      CodeMetadataDiverged,
				Severity:  api.SeverityWarning,
				Topic:     tp.Topic,
				Partition: ptr32(tp.Partition),
				Message:   fmt.Sprintf("%s: nodes at raft applied index %d disagree (%s)", tpName(tp.Topic, tp.Partition), idx, desc),
				Evidence:  map[string]any{"raft_applied_index": idx, "partition_epochs": epochs, "leaders": leaders},
				NextStep:  fmt.Sprintf("save /v1/raft and /v1/partitions from nodes %v and report it: equal applied indexes must mean equal metadata", seen),
				SeenBy:    seen,
			})
		}
	}
	return out
}

// ruleSlowFsync: a node's partition logs (or its raft store) fsync
// slowly. Nothing else shows it: a slow follower stays in the ISR (it
// keeps fetching) while every acks=all produce waits for its fsyncs, and a
// slow leader holds its followers back alike. Nodes that do not report
// fsync times (older versions) and nodes with too few recent writes are
// skipped; of the two measurements the slower one that counts is shown.
func ruleSlowFsync(in diagInput) []api.Finding {
	var out []api.Finding
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Node == nil {
			continue
		}
		var f *api.FsyncLatency
		what, unit, source := "", "", ""
		for _, m := range []struct {
			f                  *api.FsyncLatency
			what, unit, source string
		}{
			{n.Node.Fsync, "partition log fsyncs", "passes", "partition_logs"},
			{n.Node.RaftFsync, "raft store writes", "writes", "raft_store"},
		} {
			if m.f != nil && m.f.Passes >= slowFsyncMinPasses && m.f.MedianSeconds >= slowFsyncSeconds &&
				(f == nil || m.f.MedianSeconds > f.MedianSeconds) {
				f, what, unit, source = m.f, m.what, m.unit, m.source
			}
		}
		if f == nil {
			continue
		}
		id := viewNodeID(n)
		sev := api.SeverityWarning
		if f.MedianSeconds >= slowFsyncCriticalSeconds {
			sev = api.SeverityCritical
		}
		out = append(out, api.Finding{
			Code:     CodeSlowFsync,
			Severity: sev,
			Node:     ptr32(id),
			Message: fmt.Sprintf("node %d's disk is slow: its %s take %s (median of %d %s in the last %s, max %s)",
				id, what, seconds(f.MedianSeconds), f.Passes, unit, seconds(f.WindowSeconds), seconds(f.MaxSeconds)),
			Evidence: map[string]any{
				"fsync_source":         source,
				"fsync_median_seconds": f.MedianSeconds,
				"fsync_max_seconds":    f.MaxSeconds,
				"fsync_passes":         f.Passes,
				"window_seconds":       f.WindowSeconds,
			},
			NextStep: fmt.Sprintf("check node %d's data disk (`iostat -x`: await and %%util; a throttled or failing volume, a noisy neighbour): "+
				"every acks=all produce to a partition whose ISR holds it waits for its fsyncs", id),
			SeenBy: []int32{id},
		})
	}
	return out
}

// seconds prints a duration given in seconds, to the millisecond.
func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}
