package broker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/meta"
)

// FlushPolicy says when a partition log fsyncs appended batches.
type FlushPolicy string

const (
	// FlushAlways fsyncs (group commit) before a batch counts as appended.
	FlushAlways FlushPolicy = "always"
	// FlushInterval fsyncs every FlushInterval; a crash may lose the last interval.
	FlushInterval FlushPolicy = "interval"
	// FlushNever leaves flushing to the operating system (Kafka's default trade-off).
	FlushNever FlushPolicy = "never"
)

// Config is everything a node needs to run. cmd/chronik fills it from flags,
// CHRONIK_* environment variables and the config file; tests fill it directly.
type Config struct {
	NodeID             int32
	DataDir            string
	KafkaAddr          string // listen address, e.g. ":9092"; ":0" picks a free port
	AdvertiseKafkaAddr string // host:port clients are told to use; empty = localhost:<bound port>
	AdminAddr          string // admin HTTP listen address; empty disables it

	LogFlush         FlushPolicy
	LogFlushInterval time.Duration

	MaxRequestBytes int32 // largest request frame accepted

	AutoCreateTopics  bool
	DefaultPartitions int32

	// Broker-wide defaults for topic configs (each can be overridden per topic).
	MaxMessageBytes   int32
	SegmentBytes      int64
	SegmentMs         int64
	RetentionMs       int64
	RetentionBytes    int64
	MinInsyncReplicas int32

	RetentionCheckInterval time.Duration

	OffsetsTopicPartitions     int32
	GroupInitialRebalanceDelay time.Duration
	GroupMinSessionTimeout     time.Duration
	GroupMaxSessionTimeout     time.Duration

	Logger *slog.Logger
}

// DefaultConfig returns the configuration `chronik serve` uses with no flags.
func DefaultConfig() Config {
	return Config{
		NodeID:                     1,
		DataDir:                    "./chronik-data",
		KafkaAddr:                  ":9092",
		AdminAddr:                  "127.0.0.1:9644",
		LogFlush:                   FlushAlways,
		LogFlushInterval:           time.Second,
		MaxRequestBytes:            100 << 20,
		AutoCreateTopics:           true,
		DefaultPartitions:          1,
		MaxMessageBytes:            1048588,
		SegmentBytes:               1 << 30,
		SegmentMs:                  7 * 24 * 3600 * 1000,
		RetentionMs:                7 * 24 * 3600 * 1000,
		RetentionBytes:             -1,
		MinInsyncReplicas:          1,
		RetentionCheckInterval:     5 * time.Minute,
		OffsetsTopicPartitions:     50,
		GroupInitialRebalanceDelay: 3 * time.Second,
		GroupMinSessionTimeout:     6 * time.Second,
		GroupMaxSessionTimeout:     30 * time.Minute,
	}
}

// Validate reports the first invalid setting, naming it the way the flag does.
func (c *Config) Validate() error {
	switch {
	case c.NodeID < 0:
		return fmt.Errorf("node-id: must be >= 0, got %d", c.NodeID)
	case c.DataDir == "":
		return fmt.Errorf("data-dir: must not be empty")
	case c.KafkaAddr == "":
		return fmt.Errorf("kafka-addr: must not be empty")
	case c.MaxRequestBytes < 1024:
		return fmt.Errorf("max-request-bytes: must be >= 1024, got %d", c.MaxRequestBytes)
	case c.DefaultPartitions < 1:
		return fmt.Errorf("default-partitions: must be >= 1, got %d", c.DefaultPartitions)
	case c.OffsetsTopicPartitions < 1:
		return fmt.Errorf("offsets-topic-partitions: must be >= 1, got %d", c.OffsetsTopicPartitions)
	case c.MaxMessageBytes < 1:
		return fmt.Errorf("max-message-bytes: must be >= 1, got %d", c.MaxMessageBytes)
	case c.SegmentBytes < 1024:
		return fmt.Errorf("segment-bytes: must be >= 1024, got %d", c.SegmentBytes)
	case c.RetentionCheckInterval <= 0:
		return fmt.Errorf("retention-check-interval: must be > 0")
	}
	switch c.LogFlush {
	case FlushAlways, FlushNever:
	case FlushInterval:
		if c.LogFlushInterval <= 0 {
			return fmt.Errorf("log-flush-interval: must be > 0 with --log-flush=interval")
		}
	default:
		return fmt.Errorf("log-flush: must be always, interval or never, got %q", c.LogFlush)
	}
	return nil
}

func (c *Config) topicDefaults() meta.TopicConfig {
	return meta.TopicConfig{
		RetentionMs:       c.RetentionMs,
		RetentionBytes:    c.RetentionBytes,
		SegmentBytes:      c.SegmentBytes,
		SegmentMs:         c.SegmentMs,
		MinInsyncReplicas: c.MinInsyncReplicas,
		MaxMessageBytes:   c.MaxMessageBytes,
		CleanupPolicy:     "delete",
	}
}

// brokerConfigEntries is what DescribeConfigs shows for this broker, named
// like Kafka's broker configs so existing tools understand them.
func (c *Config) brokerConfigEntries() []kafka.ConfigEntry {
	d := DefaultConfig()
	entry := func(name string, v, def any) kafka.ConfigEntry {
		return kafka.ConfigEntry{Name: name, Value: fmt.Sprint(v), IsDefault: fmt.Sprint(v) == fmt.Sprint(def)}
	}
	return []kafka.ConfigEntry{
		entry("broker.id", c.NodeID, d.NodeID),
		entry("log.dirs", c.DataDir, d.DataDir),
		entry("auto.create.topics.enable", c.AutoCreateTopics, d.AutoCreateTopics),
		entry("num.partitions", c.DefaultPartitions, d.DefaultPartitions),
		entry("default.replication.factor", 1, 1),
		entry("min.insync.replicas", c.MinInsyncReplicas, d.MinInsyncReplicas),
		entry("message.max.bytes", c.MaxMessageBytes, d.MaxMessageBytes),
		entry("log.segment.bytes", c.SegmentBytes, d.SegmentBytes),
		entry("log.roll.ms", c.SegmentMs, d.SegmentMs),
		entry("log.retention.ms", c.RetentionMs, d.RetentionMs),
		entry("log.retention.bytes", c.RetentionBytes, d.RetentionBytes),
		entry("log.retention.check.interval.ms", c.RetentionCheckInterval.Milliseconds(), d.RetentionCheckInterval.Milliseconds()),
		entry("socket.request.max.bytes", c.MaxRequestBytes, d.MaxRequestBytes),
		entry("offsets.topic.num.partitions", c.OffsetsTopicPartitions, d.OffsetsTopicPartitions),
		entry("group.initial.rebalance.delay.ms", c.GroupInitialRebalanceDelay.Milliseconds(), d.GroupInitialRebalanceDelay.Milliseconds()),
		entry("group.min.session.timeout.ms", c.GroupMinSessionTimeout.Milliseconds(), d.GroupMinSessionTimeout.Milliseconds()),
		entry("group.max.session.timeout.ms", c.GroupMaxSessionTimeout.Milliseconds(), d.GroupMaxSessionTimeout.Milliseconds()),
		entry("chronik.log.flush", c.LogFlush, d.LogFlush),
	}
}
