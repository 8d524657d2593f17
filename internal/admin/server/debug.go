package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Profiling routes (docs/admin-api.md, "Profiles and traces"). They are
// mounted on the admin mux by name. Importing net/http/pprof also registers
// its handlers, cmdline included, on http.DefaultServeMux: nothing in
// chronik may serve that mux. /debug/pprof/cmdline is left out on purpose:
// the command line carries flags, and flags carry secrets.
const debugPrefix = api.DebugPrefix

// deltaProfile reports whether net/http/pprof serves name as a delta.
func deltaProfile(name string) bool { return name != "threadcreate" }

// debugState is what the profiling routes share: the runtime allows one CPU
// profile and one execution trace per process, so each route runs one at a
// time and tells a second caller so (409) instead of net/http/pprof's 500.
// stop ends running profiles when the admin server shuts down, which would
// otherwise wait for them for up to a minute.
type debugState struct {
	cpuBusy, traceBusy atomic.Bool
	hookOnce           sync.Once
	stopOnce           sync.Once
	stop               chan struct{}
}

// registerDebug mounts the profiling routes on mux.
func registerDebug(mux *http.ServeMux, h *handler) {
	d := &debugState{stop: make(chan struct{})}
	// {$}: only the index itself; pprof.Index would serve any profile name
	// under the prefix, bypassing the list below.
	mux.HandleFunc(debugPrefix+"{$}", h.debug(d, func(w http.ResponseWriter, r *http.Request) { pprof.Index(w, r) }))
	mux.HandleFunc(debugPrefix+"profile", h.debug(d, d.timed(h, &d.cpuBusy, "CPU profile", api.DefaultCPUProfileSeconds, pprof.Profile)))
	mux.HandleFunc(debugPrefix+"trace", h.debug(d, d.timed(h, &d.traceBusy, "execution trace", api.DefaultTraceSeconds, pprof.Trace)))
	for _, name := range api.NamedProfiles() {
		mux.HandleFunc(debugPrefix+name, h.debug(d, d.named(h, name)))
	}
}

// debug admits GET with the admin credentials only: a profile shows memory
// contents (heap labels, goroutine stacks with arguments) and costs CPU, so
// it is privileged even where reads are open, and refused outright on a
// node with no admin credentials configured. HEAD is refused too: it would
// take a whole profile to throw it away.
func (h *handler) debug(d *debugState, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, admin := h.principal(r)
		switch {
		case r.Method != http.MethodGet:
			w.Header().Set("Allow", http.MethodGet)
			h.write(w, r, http.StatusMethodNotAllowed, api.Error{Code: api.CodeMethodNotAllowed,
				Message: r.Method + " " + r.URL.Path + " is not allowed; use GET"})
			return
		case h.mutationsOpen():
			h.write(w, r, http.StatusForbidden, api.Error{Code: api.CodeForbidden,
				Message: r.URL.Path + " is disabled: this node has no admin token or admin client certificates; start it with --admin-token (or CHRONIK_ADMIN_TOKEN) to profile it"})
			return
		case who == principalNone:
			w.Header().Set("WWW-Authenticate", `Bearer realm="chronik admin"`)
			h.write(w, r, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthorized,
				Message: r.URL.Path + " needs the admin token: send Authorization: Bearer <token> (chronik commands read it from --admin-token or CHRONIK_ADMIN_TOKEN)"})
			return
		case !admin:
			h.write(w, r, http.StatusForbidden, api.Error{Code: api.CodeForbidden,
				Message: r.URL.Path + " needs the admin token; the read token may not profile the node"})
			return
		}
		d.hookShutdown(r)
		h.log.Info("admin profile", "path", r.URL.Path, "query", r.URL.RawQuery, "remote", r.RemoteAddr, "principal", who)
		next(w, r)
	}
}

// hookShutdown has the server that carries r end running profiles when it
// shuts down (http.Server.Shutdown waits for handlers, and does not cancel
// their contexts).
func (d *debugState) hookShutdown(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	d.hookOnce.Do(func() {
		srv.RegisterOnShutdown(func() { d.stopOnce.Do(func() { close(d.stop) }) })
	})
}

// context is r's context, also cancelled when the server shuts down. The
// watcher goroutine ends with the context, which the caller cancels when
// its handler returns.
func (d *debugState) context(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// timed serves a CPU profile or trace: seconds validated and capped, one at
// a time. net/http/pprof extends the connection's write deadline by the
// duration (the admin server's WriteTimeout stays short for every other
// route), and stops early when the client goes away.
func (d *debugState) timed(h *handler, busy *atomic.Bool, what string, def int, serve http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sec, ok := h.seconds(w, r, def)
		if !ok {
			return
		}
		if !busy.CompareAndSwap(false, true) {
			h.write(w, r, http.StatusConflict, api.Error{Code: api.CodeConflict,
				Message: "another " + what + " of this node is running; only one runs at a time, try again when it ends"})
			return
		}
		defer busy.Store(false)
		ctx, cancel := d.context(r)
		defer cancel()
		r2 := r.Clone(ctx) // its own URL: the caller's request stays as it came
		q := r2.URL.Query()
		q.Set("seconds", strconv.Itoa(sec))
		r2.URL.RawQuery = q.Encode()
		serve(w, r2)
	}
}

// named serves a runtime profile by name: a snapshot, or a delta over
// ?seconds=N where the runtime supports one.
func (d *debugState) named(h *handler, name string) http.HandlerFunc {
	p := pprof.Handler(name)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("seconds") {
			if !deltaProfile(name) {
				h.write(w, r, http.StatusBadRequest, api.Error{Code: api.CodeBadRequest,
					Message: "seconds: the " + name + " profile has no delta form; leave seconds out for a snapshot"})
				return
			}
			if r.URL.Query().Has("debug") {
				h.write(w, r, http.StatusBadRequest, api.Error{Code: api.CodeBadRequest,
					Message: "seconds and debug cannot be combined: a delta profile is binary only"})
				return
			}
			if _, ok := h.seconds(w, r, 0); !ok {
				return
			}
		}
		ctx, cancel := d.context(r)
		defer cancel()
		p.ServeHTTP(w, r.WithContext(ctx))
	}
}

// seconds is the request's ?seconds (def when absent), a whole number in
// [1, api.MaxProfileSeconds]; otherwise it answers 400 itself.
func (h *handler) seconds(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	q := r.URL.Query()
	if !q.Has("seconds") {
		return def, true
	}
	raw := q.Get("seconds")
	sec, err := strconv.Atoi(raw)
	if err != nil || sec < 1 || sec > api.MaxProfileSeconds {
		h.write(w, r, http.StatusBadRequest, api.Error{Code: api.CodeBadRequest,
			Message: fmt.Sprintf("seconds must be a whole number from 1 to %d, got %q", api.MaxProfileSeconds, raw)})
		return 0, false
	}
	return sec, true
}
