package api

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// The types of the cluster endpoints: /v1/brokers, /v1/partitions,
// /v1/reconcile and /v1/findings, and the requests of the mutation
// endpoints. Durations are seconds as float64; a nil pointer means "never"
// or "not known here".

// Replica roles in [PartitionInfo.Role].
const (
	ReplicaLeader   = "leader"
	ReplicaFollower = "follower"
	// ReplicaOffline: metadata says this node hosts the replica but the
	// partition has no leader (-1).
	ReplicaOffline = "offline"
)

// Partition statuses, as `chronik isr describe` and the TUI show them,
// most severe first (Statuses lists them in that order).
const (
	StatusOffline = "OFFLINE" // no leader
	// StatusLeaderUnreachable: the leader's node did not answer, so no one
	// who owns the partition's numbers (HW, follower lag) spoke; nothing
	// about it is known to be OK.
	StatusLeaderUnreachable = "LEADER_UNREACHABLE"
	StatusISRUninitialized  = "ISR_UNINITIALIZED" // empty ISR, or the leader outside it
	StatusUnderMinISR       = "UNDER_MIN_ISR"     // |ISR| < min.insync.replicas: acks=all refused
	StatusStalled           = "STALLED"           // a replica has not caught up for longer than the lag time
	StatusAtMinISR          = "AT_MIN_ISR"        // |ISR| == min.insync.replicas < replicas: one more loss refuses acks=all
	StatusUnderReplicated   = "UNDER_REPLICATED"  // |ISR| < replicas
	StatusOK                = "OK"
)

// Statuses are the partition statuses, most severe first: the order of
// status sorting and of every count by status.
func Statuses() []string {
	return []string{StatusOffline, StatusLeaderUnreachable, StatusISRUninitialized, StatusUnderMinISR,
		StatusStalled, StatusAtMinISR, StatusUnderReplicated, StatusOK}
}

// StatusRank is a status's place in Statuses (0 is the most severe);
// unknown text ranks last.
func StatusRank(status string) int {
	if i := slices.Index(Statuses(), status); i >= 0 {
		return i
	}
	return len(Statuses())
}

// Finding severities, in increasing order.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// BrokerInfo is one registered broker as this node's replicated metadata
// (and, on the controller, its liveness tracking) sees it.
type BrokerInfo struct {
	ID          int32  `json:"id"`
	KafkaAddr   string `json:"kafka_addr"`
	ClusterAddr string `json:"cluster_addr"`
	AdminAddr   string `json:"admin_addr"`     // host:port of its admin API, for discovery
	Rack        string `json:"rack,omitempty"` // --rack (Kafka's broker.rack); empty: none
	Fenced      bool   `json:"fenced"`         // the controller fenced it: out of every ISR, leads nothing
	ShutDown    bool   `json:"shut_down"`      // fenced by its own controlled shutdown
	Controller  bool   `json:"controller"`
	// LastHeartbeatSeconds is how long ago the controller last heard from
	// the broker; only the controller knows (nil elsewhere, and for itself 0).
	LastHeartbeatSeconds *float64 `json:"last_heartbeat_seconds"`
}

// Brokers is GET /v1/brokers: every registered broker, sorted by id.
type Brokers struct {
	ControllerID int32 `json:"controller_id"` // NoController (-1) when none is known
	// Controller reports whether the answering node is the controller, so
	// its heartbeat ages are the authoritative ones.
	Controller bool         `json:"controller"`
	Brokers    []BrokerInfo `json:"brokers"`
}

// ReplicaState is a leader's view of one replica of its partition.
type ReplicaState struct {
	ID           int32 `json:"id"`
	LogEndOffset int64 `json:"log_end_offset"`
	// Lag is the leader's log end minus this replica's, in offsets.
	Lag   int64 `json:"lag"`
	InISR bool  `json:"in_isr"`
	// Lagging: the leader found it out of sync and asked to remove it; it
	// no longer counts for min.insync.replicas.
	Lagging bool `json:"lagging"`
	// Adding: a reassignment adds this replica (it is copying the log).
	// BytesLeft estimates what it has yet to copy (its lag times the
	// leader's average bytes per offset), CopyBytesPerSecond its recent
	// copy rate, and LastAdvanceSeconds how long ago its log end last moved
	// forward. Set for adding replicas only.
	Adding             bool     `json:"adding,omitempty"`
	BytesLeft          *int64   `json:"bytes_left,omitempty"`
	CopyBytesPerSecond *float64 `json:"copy_bytes_per_second,omitempty"`
	LastAdvanceSeconds *float64 `json:"last_advance_seconds,omitempty"`
	// LastCaughtUpSeconds is how long ago the replica last had everything
	// the leader had; LastFetchSeconds how long ago it last fetched.
	LastCaughtUpSeconds *float64 `json:"last_caught_up_seconds"`
	LastFetchSeconds    *float64 `json:"last_fetch_seconds"`
}

// FetcherState is a follower's fetch loop to its partition's leader.
type FetcherState struct {
	Leader           int32    `json:"leader"`
	Running          bool     `json:"running"`            // a fetch loop to the leader exists
	LastFetchSeconds *float64 `json:"last_fetch_seconds"` // last answered fetch
	LastError        string   `json:"last_error,omitempty"`
}

// PartitionInfo is one partition replica hosted by the answering node:
// metadata (leader, epochs, replicas, ISR) as this node has applied it, and
// the replica's own log positions. GET /v1/partitions lists them.
type PartitionInfo struct {
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	Role           string  `json:"role"` // one of the Replica* constants
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	// AddingReplicas and RemovingReplicas are set while the partition is
	// being reassigned (Replicas is then the target followed by the
	// removing replicas).
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
	// MinISR is the effective min.insync.replicas (capped at the
	// replication factor); LagTimeMaxSeconds the topic's replica.lag.time.max.ms.
	MinISR            int     `json:"min_isr"`
	LagTimeMaxSeconds float64 `json:"lag_time_max_seconds"`
	// Running reports whether a replica runs here; false means metadata
	// says this node hosts it but the replica is not open (see /v1/reconcile).
	Running        bool  `json:"running"`
	LogStartOffset int64 `json:"log_start_offset"`
	LogEndOffset   int64 `json:"log_end_offset"`
	HighWatermark  int64 `json:"high_watermark"`
	// On the leader: every other replica, in assignment order, and the
	// acks=all produces waiting for the high watermark.
	Followers                []ReplicaState `json:"followers,omitempty"`
	AcksAllWaiting           int            `json:"acks_all_waiting"`
	AcksAllOldestWaitSeconds float64        `json:"acks_all_oldest_wait_seconds"`
	// On a follower: its fetch loop to the leader.
	Fetcher *FetcherState `json:"fetcher,omitempty"`
	// Cleaner is this replica's log cleaning; only for a running replica
	// of a compacted topic (cleanup.policy compact or compact,delete).
	Cleaner *PartitionCleaner `json:"cleaner,omitempty"`
	// LastStableOffset is the replica's last stable offset: below it every
	// transaction has ended (read_committed consumers read up to it); nil
	// when the replica does not run here or the node is too old to say.
	LastStableOffset *int64 `json:"last_stable_offset,omitempty"`
	// OngoingTransactions are the transactions open on this replica,
	// oldest first (txn_types.go).
	OngoingTransactions []OngoingTransaction `json:"ongoing_transactions,omitempty"`
}

// Partitions is GET /v1/partitions (filters: ?topic=NAME, repeatable, and
// ?status=STATUS as computed from this node's view alone).
type Partitions struct {
	Partitions []PartitionInfo `json:"partitions"` // sorted by topic, then partition
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// Reconcile is GET /v1/reconcile: the replicas metadata says this node
// hosts against the replicas running here.
type Reconcile struct {
	Expected []TopicPartition `json:"expected"` // hosted here by metadata
	Running  []TopicPartition `json:"running"`
	Missing  []TopicPartition `json:"missing"` // expected, not running
	Extra    []TopicPartition `json:"extra"`   // running, not expected (deletion pending)
	CaughtUp bool             `json:"caught_up"`
}

// Finding is one diagnosis: what is wrong, where, the numbers that show it,
// and what to do next.
type Finding struct {
	Code     string `json:"code"`     // e.g. FOLLOWER_STALLED; see docs/admin-api.md
	Severity string `json:"severity"` // one of the Severity* constants
	// Where: a partition (Topic + Partition) and/or a node.
	Topic     string `json:"topic,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	Node      *int32 `json:"node,omitempty"`
	Message   string `json:"message"`
	// Evidence are the numbers behind the finding, named.
	Evidence map[string]any `json:"evidence,omitempty"`
	NextStep string         `json:"next_step"`
	// SeenBy are the nodes whose answers show it.
	SeenBy []int32 `json:"seen_by,omitempty"`
}

// Cause is one root cause the diagnosis found behind a group of findings
// (`chronik doctor` shows causes first, their findings under them): what
// happened, where, since when, what it does, and the one thing to do.
type Cause struct {
	Code     string `json:"code"`     // e.g. NODE_UNREACHABLE, RAFT_QUORUM_LOST; see docs/admin-api.md
	Severity string `json:"severity"` // one of the Severity* constants, by the risk of its effects
	// Node is the one node the cause is about; Nodes when it is about
	// several (a lost quorum's silent voters).
	Node  *int32  `json:"node,omitempty"`
	Nodes []int32 `json:"nodes,omitempty"`
	// Partitions are the partitions it affects, "topic-partition", sorted.
	Partitions []string `json:"partitions"`
	// Started is when it began as far as the answers tell (RFC3339), e.g.
	// the controller's last heartbeat from a silent node; absent when unknown.
	Started  string         `json:"started,omitempty"`
	Message  string         `json:"message"`
	Evidence map[string]any `json:"evidence,omitempty"`
	// Effects are one line per kind of grouped finding ("3 partitions at
	// min ISR: one more loss refuses acks=all").
	Effects  []string `json:"effects"`
	NextStep string   `json:"next_step"`
	// Findings are the indexes, in the report's findings[], of the findings
	// this cause explains. Every finding is under exactly one cause.
	Findings []int `json:"findings"`
}

// Findings is GET /v1/findings: the rules evaluated on this node's view.
type Findings struct {
	Findings []Finding `json:"findings"`
}

// CreateTopicRequest is the body of POST /v1/topics.
type CreateTopicRequest struct {
	Name              string            `json:"name"`
	Partitions        int32             `json:"partitions"`         // -1: the broker default
	ReplicationFactor int16             `json:"replication_factor"` // -1: the broker default
	Configs           map[string]string `json:"configs,omitempty"`
}

// TopicCreated answers POST /v1/topics.
type TopicCreated struct {
	Name       string          `json:"name"`
	ID         string          `json:"id"` // hex topic id
	Partitions []PartitionInfo `json:"partitions"`
}

// ElectLeadersRequest is the body of POST /v1/elect-leaders.
type ElectLeadersRequest struct {
	// Type is "preferred" (default) or "unclean".
	Type string `json:"type"`
	// Partitions to elect; empty means every partition.
	Partitions []TopicPartition `json:"partitions,omitempty"`
}

// ElectionResult is one partition's outcome in POST /v1/elect-leaders.
type ElectionResult struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Error is a Kafka error name (ELECTION_NOT_NEEDED, ...); empty on success.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// ElectLeadersResult answers POST /v1/elect-leaders.
type ElectLeadersResult struct {
	Results []ElectionResult `json:"results"`
}

// NodeView is everything one node answered, or why it did not: the input
// of the diagnosis rules and of the merged partition table.
type NodeView struct {
	Admin string `json:"admin"` // the admin base URL asked
	// NodeID is the node's id: from its answers, or from another node's
	// /v1/brokers when it did not answer; -1 when unknown.
	NodeID int32  `json:"node_id"`
	Error  string `json:"error,omitempty"` // why it did not answer (unreachable)
	// Pending: the node has not answered yet, in a partial view taken
	// while the others' answers arrive (Error says so). It counts as not
	// answering: nothing it owns is known.
	Pending    bool        `json:"pending,omitempty"`
	Node       *NodeInfo   `json:"node,omitempty"`
	Raft       *RaftStatus `json:"raft,omitempty"`
	Brokers    *Brokers    `json:"brokers,omitempty"`
	Partitions *Partitions `json:"partitions,omitempty"`
	Reconcile  *Reconcile  `json:"reconcile,omitempty"`
}

// Reachable reports whether the node answered.
func (v NodeView) Reachable() bool { return v.Error == "" }

// BrokerList is the controller's broker list when the controller answered,
// else the last list any node gave; nil when no node gave one. Only the
// controller's carries heartbeat ages.
func (c ClusterView) BrokerList() *Brokers {
	var list *Brokers
	for _, n := range c.Nodes {
		if n.Brokers != nil && (list == nil || n.Brokers.Controller) {
			list = n.Brokers
		}
	}
	return list
}

// CompareNodeIDs orders node ids ascending with unknown ids (< 0) last,
// for slices.SortStableFunc.
func CompareNodeIDs(a, b int32) int {
	switch {
	case a < 0 && b < 0:
		return 0
	case a < 0:
		return 1
	case b < 0:
		return -1
	}
	return int(a) - int(b)
}

// ClusterView is every node's answers, taken at about the same time.
type ClusterView struct {
	Nodes []NodeView `json:"nodes"`
	// Taken is when the asking started: the ages the nodes report ("last
	// heartbeat 14 s ago") are turned into times from it. Zero when unknown.
	Taken time.Time `json:"taken,omitzero"`
	// Partial: some nodes have not answered yet (Pending); a complete view
	// follows.
	Partial bool `json:"partial,omitempty"`
}

// PendingError is a pending node's Error in a partial view.
const PendingError = "no answer yet: waiting for it (partial snapshot)"

// PartitionRow is one partition as the cluster shows it: metadata and
// positions from the leader's own answer when the leader answered (Source
// says whose view it is), replica states from the leader, fetcher states
// from the followers. `chronik isr describe` prints these.
type PartitionRow struct {
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	MinISR         int     `json:"min_isr"`
	// AddingReplicas and RemovingReplicas: a reassignment in progress.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
	HighWatermark    int64   `json:"high_watermark"` // -1 when the leader did not answer
	LogEndOffset     int64   `json:"log_end_offset"` // the leader's; -1 when it did not answer
	// MaxLag is the largest follower lag in offsets the leader reports.
	MaxLag int64  `json:"max_lag"`
	Status string `json:"status"` // one of the Status* constants
	Source int32  `json:"source"` // the node whose metadata view this row uses
	// ReplicaStates are the leader's per-replica numbers (without the
	// leader itself), in assignment order.
	ReplicaStates []ReplicaState `json:"replica_states,omitempty"`
	// Stalled lists replicas not caught up for longer than the lag time.
	Stalled []int32 `json:"stalled,omitempty"`
	// Unreachable lists replicas whose node did not answer.
	Unreachable              []int32 `json:"unreachable,omitempty"`
	AcksAllWaiting           int     `json:"acks_all_waiting"`
	AcksAllOldestWaitSeconds float64 `json:"acks_all_oldest_wait_seconds"`
	LagTimeMaxSeconds        float64 `json:"lag_time_max_seconds"`
	// Cleaner is the log cleaning of the replica on the Source node, for
	// a compacted topic (every replica cleans its own log).
	Cleaner *PartitionCleaner `json:"cleaner,omitempty"`
	// LastStableOffset and OngoingTransactions are the leader's (nil and
	// empty when the leader did not answer).
	LastStableOffset    *int64               `json:"last_stable_offset,omitempty"`
	OngoingTransactions []OngoingTransaction `json:"ongoing_transactions,omitempty"`
}

// The ISR rules the CLI, the TUI and the findings share, written once.
// AtMinISR is Kafka's (kafka-topics --at-min-isr-partitions): it also holds
// for a healthy partition whose replication factor equals min.insync.replicas.

// UnderReplicated: some assigned replica is not in sync.
func (r PartitionRow) UnderReplicated() bool { return len(r.ISR) < len(r.Replicas) }

// UnderMinISR: too few in sync; acks=all produces are refused.
func (r PartitionRow) UnderMinISR() bool { return len(r.ISR) < r.MinISR }

// AtMinISR: exactly min.insync.replicas in sync; one more loss refuses acks=all.
func (r PartitionRow) AtMinISR() bool { return len(r.ISR) == r.MinISR }

// Where names what a finding is about: "topic-partition", "node N",
// both, or "cluster".
func (f Finding) Where() string {
	var parts []string
	if f.Topic != "" {
		p := f.Topic
		if f.Partition != nil {
			p += "-" + strconv.Itoa(int(*f.Partition))
		}
		parts = append(parts, p)
	}
	if f.Node != nil {
		parts = append(parts, "node "+strconv.Itoa(int(*f.Node)))
	}
	if len(parts) == 0 {
		return "cluster"
	}
	return strings.Join(parts, " ")
}
