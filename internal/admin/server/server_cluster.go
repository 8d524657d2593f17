package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// ClusterSource is what a node serves beyond itself: brokers, partitions,
// reconciliation, and the mutations (which go to the controller through the
// replicated metadata). A Source that does not implement it answers those
// endpoints 501.
type ClusterSource interface {
	Brokers() api.Brokers
	Partitions() []api.PartitionInfo
	Reconcile() api.Reconcile
	CreateTopic(ctx context.Context, req api.CreateTopicRequest) (api.TopicCreated, error)
	DeleteTopic(ctx context.Context, name string) error
	ElectLeaders(ctx context.Context, req api.ElectLeadersRequest) (api.ElectLeadersResult, error)
}

// MutationError is a refused or failed mutation: the HTTP status and error
// code to answer with.
type MutationError struct {
	Status  int
	Code    string
	Message string
}

func (e *MutationError) Error() string { return e.Message }

// HandlerOptions configure the admin handler.
type HandlerOptions struct {
	// Token, when set, is required as "Authorization: Bearer <token>" by
	// every mutating endpoint (auth.go).
	Token string
	// ReadToken, when set, is required by every read endpoint but
	// /healthz and /readyz; the admin token is accepted too.
	ReadToken string
	// ClientCerts: the server asks for client certificates verified by the
	// admin CA, and a verified one authenticates like the admin token.
	ClientCerts bool
	// MutationTimeout bounds a mutation's commit; default 10s.
	MutationTimeout time.Duration
	// Metrics, when set, serves GET /metrics (Prometheus text format).
	Metrics http.Handler
}

// maxRequestBytes bounds a mutation's body: the largest (a topic with its
// configs) is a few KiB; 1 MiB is generous and still cheap to hold. A body
// over it is cut off as it arrives (413), never read whole.
const maxRequestBytes = 1 << 20

func (h *handler) cluster(w http.ResponseWriter, r *http.Request) (ClusterSource, bool) {
	return served[ClusterSource](h, w, r)
}

// served is the node's source as the interface T an endpoint needs, or a
// 501 answer when this node's source does not implement it.
func served[T any](h *handler, w http.ResponseWriter, r *http.Request) (T, bool) {
	s, ok := h.src.(T)
	if !ok {
		h.write(w, r, http.StatusNotImplemented, api.Error{Code: api.CodeNotImplemented, Message: r.URL.Path + " is not served by this node"})
	}
	return s, ok
}

// writeRefusal answers err: its MutationError's status and code, or the
// given fallback for any other error.
func (h *handler) writeRefusal(w http.ResponseWriter, r *http.Request, err error, status int, code string) *MutationError {
	var me *MutationError
	if !errors.As(err, &me) {
		me = &MutationError{Status: status, Code: code, Message: err.Error()}
	}
	h.write(w, r, me.Status, api.Error{Code: me.Code, Message: me.Message})
	return me
}

func (h *handler) brokers(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	h.write(w, r, http.StatusOK, api.Envelope[api.Brokers]{NodeID: h.src.Node().NodeID, Data: cs.Brokers()})
}

func (h *handler) reconcile(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	h.write(w, r, http.StatusOK, api.Envelope[api.Reconcile]{NodeID: h.src.Node().NodeID, Data: cs.Reconcile()})
}

func (h *handler) partitions(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	topics := r.URL.Query()["topic"]
	status := strings.ToUpper(r.URL.Query().Get("status"))
	parts := cs.Partitions()
	var statusOf map[api.TopicPartition]string
	if status != "" {
		// The status as this node alone can tell it (merging every node's
		// view is the CLI's job).
		statusOf = map[api.TopicPartition]string{}
		for _, row := range diagnose.MergePartitions(api.ClusterView{Nodes: []api.NodeView{h.selfView(cs, parts)}}) {
			statusOf[api.TopicPartition{Topic: row.Topic, Partition: row.Partition}] = row.Status
		}
	}
	out := []api.PartitionInfo{}
	for _, p := range parts {
		if len(topics) > 0 && !slices.Contains(topics, p.Topic) {
			continue
		}
		if status != "" && statusOf[api.TopicPartition{Topic: p.Topic, Partition: p.Partition}] != status {
			continue
		}
		out = append(out, p)
	}
	h.write(w, r, http.StatusOK, api.Envelope[api.Partitions]{NodeID: h.src.Node().NodeID, Data: api.Partitions{Partitions: out}})
}

// selfView is this node's answers as a NodeView, for rules that run on one
// node's view.
func (h *handler) selfView(cs ClusterSource, parts []api.PartitionInfo) api.NodeView {
	node, raft := h.src.Node(), normalizeRaft(h.src.Raft())
	brokers, rec := cs.Brokers(), cs.Reconcile()
	return api.NodeView{Admin: "self", NodeID: node.NodeID, Node: &node, Raft: &raft, Brokers: &brokers,
		Partitions: &api.Partitions{Partitions: parts}, Reconcile: &rec}
}

func (h *handler) findings(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	fs := diagnose.Run(api.ClusterView{Nodes: []api.NodeView{h.selfView(cs, cs.Partitions())}})
	if fs == nil {
		fs = []api.Finding{}
	}
	h.write(w, r, http.StatusOK, api.Envelope[api.Findings]{NodeID: h.src.Node().NodeID, Data: api.Findings{Findings: fs}})
}

// authorized checks the bearer token of a mutation, answering 401 itself.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.mutationsOpen() {
		return true
	}
	if _, admin := h.principal(r); admin {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="chronik admin"`)
	h.write(w, r, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthorized,
		Message: r.Method + " " + r.URL.Path + " needs the admin token: send Authorization: Bearer <token> (chronik commands read it from --admin-token or CHRONIK_ADMIN_TOKEN)"})
	return false
}

// mutation runs fn with a bounded context after the token check and turns
// its error into an answer.
func (h *handler) mutation(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, cs ClusterSource) (int, any, error)) {
	cs, ok := h.cluster(w, r)
	if !ok || !h.authorized(w, r) {
		return
	}
	timeout := h.opts.MutationTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	status, body, err := fn(ctx, cs)
	if err != nil {
		me := h.writeRefusal(w, r, err, http.StatusInternalServerError, api.CodeInternal)
		h.log.Info("admin mutation refused", "method", r.Method, "path", r.URL.Path, "code", me.Code, "err", me.Message)
		return
	}
	who, _ := h.principal(r)
	h.log.Info("admin mutation", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "principal", who)
	h.write(w, r, status, api.Envelope[any]{NodeID: h.src.Node().NodeID, Data: body})
}

// decodeBody reads a JSON request body strictly: one JSON value with known
// fields only, nothing after it but white space, at most maxRequestBytes.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// A second value, or anything else but white space, is refused: a
		// body that means two things must not be read as its first.
		var extra json.RawMessage
		switch err = dec.Decode(&extra); {
		case errors.Is(err, io.EOF):
			return nil
		case err == nil:
			err = errors.New("trailing data after the JSON value")
		default:
			err = fmt.Errorf("trailing data after the JSON value: %w", err)
		}
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &MutationError{Status: http.StatusRequestEntityTooLarge, Code: api.CodeBadRequest,
			Message: fmt.Sprintf("request body: larger than %d bytes", tooBig.Limit)}
	}
	return &MutationError{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: "request body: " + err.Error()}
}

func (h *handler) createTopic(w http.ResponseWriter, r *http.Request) {
	h.mutation(w, r, func(ctx context.Context, cs ClusterSource) (int, any, error) {
		var req api.CreateTopicRequest
		if err := decodeBody(w, r, &req); err != nil {
			return 0, nil, err
		}
		if req.Partitions == 0 {
			req.Partitions = -1
		}
		if req.ReplicationFactor == 0 {
			req.ReplicationFactor = -1
		}
		created, err := cs.CreateTopic(ctx, req)
		return http.StatusCreated, created, err
	})
}

func (h *handler) deleteTopic(w http.ResponseWriter, r *http.Request) {
	h.mutation(w, r, func(ctx context.Context, cs ClusterSource) (int, any, error) {
		name := r.PathValue("name")
		if err := cs.DeleteTopic(ctx, name); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"deleted": name}, nil
	})
}

func (h *handler) electLeaders(w http.ResponseWriter, r *http.Request) {
	h.mutation(w, r, func(ctx context.Context, cs ClusterSource) (int, any, error) {
		var req api.ElectLeadersRequest
		if r.ContentLength != 0 {
			if err := decodeBody(w, r, &req); err != nil {
				return 0, nil, err
			}
		}
		if req.Type == "" {
			req.Type = "preferred"
		}
		if req.Type != "preferred" && req.Type != "unclean" {
			return 0, nil, &MutationError{Status: http.StatusBadRequest, Code: api.CodeBadRequest,
				Message: `type must be "preferred" or "unclean", got "` + req.Type + `"`}
		}
		res, err := cs.ElectLeaders(ctx, req)
		return http.StatusOK, res, err
	})
}
