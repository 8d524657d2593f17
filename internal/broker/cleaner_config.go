package broker

import (
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
)

// MinLogCleanerDedupeBufferSize is the smallest --log-cleaner-dedupe-buffer-size:
// Kafka's floor of 1 MiB per cleaner thread. Less would map so few keys per
// pass that cleaning a partition takes many passes.
const MinLogCleanerDedupeBufferSize = 1 << 20

// validateCleaner checks the compaction defaults with the topic configs'
// own rules, and the cleaner's settings; errors name the flag.
func (c *Config) validateCleaner() error {
	for _, s := range []struct{ flag, key, value string }{
		{"cleanup-policy", "cleanup.policy", c.CleanupPolicy},
		{"min-cleanable-dirty-ratio", "min.cleanable.dirty.ratio", fmt.Sprint(c.MinCleanableDirtyRatio)},
		{"min-compaction-lag-ms", "min.compaction.lag.ms", fmt.Sprint(c.MinCompactionLagMs)},
		{"max-compaction-lag-ms", "max.compaction.lag.ms", fmt.Sprint(c.MaxCompactionLagMs)},
		{"delete-retention-ms", "delete.retention.ms", fmt.Sprint(c.DeleteRetentionMs)},
	} {
		// Checked alone, on top of Kafka's defaults: the lags' order is
		// checked below, between the two flags.
		base := topicconfig.Config{MaxCompactionLagMs: topicconfig.DefaultMaxCompactionLagMs}
		if _, err := topicconfig.Resolve(base, map[string]string{s.key: s.value}); err != nil {
			return fmt.Errorf("%s: %w", s.flag, err)
		}
	}
	switch {
	case c.MaxCompactionLagMs < c.MinCompactionLagMs:
		return fmt.Errorf("max-compaction-lag-ms: %d is below min-compaction-lag-ms %d", c.MaxCompactionLagMs, c.MinCompactionLagMs)
	case c.LogCleanerDedupeBufferSize < MinLogCleanerDedupeBufferSize:
		return fmt.Errorf("log-cleaner-dedupe-buffer-size: must be at least %d (1 MiB), got %d", MinLogCleanerDedupeBufferSize, c.LogCleanerDedupeBufferSize)
	case c.LogCleanerIOMaxBytesPerSecond < 0:
		return fmt.Errorf("log-cleaner-io-max-bytes-per-second: must be >= 0 (0: unlimited), got %d", c.LogCleanerIOMaxBytesPerSecond)
	case c.LogCleanerBackoff <= 0:
		return fmt.Errorf("log-cleaner-backoff: must be > 0, got %v", c.LogCleanerBackoff)
	}
	return nil
}

// cleanupPolicy is --cleanup-policy parsed; Validate has checked it.
func (c *Config) cleanupPolicy() partlog.CleanupPolicy {
	p, err := topicconfig.ParseCleanupPolicy(c.CleanupPolicy)
	if err != nil {
		return partlog.CleanupDelete
	}
	return p
}

// cleanerOptions is what the node's log cleaner runs with.
func (c *Config) cleanerOptions() replica.CleanerOptions {
	return replica.CleanerOptions{
		Enabled:             c.LogCleanerEnable,
		Backoff:             c.LogCleanerBackoff,
		DedupeBufferBytes:   c.LogCleanerDedupeBufferSize,
		IOMaxBytesPerSecond: float64(c.LogCleanerIOMaxBytesPerSecond),
	}
}
