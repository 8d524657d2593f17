// Package api holds the JSON types of chronik's admin HTTP API: the one
// schema the server, the client, the CLI, the TUI and tests share. It
// imports nothing but the standard library.
//
// Read endpoints answer from the local node only and wrap their data in an
// [Envelope] that names the node; merging the views of several nodes is the
// caller's job (see the client package's FanOut and Gather).
package api

// Raft roles as they appear in [RaftStatus.Role] and [NodeInfo.RaftRole].
const (
	RoleLeader       = "leader"
	RoleFollower     = "follower"
	RoleCandidate    = "candidate"
	RolePreCandidate = "pre-candidate"
	// RoleStopped is a node that no longer takes part as a voter;
	// RaftStatus.Error says why.
	RoleStopped = "stopped"
)

// Raft membership kinds, in [RaftPeer.Member].
const (
	MemberVoter   = "voter"
	MemberLearner = "learner"
)

// Replication states of a follower as the leader tracks it, in [RaftPeer.State].
const (
	PeerProbe     = "probe"     // leader is finding the follower's last matching index
	PeerReplicate = "replicate" // leader streams entries optimistically
	PeerSnapshot  = "snapshot"  // follower is too far behind and gets a snapshot
)

// NoController is [NodeInfo.ControllerID] when the node knows of no controller.
const NoController int32 = -1

// NodeInfo describes one node: who it is, where it listens, and its place in
// the cluster. Served by GET /v1/node.
type NodeInfo struct {
	NodeID        int32   `json:"node_id"`
	Version       string  `json:"version"`
	KafkaAddr     string  `json:"kafka_addr"`     // advertised Kafka address
	ClusterAddr   string  `json:"cluster_addr"`   // raft listener; empty on a single node without raft
	AdminAddr     string  `json:"admin_addr"`     // bound admin listener
	Rack          string  `json:"rack,omitempty"` // --rack (Kafka's broker.rack); absent for none
	UptimeSeconds float64 `json:"uptime_seconds"` // since the process started serving
	RaftRole      string  `json:"raft_role"`      // one of the Role* constants
	ControllerID  int32   `json:"controller_id"`  // the raft leader as this node knows it; NoController (-1) for none
	Fenced        bool    `json:"fenced"`         // the controller has fenced this broker (missed heartbeats)
	Ready         bool    `json:"ready"`          // same as GET /readyz answering 200
	// Fsync is how long the node's recent partition log fsyncs took; nil
	// from a node too old to report it.
	Fsync *FsyncLatency `json:"fsync,omitempty"`
	// RaftFsync is the same for the raft store's writes (the metadata
	// log, each write fsynced); nil from older nodes.
	RaftFsync *FsyncLatency `json:"raft_fsync,omitempty"`
	// Listeners are the node's Kafka listeners; nil from older nodes.
	Listeners []ListenerInfo `json:"listeners,omitempty"`
	// TLS is the certificate the SSL and SASL_SSL listeners serve, nil
	// without one; AdminTLS the admin API's HTTPS certificate.
	TLS      *CertInfo `json:"tls,omitempty"`
	AdminTLS *CertInfo `json:"admin_tls,omitempty"`
	// Authorizer is how the node authorizes Kafka requests; nil from
	// older nodes.
	Authorizer *AuthorizerInfo `json:"authorizer,omitempty"`
	// LogCleaner is the node's log cleaner (compaction); nil from older
	// nodes.
	LogCleaner *LogCleaner `json:"log_cleaner,omitempty"`
	// Transactions are the node's transaction settings; nil from older
	// nodes (txn_types.go).
	Transactions *TxnNodeInfo `json:"transactions,omitempty"`
}

// FsyncLatency is a node's recent fsync passes, pooled over all its
// partition logs (one pass fsyncs everything a log appended since the last
// one: it is what an acks=all produce and a follower's fetch wait for).
// Recent means within WindowSeconds, and at most the last 5 passes of each
// log.
type FsyncLatency struct {
	WindowSeconds float64 `json:"window_seconds"`
	Passes        int     `json:"passes"` // recent passes; 0 when no log fsynced lately
	// MedianSeconds is the lower middle of the recent passes: one slow
	// pass among fast ones does not raise it, a slow disk does.
	MedianSeconds float64 `json:"median_seconds"`
	MaxSeconds    float64 `json:"max_seconds"`
}

// RaftStatus is one node's view of the raft metadata quorum. Served by
// GET /v1/raft. Indexes are raft log indexes; a LeaderID of 0 means the node
// knows of no leader.
type RaftStatus struct {
	NodeID        uint64   `json:"node_id"`
	Role          string   `json:"role"` // one of the Role* constants
	Term          uint64   `json:"term"`
	LeaderID      uint64   `json:"leader_id"`
	Commit        uint64   `json:"commit"`         // highest index known committed
	Applied       uint64   `json:"applied"`        // highest index applied to the state machine
	SnapshotIndex uint64   `json:"snapshot_index"` // index of the latest local snapshot
	Voters        []uint64 `json:"voters"`         // voter ids, sorted
	// Learners are the members that follow the metadata log without voting
	// (joined nodes beyond --metadata-voters, or not caught up yet), sorted;
	// always a list.
	Learners []uint64 `json:"learners"`
	// VoterTarget is the node's --metadata-voters: how many voters the
	// leader keeps by promoting caught-up learners; absent when unknown.
	VoterTarget int `json:"voter_target,omitempty"`
	// Peers is the leader's view of every voter's replication, sorted by id;
	// only the leader has it.
	Peers []RaftPeer `json:"peers,omitempty"`
	// Error says why the node stopped as a voter (e.g. disk full); set only
	// when Role is RoleStopped.
	Error string `json:"error,omitempty"`
}

// RaftPeer is the leader's record of one voter's progress (etcd raft's
// Progress plus the transport's view of the connection).
type RaftPeer struct {
	ID uint64 `json:"id"`
	// Member is MemberVoter or MemberLearner.
	Member string `json:"member"`
	// Lag is how many committed entries the peer lacks: the leader's commit
	// minus Match (0 when caught up).
	Lag          uint64 `json:"lag"`
	Match        uint64 `json:"match"`         // highest index known replicated on the peer
	Next         uint64 `json:"next"`          // next index the leader will send
	State        string `json:"state"`         // one of the Peer* constants
	RecentActive bool   `json:"recent_active"` // heard from within the election timeout
	Connected    bool   `json:"connected"`     // the transport has a live connection to it
	// LastContactSeconds is how long ago the leader last heard from the
	// peer; nil means never.
	LastContactSeconds *float64 `json:"last_contact_seconds"`
	LastError          string   `json:"last_error,omitempty"` // the transport's latest error for this peer
}

// Envelope wraps every read endpoint's answer so it says which node answered.
type Envelope[T any] struct {
	NodeID int32 `json:"node_id"`
	Data   T     `json:"data"`
}

// Error is the body of every non-2xx answer except GET /readyz's 503.
type Error struct {
	Code    string `json:"code"` // stable, snake_case: not_found, method_not_allowed, ...
	Message string `json:"message"`
}

// Health is the body of GET /healthz and GET /readyz.
type Health struct {
	Status string `json:"status"` // "ok" (healthz), "ready" or "not ready" (readyz)
	NodeID int32  `json:"node_id"`
}

// NodeResult is one node's answer (or failure) when the CLI asks several
// nodes; a list of them is the CLI's -o json and -o yaml output.
// Exactly one of Data and Error is set.
type NodeResult[T any] struct {
	Admin  string `json:"admin"`             // the admin base URL asked
	NodeID *int32 `json:"node_id,omitempty"` // which node answered; nil on failure
	Data   *T     `json:"data,omitempty"`
	Error  string `json:"error,omitempty"` // why there is no answer, with what to try
}

// OK reports whether the node answered.
func (r NodeResult[T]) OK() bool { return r.Error == "" && r.Data != nil }

// Error codes in [Error.Code].
const (
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeConflict         = "conflict"
	CodeUnavailable      = "unavailable"
	CodeNotImplemented   = "not_implemented"
)
