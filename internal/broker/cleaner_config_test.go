package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// TestValidateCleanerSettings: each bad compaction default or cleaner
// setting is refused with an error naming its flag; good ones reach the
// topic defaults and the cleaner's options.
func TestValidateCleanerSettings(t *testing.T) {
	for _, c := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.CleanupPolicy = "compacted" }, "cleanup-policy"},
		{func(c *Config) { c.CleanupPolicy = "" }, "cleanup-policy"},
		{func(c *Config) { c.MinCleanableDirtyRatio = 1.5 }, "min-cleanable-dirty-ratio"},
		{func(c *Config) { c.MinCleanableDirtyRatio = -0.01 }, "min-cleanable-dirty-ratio"},
		{func(c *Config) { c.MinCompactionLagMs = -1 }, "min-compaction-lag-ms"},
		{func(c *Config) { c.MaxCompactionLagMs = 0 }, "max-compaction-lag-ms"},
		{func(c *Config) { c.MinCompactionLagMs, c.MaxCompactionLagMs = 10, 9 }, "max-compaction-lag-ms: 9 is below min-compaction-lag-ms 10"},
		{func(c *Config) { c.DeleteRetentionMs = -1 }, "delete-retention-ms"},
		{func(c *Config) { c.LogCleanerDedupeBufferSize = 1<<20 - 1 }, "log-cleaner-dedupe-buffer-size"},
		{func(c *Config) { c.LogCleanerIOMaxBytesPerSecond = -1 }, "log-cleaner-io-max-bytes-per-second"},
		{func(c *Config) { c.LogCleanerBackoff = 0 }, "log-cleaner-backoff"},
	} {
		cfg := DefaultConfig()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error mentioning %q", err, c.want)
		}
	}

	cfg := DefaultConfig()
	cfg.CleanupPolicy = "delete, compact"
	cfg.MinCleanableDirtyRatio = 0.2
	cfg.MinCompactionLagMs, cfg.MaxCompactionLagMs, cfg.DeleteRetentionMs = 5, 50, 500
	cfg.LogCleanerBackoff, cfg.LogCleanerIOMaxBytesPerSecond = time.Second, 4096
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := cfg.topicDefaults()
	if d.CleanupPolicy != partlog.CleanupCompactDelete || d.MinCleanableDirtyRatio != 0.2 || d.MinCompactionLagMs != 5 || d.MaxCompactionLagMs != 50 || d.DeleteRetentionMs != 500 {
		t.Fatalf("topic defaults %+v", d)
	}
	o := cfg.cleanerOptions()
	if !o.Enabled || o.Backoff != time.Second || o.IOMaxBytesPerSecond != 4096 || o.DedupeBufferBytes != 128<<20 {
		t.Fatalf("cleaner options %+v", o)
	}
	dc := DefaultConfig()
	def := dc.topicDefaults()
	if def.CleanupPolicy != partlog.CleanupDelete || def.MinCleanableDirtyRatio != 0.5 || def.DeleteRetentionMs != 86400000 {
		t.Fatalf("default topic defaults %+v", def)
	}
}
