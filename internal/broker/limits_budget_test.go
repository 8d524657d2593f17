package broker

import (
	"strings"
	"testing"
)

// TestPlanFileBudget: the open-files limit is split into a reserve, the
// segment file cache and three files per partition; a limit too small for
// even one partition is an error that says what to change, and an explicit
// --max-open-segment-files takes its share first.
func TestPlanFileBudget(t *testing.T) {
	tests := []struct {
		limit        uint64
		segmentFiles int
		want         fileBudget
	}{
		{512, 0, fileBudget{Limit: 512, Reserved: 128, SegmentFiles: 96, Partitions: 96}},
		{1024, 0, fileBudget{Limit: 1024, Reserved: 256, SegmentFiles: 192, Partitions: 192}},
		{65536, 0, fileBudget{Limit: 65536, Reserved: 16384, SegmentFiles: 12288, Partitions: 12288}},
		{1 << 20, 0, fileBudget{Limit: 1 << 20, Reserved: 1 << 18, SegmentFiles: 196608, Partitions: 196608}},
		{1024, 12, fileBudget{Limit: 1024, Reserved: 256, SegmentFiles: 12, Partitions: 252}},
		{100, 0, fileBudget{Limit: 100, Reserved: 64, SegmentFiles: 9, Partitions: 9}},
	}
	for _, tt := range tests {
		got, err := planFileBudget(tt.limit, tt.segmentFiles)
		if err != nil || got != tt.want {
			t.Errorf("planFileBudget(%d, %d) = %+v, %v; want %+v", tt.limit, tt.segmentFiles, got, err, tt.want)
		}
	}
	// Infinity is capped, not overflowed.
	if got, err := planFileBudget(^uint64(0), 0); err != nil || got.Partitions <= 0 {
		t.Errorf("planFileBudget(RLIM_INFINITY) = %+v, %v", got, err)
	}
	for _, tt := range []struct {
		limit        uint64
		segmentFiles int
	}{{64, 0}, {512, 400}} {
		_, err := planFileBudget(tt.limit, tt.segmentFiles)
		if err == nil || !strings.Contains(err.Error(), "ulimit -n") || !strings.Contains(err.Error(), "--max-open-segment-files") {
			t.Errorf("planFileBudget(%d, %d): %v, want an error naming ulimit -n and --max-open-segment-files", tt.limit, tt.segmentFiles, err)
		}
	}
}

// TestNodeLimitsFollowTheBudget: the controller's per-broker limit is the
// flag or what the open-files limit serves, whichever is smaller.
func TestNodeLimitsFollowTheBudget(t *testing.T) {
	n := &Node{cfg: DefaultConfig()}
	n.files, _ = planFileBudget(1024, 0)
	l := n.partitionLimits()
	if l.MaxPartitionsPerRequest != DefaultMaxPartitionsPerRequest || l.MaxPartitionsPerBroker != DefaultMaxPartitionsPerBroker ||
		l.HandlePartitions != 192 || l.FileHandleLimit != 1024 {
		t.Fatalf("limits %+v", l)
	}
}

// TestValidateResourceLimits: the limit flags and the segment size are
// checked at start-up and the error names the flag.
func TestValidateResourceLimits(t *testing.T) {
	for _, c := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.MaxPartitionsPerRequest = 0 }, "max-partitions-per-request"},
		{func(c *Config) { c.MaxPartitionsPerBroker = -1 }, "max-partitions-per-broker"},
		{func(c *Config) { c.MaxOpenSegmentFiles = 2 }, "max-open-segment-files"},
		{func(c *Config) { c.SegmentBytes = 1024 }, "segment-bytes: must be between 1048576"},
		{func(c *Config) { c.SegmentBytes = 1 << 31 }, "segment-bytes"},
	} {
		cfg := DefaultConfig()
		c.mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error mentioning %q", err, c.want)
		}
	}
	for _, ok := range []func(*Config){
		func(c *Config) { c.MaxOpenSegmentFiles = 0 },
		func(c *Config) { c.MaxOpenSegmentFiles = 3 },
		func(c *Config) { c.SegmentBytes = 1 << 20 },
	} {
		cfg := DefaultConfig()
		ok(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
