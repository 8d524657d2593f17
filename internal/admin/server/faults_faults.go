//go:build chronik_faults

package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
)

// faultSource is the fault injection of a node built with chronik_faults.
type faultSource interface {
	Faults() broker.Faults
	SetFaults(broker.Faults) error
}

func (s nodeSource) Faults() broker.Faults           { return s.n.Faults() }
func (s nodeSource) SetFaults(f broker.Faults) error { return s.n.SetFaults(f) }

// Faults is the body of /v1/debug/faults, in and out. A duration is Go's
// text ("300ms", "1.5s"); absent, empty or "0s" injects nothing, so PUT {}
// clears every fault. PUT replaces all of them: a field left out is cleared.
type Faults struct {
	// FsyncDelay delays every partition log fsync and every raft store
	// commit of the node.
	FsyncDelay string `json:"fsync_delay"`
	// FsyncError, "EIO" or "ENOSPC", fails them instead (after the delay):
	// the node stops on its storage failure and exits with code 74.
	FsyncError string `json:"fsync_error"`
}

// registerFaults serves GET and PUT /v1/debug/faults, in chronik_faults
// builds only (faults_nofaults.go). PUT is a mutation: it needs the admin
// token when one is configured.
func registerFaults(mux *http.ServeMux, h *handler) {
	mux.HandleFunc("/v1/debug/faults", h.methods(map[string]http.HandlerFunc{
		http.MethodGet: h.getFaults,
		http.MethodPut: h.putFaults,
	}))
}

func (h *handler) getFaults(w http.ResponseWriter, r *http.Request) {
	fs, ok := served[faultSource](h, w, r)
	if !ok {
		return
	}
	h.writeFaults(w, r, fs.Faults())
}

func (h *handler) putFaults(w http.ResponseWriter, r *http.Request) {
	fs, ok := served[faultSource](h, w, r)
	if !ok || !h.authorized(w, r) {
		return
	}
	var req Faults
	if err := decodeBody(w, r, &req); err != nil {
		h.writeRefusal(w, r, err, http.StatusBadRequest, api.CodeBadRequest)
		return
	}
	var f broker.Faults
	if req.FsyncDelay != "" {
		d, err := time.ParseDuration(req.FsyncDelay)
		if err != nil {
			h.write(w, r, http.StatusBadRequest, api.Error{Code: api.CodeBadRequest,
				Message: fmt.Sprintf("fsync_delay: %v (want a duration such as \"300ms\")", err)})
			return
		}
		f.FsyncDelay = d
	}
	var err error
	if f.FsyncError, err = broker.ParseFsyncError(req.FsyncError); err != nil {
		h.write(w, r, http.StatusBadRequest, api.Error{Code: api.CodeBadRequest, Message: "fsync_error: " + err.Error()})
		return
	}
	if err := fs.SetFaults(f); err != nil {
		h.write(w, r, http.StatusBadRequest, api.Error{Code: api.CodeBadRequest, Message: err.Error()})
		return
	}
	h.log.Warn("admin set injected faults", "fsync_delay", f.FsyncDelay.String(),
		"fsync_error", broker.FsyncErrorName(f.FsyncError), "remote", r.RemoteAddr)
	h.writeFaults(w, r, f)
}

func (h *handler) writeFaults(w http.ResponseWriter, r *http.Request, f broker.Faults) {
	h.write(w, r, http.StatusOK, api.Envelope[Faults]{NodeID: h.src.Node().NodeID,
		Data: Faults{FsyncDelay: f.FsyncDelay.String(), FsyncError: broker.FsyncErrorName(f.FsyncError)}})
}
