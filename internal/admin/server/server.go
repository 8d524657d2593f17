// Package server is the admin HTTP API a node serves: the handlers over a
// [Source], and the adapter that answers them from a running broker node
// ([HandlerFor]). It is the only admin code that imports the broker.
package server

import (
	"cmp"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Source is what the admin API reads from a node. The broker implements it;
// every method must be cheap and safe to call from many goroutines at once,
// since each request calls it.
type Source interface {
	// Node describes the local node.
	Node() api.NodeInfo
	// Raft is the local node's view of the raft metadata quorum.
	Raft() api.RaftStatus
	// Ready reports whether the node serves clients (GET /readyz).
	Ready() bool
}

// NewHandler returns the admin API handler for src:
//
//	GET /healthz   200 {"status":"ok","node_id":N}
//	GET /readyz    200 {"status":"ready",...} or 503 {"status":"not ready",...}
//	GET /v1/node   Envelope[NodeInfo]
//	GET /v1/raft   Envelope[RaftStatus]
//
// Unknown paths answer 404 and other methods 405, both with an [Error] body.
// A nil logger discards.
func NewHandler(src Source, logger *slog.Logger) http.Handler {
	return NewHandlerWithOptions(src, logger, HandlerOptions{})
}

// NewHandlerWithOptions is NewHandler with a mutation token and timeouts.
func NewHandlerWithOptions(src Source, logger *slog.Logger, opts HandlerOptions) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{src: src, log: logger, opts: opts}
	mux := http.NewServeMux()
	// Patterns carry no method: the mux's own 405 and 404 are plain text,
	// and every answer of this API is JSON.
	mux.HandleFunc("/healthz", h.get(h.healthz))
	mux.HandleFunc("/readyz", h.get(h.readyz))
	mux.HandleFunc("/v1/node", h.get(h.node))
	mux.HandleFunc("/v1/raft", h.get(h.raft))
	if opts.Metrics != nil {
		mux.HandleFunc("/metrics", h.get(opts.Metrics.ServeHTTP))
	}
	mux.HandleFunc("/v1/brokers", h.get(h.brokers))
	mux.HandleFunc("/v1/partitions", h.get(h.partitions))
	mux.HandleFunc("/v1/reconcile", h.get(h.reconcile))
	mux.HandleFunc("/v1/findings", h.get(h.findings))
	mux.HandleFunc("/v1/topics", h.methods(map[string]http.HandlerFunc{http.MethodPost: h.createTopic}))
	mux.HandleFunc("/v1/topics/{name}", h.methods(map[string]http.HandlerFunc{http.MethodDelete: h.deleteTopic}))
	mux.HandleFunc("/v1/elect-leaders", h.methods(map[string]http.HandlerFunc{http.MethodPost: h.electLeaders}))
	mux.HandleFunc("/v1/cluster/remove-node", h.methods(map[string]http.HandlerFunc{http.MethodPost: h.removeNode}))
	mux.HandleFunc("/v1/transactions/abort", h.methods(map[string]http.HandlerFunc{http.MethodPost: h.abortTransaction}))
	registerFaults(mux, h) // chronik_faults builds only
	registerDebug(mux, h)  // /debug/pprof/: admin credentials only (debug.go)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.write(w, r, http.StatusNotFound, api.Error{Code: api.CodeNotFound, Message: "no admin endpoint " + r.URL.Path +
			"; the endpoints are " + endpointList + " (docs/admin-api.md)"})
	})
	return mux
}

// endpointList names every endpoint, for the 404 answer.
const endpointList = "GET /healthz, /readyz, /metrics, /v1/node, /v1/raft, /v1/brokers, /v1/partitions, /v1/reconcile, /v1/findings; " +
	"POST /v1/topics, DELETE /v1/topics/{name}, POST /v1/elect-leaders, POST /v1/cluster/remove-node, POST /v1/transactions/abort; " +
	"GET /debug/pprof/{profile,trace,heap,allocs,goroutine,block,mutex,threadcreate} (admin token)"

// methods dispatches on the request method, answering 405 in JSON.
func (h *handler) methods(by map[string]http.HandlerFunc) http.HandlerFunc {
	allowed := make([]string, 0, len(by))
	for m := range by {
		allowed = append(allowed, m)
	}
	slices.Sort(allowed)
	return func(w http.ResponseWriter, r *http.Request) {
		if next, ok := by[r.Method]; ok {
			next(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		h.write(w, r, http.StatusMethodNotAllowed, api.Error{Code: api.CodeMethodNotAllowed,
			Message: r.Method + " " + r.URL.Path + " is not allowed; use " + strings.Join(allowed, " or ")})
	}
}

type handler struct {
	src  Source
	log  *slog.Logger
	opts HandlerOptions
}

// get admits GET and HEAD only (HEAD because load balancers probe with it;
// net/http drops the body).
func (h *handler) get(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			h.write(w, r, http.StatusMethodNotAllowed, api.Error{Code: api.CodeMethodNotAllowed,
				Message: r.Method + " " + r.URL.Path + " is not allowed; use GET"})
			return
		}
		if !h.readAuthorized(w, r) {
			return
		}
		next(w, r)
	}
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, http.StatusOK, api.Health{Status: "ok", NodeID: h.src.Node().NodeID})
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	id := h.src.Node().NodeID
	if !h.src.Ready() {
		h.write(w, r, http.StatusServiceUnavailable, api.Health{Status: "not ready", NodeID: id})
		return
	}
	h.write(w, r, http.StatusOK, api.Health{Status: "ready", NodeID: id})
}

func (h *handler) node(w http.ResponseWriter, r *http.Request) {
	n := h.src.Node()
	h.write(w, r, http.StatusOK, api.Envelope[api.NodeInfo]{NodeID: n.NodeID, Data: n})
}

func (h *handler) raft(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, http.StatusOK, api.Envelope[api.RaftStatus]{NodeID: h.src.Node().NodeID, Data: normalizeRaft(h.src.Raft())})
}

// normalizeRaft makes the answer keep its documented shape whatever the
// source returns: voters a list (never null), voters and peers sorted.
// It copies the slices, which the source may still own.
func normalizeRaft(s api.RaftStatus) api.RaftStatus {
	s.Voters = slices.Sorted(slices.Values(s.Voters))
	if s.Voters == nil {
		s.Voters = []uint64{}
	}
	s.Learners = slices.Sorted(slices.Values(s.Learners))
	if s.Learners == nil {
		s.Learners = []uint64{}
	}
	if len(s.Peers) > 0 {
		s.Peers = slices.Clone(s.Peers)
		slices.SortFunc(s.Peers, func(a, b api.RaftPeer) int { return cmp.Compare(a.ID, b.ID) })
	} else {
		s.Peers = nil
	}
	return s
}

func (h *handler) write(w http.ResponseWriter, r *http.Request, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		// Only a bug in these types can get here; say so rather than send half a body.
		h.log.Error("encode admin answer", "path", r.URL.Path, "err", err)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(api.Error{Code: api.CodeInternal, Message: "encode answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store") // every answer is a live reading
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err != nil {
		h.log.Debug("write admin answer", "path", r.URL.Path, "err", err)
	}
}
