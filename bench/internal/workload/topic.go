package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicPoll is how often CreateTopic asks again while the cluster forms.
const topicPoll = 50 * time.Millisecond

// CreateTopic creates topic with the given partitions, replication factor
// and min.insync.replicas, retrying while the cluster is still forming (a
// TOPIC_ALREADY_EXISTS on a retry means an earlier attempt worked), then
// waits until every partition has a leader and all replicas in its ISR. It
// returns the partitions as the metadata that showed them so. ctx bounds
// the whole; the error then says what was last seen.
func CreateTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, replicas int16, minISR int) (kadm.PartitionDetails, error) {
	tick := time.NewTicker(topicPoll)
	defer tick.Stop()
	var last error // the last answer not cut short by ctx's end
	wait := func(what string, err error) error {
		if ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				return fmt.Errorf("%s: %w", what, ctx.Err())
			}
			return fmt.Errorf("%s: %w (last: %w)", what, ctx.Err(), last)
		case <-tick.C:
			return nil
		}
	}

	what := fmt.Sprintf("create topic %s (partitions %d, replication factor %d, min.insync.replicas %d)", topic, partitions, replicas, minISR)
	configs := map[string]*string{"min.insync.replicas": kadm.StringPtr(strconv.Itoa(minISR))}
	for {
		_, err := adm.CreateTopic(ctx, partitions, replicas, configs, topic)
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			break
		}
		if err := wait(what, err); err != nil {
			return nil, err
		}
	}

	what = fmt.Sprintf("wait for every partition of %s to have a leader and all %d replicas in its ISR", topic, replicas)
	last = nil
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			var pds kadm.PartitionDetails
			if pds, err = fullISR(md, topic, partitions, int(replicas)); err == nil {
				return pds, nil
			}
		}
		if err := wait(what, err); err != nil {
			return nil, err
		}
	}
}

// fullISR returns topic's partitions if each of the first n has a leader
// and an ISR of replicas, or else what is missing.
func fullISR(md kadm.Metadata, topic string, n int32, replicas int) (kadm.PartitionDetails, error) {
	t, ok := md.Topics[topic]
	switch {
	case !ok:
		return nil, fmt.Errorf("topic %s missing from metadata", topic)
	case t.Err != nil:
		return nil, fmt.Errorf("topic %s: %w", topic, t.Err)
	}
	for p := range n {
		pd, ok := t.Partitions[p]
		switch {
		case !ok:
			return nil, fmt.Errorf("partition %d missing from metadata", p)
		case pd.Err != nil:
			return nil, fmt.Errorf("partition %d: %w", p, pd.Err)
		case pd.Leader < 0 || len(pd.ISR) != replicas:
			return nil, fmt.Errorf("partition %d: leader %d, replicas %v, ISR %v", p, pd.Leader, pd.Replicas, pd.ISR)
		}
	}
	return t.Partitions, nil
}
