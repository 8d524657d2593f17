package api

// RemoveNodeRequest is the body of POST /v1/cluster/remove-node: remove
// broker NodeID from the cluster, moving its replicas to ReplaceWith when
// set (replace-node), else to other live brokers. Force removes a broker
// that is down, rebuilding its replicas from the other in-sync replicas.
// Asking again continues a removal where it stands.
type RemoveNodeRequest struct {
	NodeID      int32 `json:"node_id"`
	ReplaceWith int32 `json:"replace_with,omitempty"`
	Force       bool  `json:"force,omitempty"`
}

// Phases of a removal, in RemoveNodeStatus.Phase.
const (
	RemovalMoving          = "moving"           // replicas are being moved off the node; ask again
	RemovalControllerMoved = "controller_moved" // the node was the controller and handed over; ask again
	RemovalDone            = "done"             // out of raft and the broker list
)

// RemoveNodeStatus is where a removal stands after one request.
type RemoveNodeStatus struct {
	NodeID int32  `json:"node_id"`
	Phase  string `json:"phase"`
	// Started are the reassignments this request started; Moving are the
	// partitions that still have a replica on the node.
	Started []TopicPartition `json:"started"`
	Moving  []TopicPartition `json:"moving"`
	// Controller is the node that took over as controller (phase
	// controller_moved).
	Controller int32 `json:"controller,omitempty"`
	// Down: the node was down, so nothing is copied from it.
	Down bool `json:"down,omitempty"`
}

// CodeNotController: the node asked is not the controller (the raft
// leader), which alone changes the membership; the message names it, and
// /v1/brokers gives its admin address.
const CodeNotController = "not_controller"
