package diagnose

import (
	"slices"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// The reports of `chronik isr describe`, `chronik cluster status` and
// `chronik doctor`: built from a ClusterView; the CLI prints them as
// tables or as JSON and YAML of these types.

// NodeRef names a node that did not answer.
type NodeRef struct {
	Admin  string `json:"admin"`
	NodeID int32  `json:"node_id"` // -1 when unknown
	Error  string `json:"error"`
}

func unreachable(v api.ClusterView) []NodeRef {
	out := []NodeRef{}
	for _, n := range v.Nodes {
		if !n.Reachable() {
			out = append(out, NodeRef{Admin: n.Admin, NodeID: n.NodeID, Error: n.Error})
		}
	}
	return out
}

// ISRFilter selects partitions for `isr describe`; set conditions are ORed,
// no condition selects all. Topics, when set, restricts to those topics.
type ISRFilter struct {
	Topics          []string
	Node            int32 // > 0: only partitions with a replica on this node
	UnderReplicated bool  // |ISR| < |replicas|
	UnderMinISR     bool  // |ISR| < min.insync.replicas
	AtMinISR        bool  // |ISR| == min.insync.replicas
	Unavailable     bool  // no leader, or the leader did not answer
	Stalled         bool  // a replica not caught up for longer than the lag time
}

func (f ISRFilter) any() bool {
	return f.UnderReplicated || f.UnderMinISR || f.AtMinISR || f.Unavailable || f.Stalled
}

// Match reports whether a row passes the filter.
func (f ISRFilter) Match(r api.PartitionRow) bool {
	if len(f.Topics) > 0 && !slices.Contains(f.Topics, r.Topic) {
		return false
	}
	if f.Node > 0 && !slices.Contains(r.Replicas, f.Node) {
		return false
	}
	if !f.any() {
		return true
	}
	leaderDown := r.Leader < 0 || slices.Contains(r.Unreachable, r.Leader)
	return f.UnderReplicated && r.UnderReplicated() ||
		f.UnderMinISR && r.UnderMinISR() ||
		f.AtMinISR && r.AtMinISR() ||
		f.Unavailable && leaderDown ||
		f.Stalled && len(r.Stalled) > 0
}

// ISRReport is `isr describe`'s -o json|yaml output.
type ISRReport struct {
	Partitions  []api.PartitionRow `json:"partitions"`
	Unreachable []NodeRef          `json:"unreachable_nodes"`
}

// BuildISRReport merges the cluster view and applies the filter.
func BuildISRReport(v api.ClusterView, f ISRFilter) ISRReport {
	rep := ISRReport{Partitions: []api.PartitionRow{}, Unreachable: unreachable(v)}
	for _, r := range MergePartitions(v) {
		if f.Match(r) {
			rep.Partitions = append(rep.Partitions, r)
		}
	}
	return rep
}

// BrokerRow is one broker in `cluster status`.
type BrokerRow struct {
	ID         int32  `json:"id"`
	KafkaAddr  string `json:"kafka_addr"`
	AdminAddr  string `json:"admin_addr"`
	Rack       string `json:"rack,omitempty"`
	State      string `json:"state"` // up, fenced, shut_down, unreachable; waiting in a partial view
	Controller bool   `json:"controller"`
	// LastHeartbeatSeconds as the controller reports it.
	LastHeartbeatSeconds *float64 `json:"last_heartbeat_seconds"`
	RaftRole             string   `json:"raft_role,omitempty"`
}

// ClusterStatus is `cluster status`'s report.
type ClusterStatus struct {
	// Partial: a view taken while some nodes had not answered yet
	// (their brokers are "waiting"); a complete one follows.
	Partial      bool           `json:"partial,omitempty"`
	ControllerID int32          `json:"controller_id"` // -1: none known
	Brokers      []BrokerRow    `json:"brokers"`
	Partitions   map[string]int `json:"partitions"` // count by status
	Findings     map[string]int `json:"findings"`   // count by severity
	// Healthy: every node answered, no partition's leader is silent, and
	// no warning or critical finding.
	Healthy     bool      `json:"healthy"`
	Unreachable []NodeRef `json:"unreachable_nodes"`
}

// BuildClusterStatus summarizes the view: brokers (from the controller's
// list when it answered), partitions by status, findings by severity.
func BuildClusterStatus(v api.ClusterView, findings []api.Finding) ClusterStatus {
	cs := ClusterStatus{ControllerID: api.NoController, Brokers: []BrokerRow{}, Partitions: map[string]int{},
		Findings: map[string]int{}, Unreachable: unreachable(v), Partial: v.Partial}
	list := v.BrokerList()
	reachable := map[int32]api.NodeView{}
	for _, n := range v.Nodes {
		if n.NodeID >= 0 {
			reachable[n.NodeID] = n
		}
	}
	if list != nil {
		cs.ControllerID = list.ControllerID
		for _, b := range list.Brokers {
			row := BrokerRow{ID: b.ID, KafkaAddr: b.KafkaAddr, AdminAddr: b.AdminAddr, Rack: b.Rack, State: "up",
				Controller: b.Controller, LastHeartbeatSeconds: b.LastHeartbeatSeconds}
			switch {
			case b.ShutDown:
				row.State = "shut_down"
			case b.Fenced:
				row.State = "fenced"
			}
			if n, ok := reachable[b.ID]; ok {
				if n.Pending {
					row.State = "waiting" // a partial view: no answer yet
				} else if !n.Reachable() {
					row.State = "unreachable"
				} else if n.Raft != nil {
					row.RaftRole = n.Raft.Role
				}
			}
			cs.Brokers = append(cs.Brokers, row)
		}
	}
	for _, r := range MergePartitions(v) {
		cs.Partitions[r.Status]++
	}
	for _, f := range findings {
		cs.Findings[f.Severity]++
	}
	cs.Healthy = ExitCode(findings) == 0 && len(cs.Unreachable) == 0 && cs.Partitions[api.StatusLeaderUnreachable] == 0
	return cs
}

// DoctorReport is `doctor`'s -o json|yaml output. Findings are every
// rule's finding, as /v1/findings has them; Causes group them (each
// finding's index is under exactly one cause), most severe first.
type DoctorReport struct {
	Causes      []api.Cause   `json:"causes"`
	Findings    []api.Finding `json:"findings"`
	ExitCode    int           `json:"exit_code"` // 0 healthy, 3 warnings, 4 critical
	Unreachable []NodeRef     `json:"unreachable_nodes"`
}

// BuildDoctorReport runs every rule over the view and groups the findings
// under their causes. The exit code follows the worst of both: a cause is
// more severe than its findings when their combination is riskier (a
// partition at min ISR under acks=all traffic).
func BuildDoctorReport(v api.ClusterView) DoctorReport {
	fs := Run(v)
	causes := Correlate(v, fs)
	code := ExitCode(fs)
	for _, c := range causes {
		code = max(code, ExitCode([]api.Finding{{Severity: c.Severity}}))
	}
	return DoctorReport{Causes: causes, Findings: fs, ExitCode: code, Unreachable: unreachable(v)}
}
