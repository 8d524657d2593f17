package api

// CodeForbidden: the request is refused whoever asks again with the same
// credentials (the read token asking for a profile; profiling a node that
// has no admin token configured).
const CodeForbidden = "forbidden"

// MaxProfileSeconds caps the duration of a CPU profile, an execution trace
// or a delta profile from /debug/pprof/: longer holds a connection and costs
// CPU for longer than any diagnosis needs.
const MaxProfileSeconds = 60

// Durations of a CPU profile and an execution trace asked for without
// ?seconds (net/http/pprof's defaults).
const (
	DefaultCPUProfileSeconds = 30
	DefaultTraceSeconds      = 1
)

// DebugPrefix starts the profiling routes: DebugPrefix+"profile" (CPU),
// DebugPrefix+"trace" (execution trace) and DebugPrefix+name for each of
// NamedProfiles.
const DebugPrefix = "/debug/pprof/"

// NamedProfiles are the runtime profiles served by name (snapshots, or
// deltas with ?seconds=N), in help order. A function, so no caller can
// change the list for everyone.
func NamedProfiles() []string {
	return []string{"heap", "allocs", "goroutine", "block", "mutex", "threadcreate"}
}
