package controller

import (
	"context"
	"sync"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
)

// offsetsTopicConfigs are the overrides __consumer_offsets is created with,
// as Kafka's: compacted, so a group's latest commit per partition stays for
// as long as the group keeps it and a coordinator's load replays live keys
// rather than all history; 100 MiB segments, so a segment rolls (and
// becomes cleanable) long before the 1 GiB default would.
func offsetsTopicConfigs() map[string]string {
	return map[string]string{"cleanup.policy": topicconfig.PolicyCompact, "segment.bytes": "104857600"}
}

// offsetsTopicUpgrade makes one node propose the compaction of an offsets
// topic created before it was compacted at most once at a time.
type offsetsTopicUpgrade struct{ mu sync.Mutex }

// upgradeOffsetsTopic compacts an __consumer_offsets created by an older
// version (time retention turned off instead of compaction): one raft
// command sets cleanup.policy=compact, keeping the other overrides. A topic
// whose cleanup.policy was set explicitly is left as it is: only its
// absence marks the old default. A failed proposal is logged and tried
// again on the next call; the topic serves either way.
func (c *Controller) upgradeOffsetsTopic(ctx context.Context, t *state.Topic) *state.Topic {
	if _, set := t.Configs["cleanup.policy"]; set {
		return t
	}
	c.offsetsUpgrade.mu.Lock()
	defer c.offsetsUpgrade.mu.Unlock()
	cur, ok := c.meta.State().Topics[OffsetsTopic]
	if !ok {
		return t // deleted meanwhile
	}
	if _, set := cur.Configs["cleanup.policy"]; set {
		return cur // done meanwhile
	}
	next := make(map[string]string, len(cur.Configs)+1)
	for k, v := range cur.Configs {
		next[k] = v
	}
	next["cleanup.policy"] = topicconfig.PolicyCompact
	if _, err := c.propose(ctx, state.TypeAlterTopicConfigs, state.AlterTopicConfigs{Name: OffsetsTopic, Configs: next}); err != nil {
		c.opts.Logger.Warn("could not make the offsets topic compacted; will try again", "topic", OffsetsTopic, "err", err)
		return cur
	}
	c.opts.Logger.Info("offsets topic created before compaction existed is now compacted (cleanup.policy=compact)",
		"topic", OffsetsTopic, "configs", next)
	if t, ok := c.meta.State().Topics[OffsetsTopic]; ok {
		return t
	}
	return cur
}

// internalPartitions is the partition count an internal topic is created
// with.
func (c *Controller) internalPartitions(name string) int32 {
	if name == TransactionStateTopic {
		if c.opts.TransactionStatePartitions > 0 {
			return c.opts.TransactionStatePartitions
		}
		return 50
	}
	return c.opts.OffsetsTopicPartitions
}
