package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// NodeRemover is a source that removes nodes from the cluster (POST
// /v1/cluster/remove-node). Only the controller does; others answer
// not_controller naming it.
type NodeRemover interface {
	RemoveNode(ctx context.Context, req api.RemoveNodeRequest) (api.RemoveNodeStatus, error)
}

func (h *handler) removeNode(w http.ResponseWriter, r *http.Request) {
	h.mutation(w, r, func(ctx context.Context, _ ClusterSource) (int, any, error) {
		nr, ok := h.src.(NodeRemover)
		if !ok {
			return 0, nil, &MutationError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
				Message: r.URL.Path + " is not served by this node"}
		}
		var req api.RemoveNodeRequest
		if err := decodeBody(w, r, &req); err != nil {
			return 0, nil, err
		}
		if req.NodeID < 1 || req.ReplaceWith < 0 {
			return 0, nil, &MutationError{Status: http.StatusBadRequest, Code: api.CodeBadRequest,
				Message: "node_id must be a positive node id, and replace_with one or absent"}
		}
		st, err := nr.RemoveNode(ctx, req)
		return http.StatusOK, st, err
	})
}

func (s nodeSource) RemoveNode(ctx context.Context, req api.RemoveNodeRequest) (api.RemoveNodeStatus, error) {
	st, err := s.n.RemoveNode(ctx, broker.RemoveNodeRequest{ID: req.NodeID, Replace: req.ReplaceWith, Force: req.Force})
	var nc *broker.NotControllerError
	switch {
	case errors.As(err, &nc):
		return api.RemoveNodeStatus{}, &MutationError{Status: http.StatusConflict, Code: api.CodeNotController, Message: err.Error()}
	case errors.Is(err, broker.ErrUnknownNode):
		return api.RemoveNodeStatus{}, &MutationError{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: err.Error()}
	case errors.Is(err, controller.ErrRemovalRefused):
		return api.RemoveNodeStatus{}, &MutationError{Status: http.StatusConflict, Code: api.CodeConflict, Message: err.Error()}
	case err != nil:
		return api.RemoveNodeStatus{}, mutationError(err)
	}
	conv := func(refs []state.PartitionRef) []api.TopicPartition {
		out := []api.TopicPartition{}
		for _, r := range refs {
			out = append(out, api.TopicPartition{Topic: r.Topic, Partition: r.Partition})
		}
		return out
	}
	return api.RemoveNodeStatus{NodeID: st.ID, Phase: st.Phase, Started: conv(st.Started), Moving: conv(st.Moving),
		Controller: st.Controller, Down: st.Down}, nil
}
