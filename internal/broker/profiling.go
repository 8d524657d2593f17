package broker

import (
	"log/slog"
	"runtime"
)

// applyProfiling turns on the block and mutex profiles cfg asks for. The
// rates are process-wide, not per node: a node sets them once as it starts
// and owns them from then on. A rate of 0 is left alone rather than set, so
// one node of an in-process cluster (or `go test -blockprofile`) is not
// turned off by another started with the default; in `chronik serve`, the
// only node of its process, 0 is the runtime's own default, off.
func applyProfiling(cfg Config, logger *slog.Logger) {
	if cfg.ProfileBlockRate > 0 {
		runtime.SetBlockProfileRate(int(cfg.ProfileBlockRate))
		logger.Info("block profile on", "rate_ns", cfg.ProfileBlockRate)
	}
	if cfg.ProfileMutexFraction > 0 {
		runtime.SetMutexProfileFraction(int(cfg.ProfileMutexFraction))
		logger.Info("mutex profile on", "fraction", cfg.ProfileMutexFraction)
	}
}
