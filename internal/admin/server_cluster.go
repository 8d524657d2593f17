package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ClusterSource is what a node serves beyond itself: brokers, partitions,
// reconciliation, and the mutations (which go to the controller through the
// replicated metadata). A Source that does not implement it answers those
// endpoints 501.
type ClusterSource interface {
	Brokers() Brokers
	Partitions() []PartitionInfo
	Reconcile() Reconcile
	CreateTopic(ctx context.Context, req CreateTopicRequest) (TopicCreated, error)
	DeleteTopic(ctx context.Context, name string) error
	ElectLeaders(ctx context.Context, req ElectLeadersRequest) (ElectLeadersResult, error)
}

// More error codes of the admin API.
const (
	CodeBadRequest     = "bad_request"
	CodeUnauthorized   = "unauthorized"
	CodeConflict       = "conflict"
	CodeUnavailable    = "unavailable"
	CodeNotImplemented = "not_implemented"
)

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
	// every mutating endpoint. Reads stay open.
	Token string
	// MutationTimeout bounds a mutation's commit; default 10s.
	MutationTimeout time.Duration
	// Metrics, when set, serves GET /metrics (Prometheus text format).
	Metrics http.Handler
}

// maxRequestBytes bounds a mutation's body.
const maxRequestBytes = 1 << 20

func (h *handler) cluster(w http.ResponseWriter, r *http.Request) (ClusterSource, bool) {
	cs, ok := h.src.(ClusterSource)
	if !ok {
		h.write(w, r, http.StatusNotImplemented, Error{Code: CodeNotImplemented, Message: r.URL.Path + " is not served by this node"})
	}
	return cs, ok
}

func (h *handler) brokers(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	h.write(w, r, http.StatusOK, Envelope[Brokers]{NodeID: h.src.Node().NodeID, Data: cs.Brokers()})
}

func (h *handler) reconcile(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	h.write(w, r, http.StatusOK, Envelope[Reconcile]{NodeID: h.src.Node().NodeID, Data: cs.Reconcile()})
}

func (h *handler) partitions(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	topics := r.URL.Query()["topic"]
	status := strings.ToUpper(r.URL.Query().Get("status"))
	parts := cs.Partitions()
	var statusOf map[TopicPartition]string
	if status != "" {
		// The status as this node alone can tell it (merging every node's
		// view is the CLI's job).
		statusOf = map[TopicPartition]string{}
		for _, row := range MergePartitions(ClusterView{Nodes: []NodeView{h.selfView(cs, parts)}}) {
			statusOf[TopicPartition{row.Topic, row.Partition}] = row.Status
		}
	}
	out := []PartitionInfo{}
	for _, p := range parts {
		if len(topics) > 0 && !slices.Contains(topics, p.Topic) {
			continue
		}
		if status != "" && statusOf[TopicPartition{p.Topic, p.Partition}] != status {
			continue
		}
		out = append(out, p)
	}
	h.write(w, r, http.StatusOK, Envelope[Partitions]{NodeID: h.src.Node().NodeID, Data: Partitions{Partitions: out}})
}

// selfView is this node's answers as a NodeView, for rules that run on one
// node's view.
func (h *handler) selfView(cs ClusterSource, parts []PartitionInfo) NodeView {
	node, raft := h.src.Node(), normalizeRaft(h.src.Raft())
	brokers, rec := cs.Brokers(), cs.Reconcile()
	return NodeView{Admin: "self", NodeID: node.NodeID, Node: &node, Raft: &raft, Brokers: &brokers,
		Partitions: &Partitions{Partitions: parts}, Reconcile: &rec}
}

func (h *handler) findings(w http.ResponseWriter, r *http.Request) {
	cs, ok := h.cluster(w, r)
	if !ok {
		return
	}
	fs := Diagnose(ClusterView{Nodes: []NodeView{h.selfView(cs, cs.Partitions())}})
	if fs == nil {
		fs = []Finding{}
	}
	h.write(w, r, http.StatusOK, Envelope[Findings]{NodeID: h.src.Node().NodeID, Data: Findings{Findings: fs}})
}

// authorized checks the bearer token of a mutation, answering 401 itself.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="chronik admin"`)
	h.write(w, r, http.StatusUnauthorized, Error{Code: CodeUnauthorized,
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
		var me *MutationError
		if !errors.As(err, &me) {
			me = &MutationError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
		}
		h.log.Info("admin mutation refused", "method", r.Method, "path", r.URL.Path, "code", me.Code, "err", me.Message)
		h.write(w, r, me.Status, Error{Code: me.Code, Message: me.Message})
		return
	}
	h.log.Info("admin mutation", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	h.write(w, r, status, Envelope[any]{NodeID: h.src.Node().NodeID, Data: body})
}

// decodeBody reads a JSON request body strictly.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &MutationError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "request body: " + err.Error()}
	}
	return nil
}

func (h *handler) createTopic(w http.ResponseWriter, r *http.Request) {
	h.mutation(w, r, func(ctx context.Context, cs ClusterSource) (int, any, error) {
		var req CreateTopicRequest
		if err := decodeBody(r, &req); err != nil {
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
		var req ElectLeadersRequest
		if r.ContentLength != 0 {
			if err := decodeBody(r, &req); err != nil {
				return 0, nil, err
			}
		}
		if req.Type == "" {
			req.Type = "preferred"
		}
		if req.Type != "preferred" && req.Type != "unclean" {
			return 0, nil, &MutationError{Status: http.StatusBadRequest, Code: CodeBadRequest,
				Message: `type must be "preferred" or "unclean", got "` + req.Type + `"`}
		}
		res, err := cs.ElectLeaders(ctx, req)
		return http.StatusOK, res, err
	})
}
