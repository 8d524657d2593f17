package controller

import (
	"strconv"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Limits bound how many partitions metadata changes may add. Zero values
// mean no limit (tests of other things); the broker always sets them.
type Limits struct {
	// MaxPartitionsPerRequest bounds the partitions one CreateTopics or
	// CreatePartitions request adds, over all its topics, and the
	// partitions of one auto-created topic (--max-partitions-per-request).
	MaxPartitionsPerRequest int
	// MaxPartitionsPerBroker bounds the partition replicas any one broker
	// hosts, counted over the whole assignment after the change
	// (--max-partitions-per-broker).
	MaxPartitionsPerBroker int
	// HandlePartitions is how many partitions this node's open-files limit
	// can serve (each holds its active segment's files open); 0 when
	// unknown. The per-broker limit in force is the smaller of the two.
	HandlePartitions int
	// FileHandleLimit is that open-files limit (RLIMIT_NOFILE), for messages.
	FileHandleLimit uint64
}

// perBroker is the per-broker limit in force and the words that name it.
func (l Limits) perBroker() (int, string) {
	switch {
	case l.HandlePartitions > 0 && (l.MaxPartitionsPerBroker <= 0 || l.HandlePartitions < l.MaxPartitionsPerBroker):
		return l.HandlePartitions, "what the open-files limit of " + strconv.FormatUint(l.FileHandleLimit, 10) +
			" can serve (raise ulimit -n or lower --max-open-segment-files)"
	case l.MaxPartitionsPerBroker > 0:
		return l.MaxPartitionsPerBroker, "--max-partitions-per-broker"
	default:
		return 0, ""
	}
}

// TopicPartitions is how many partitions creating req would add: the
// explicit assignment's, the requested count, or the default for -1.
// Nothing is validated; a nonsensical count is refused later.
func (c *Controller) TopicPartitions(req CreateTopic, internal bool) int64 {
	switch {
	case len(req.Assignment) > 0:
		return int64(len(req.Assignment))
	case req.Partitions == -1 && internal:
		return int64(c.internalPartitions(req.Name))
	case req.Partitions == -1:
		return int64(c.opts.DefaultPartitions)
	default:
		return max(0, int64(req.Partitions)) // a negative count is refused later; it must not offset others
	}
}

// AddedPartitions is how many partitions growing topic to count would add
// (0 when it does not exist or would not grow).
func (c *Controller) AddedPartitions(topic string, count int32) int64 {
	t, ok := c.meta.State().Topics[topic]
	if !ok {
		return 0
	}
	return max(0, int64(count)-int64(len(t.Partitions)))
}

// CheckRequestPartitions refuses a request (or one topic of it) that adds
// more than MaxPartitionsPerRequest partitions, with POLICY_VIOLATION. It
// is cheap and runs before anything else, so a request for 100,000
// partitions is answered at once.
func (c *Controller) CheckRequestPartitions(what string, partitions int64) error {
	limit := c.opts.Limits.MaxPartitionsPerRequest
	if limit > 0 && partitions > int64(limit) {
		return errorf(kerr.PolicyViolation, "%s: %d partitions in one request is above the limit of %d (--max-partitions-per-request)",
			what, partitions, limit)
	}
	return nil
}

// checkBrokerLoad refuses a change that would make any broker host more
// partition replicas than the per-broker limit, with POLICY_VIOLATION.
func (c *Controller) checkBrokerLoad(s *state.State, what string, added [][]int32) error {
	limit, name := c.opts.Limits.perBroker()
	if limit <= 0 {
		return nil
	}
	adds := map[int32]int{}
	for _, replicas := range added {
		for _, r := range replicas {
			adds[r]++
		}
	}
	hosted := make(map[int32]int, len(adds))
	for _, t := range s.Topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				if _, ok := adds[r]; ok {
					hosted[r]++
				}
			}
		}
	}
	worst, worstID := -1, int32(-1)
	for id, n := range adds {
		if total := hosted[id] + n; total > limit && (total > worst || total == worst && id < worstID) {
			worst, worstID = total, id
		}
	}
	if worst < 0 {
		return nil
	}
	return errorf(kerr.PolicyViolation, "%s: broker %d would host %d partition replicas (%d now + %d new), above the limit of %d per broker (%s)",
		what, worstID, worst, hosted[worstID], adds[worstID], limit, name)
}
