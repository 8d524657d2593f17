package broker

import (
	"log/slog"
	"runtime"
	"testing"
)

func TestApplyProfiling(t *testing.T) {
	// The mutex fraction can be read back (SetMutexProfileFraction(-1));
	// the block rate cannot, so only its validation is checked.
	was := runtime.SetMutexProfileFraction(-1)
	t.Cleanup(func() { runtime.SetMutexProfileFraction(was) })
	logger := slog.New(slog.DiscardHandler)

	runtime.SetMutexProfileFraction(3)
	applyProfiling(Config{}, logger)
	if got := runtime.SetMutexProfileFraction(-1); got != 3 {
		t.Errorf("a node with the default 0 changed the process's mutex fraction to %d, want it left at 3", got)
	}
	applyProfiling(Config{ProfileMutexFraction: 7}, logger)
	if got := runtime.SetMutexProfileFraction(-1); got != 7 {
		t.Errorf("mutex fraction %d after ProfileMutexFraction 7", got)
	}

	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, c := range []Config{{ProfileBlockRate: -1}, {ProfileMutexFraction: -1}} {
		cfg := DefaultConfig()
		cfg.ProfileBlockRate, cfg.ProfileMutexFraction = c.ProfileBlockRate, c.ProfileMutexFraction
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate accepted block rate %d, mutex fraction %d", c.ProfileBlockRate, c.ProfileMutexFraction)
		}
	}
}
