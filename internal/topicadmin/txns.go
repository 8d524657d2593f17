package topicadmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Transactions over the Kafka protocol (ListTransactions,
// DescribeTransactions, DescribeProducers; KIP-664), as
// kafka-transactions.sh reads them, so `chronik txn` works against any
// Kafka-compatible cluster.

// Transaction states as coordinators name them.
const (
	TxnStateOngoing       = "Ongoing"
	TxnStatePrepareCommit = "PrepareCommit"
	TxnStatePrepareAbort  = "PrepareAbort"
)

// txnOpen reports whether a coordinator's state means a transaction is
// open (its markers are not all written).
func txnOpen(state string) bool {
	return state == TxnStateOngoing || state == TxnStatePrepareCommit || state == TxnStatePrepareAbort
}

// ListTransactions lists the transactional ids of every coordinator, only
// those in states and of producerIDs when given, sorted by id. An open
// transaction's duration comes from DescribeTransactions.
func (c *Client) ListTransactions(ctx context.Context, states []string, producerIDs []int64, now time.Time) ([]api.TxnListing, error) {
	const op = "list transactions"
	listed, err := c.adm.ListTransactions(ctx, producerIDs, states)
	if err != nil {
		return nil, c.explainAPI(ctx, op, "ListTransactions", err, "")
	}
	out := make([]api.TxnListing, 0, len(listed))
	var open []string
	for _, l := range listed.Sorted() {
		out = append(out, api.TxnListing{TransactionalID: l.TxnID, ProducerID: l.ProducerID, State: l.State, Coordinator: l.Coordinator})
		if txnOpen(l.State) {
			open = append(open, l.TxnID)
		}
	}
	if len(open) == 0 {
		return out, nil
	}
	described, err := c.adm.DescribeTransactions(ctx, open...)
	if err != nil && len(described) == 0 {
		return nil, c.explainAPI(ctx, op, "DescribeTransactions", err, "")
	}
	for i := range out {
		if d, ok := described[out[i].TransactionalID]; ok && d.Err == nil && d.StartTimestamp > 0 {
			s := max(now.Sub(time.UnixMilli(d.StartTimestamp)).Seconds(), 0)
			out[i].DurationSeconds = &s
		}
	}
	return out, nil
}

// DescribeTransactions describes the transactional ids at their
// coordinators, in the order given; an id a coordinator refuses carries
// its error.
func (c *Client) DescribeTransactions(ctx context.Context, ids []string) ([]api.TxnDescription, error) {
	described, err := c.adm.DescribeTransactions(ctx, ids...)
	if err != nil && len(described) == 0 {
		return nil, c.explainAPI(ctx, "describe transactions", "DescribeTransactions", err, "")
	}
	out := make([]api.TxnDescription, 0, len(ids))
	for _, id := range ids {
		d, ok := described[id]
		if !ok {
			msg := "no coordinator answered for it"
			if err != nil {
				msg = err.Error()
			}
			out = append(out, api.TxnDescription{TransactionalID: id, Coordinator: -1, StartTimestampMs: -1, Partitions: []api.TopicPartition{}, Error: msg})
			continue
		}
		out = append(out, describedTxn(d))
	}
	return out, nil
}

func describedTxn(d kadm.DescribedTransaction) api.TxnDescription {
	t := api.TxnDescription{TransactionalID: d.TxnID, Coordinator: d.Coordinator, State: d.State, ProducerID: d.ProducerID,
		ProducerEpoch: d.ProducerEpoch, TimeoutMs: d.TimeoutMillis, StartTimestampMs: d.StartTimestamp, Partitions: []api.TopicPartition{}}
	if d.Err != nil {
		t.Error = d.Err.Error()
	}
	if t.StartTimestampMs <= 0 {
		t.StartTimestampMs = -1
	}
	for topic, ps := range d.Topics {
		for p := range ps {
			t.Partitions = append(t.Partitions, api.TopicPartition{Topic: topic, Partition: p})
		}
	}
	slices.SortFunc(t.Partitions, func(a, b api.TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return t
}

// HangingQuery says where FindHanging looks: one topic's partitions, or
// those one broker leads (Broker >= 0), or every partition.
type HangingQuery struct {
	Topic      string
	Broker     int32 // -1: any
	MaxTimeout time.Duration
	Now        time.Time
}

// FindHanging finds hanging transactions as kafka-transactions.sh
// find-hanging does: DescribeProducers on the partitions, the open
// transactions whose producer last wrote longer than MaxTimeout ago, and of
// those the ones no coordinator has open with that partition in it.
func (c *Client) FindHanging(ctx context.Context, q HangingQuery) ([]api.HangingTransaction, error) {
	const op = "find hanging transactions"
	set := kadm.TopicsSet{}
	if q.Topic != "" || q.Broker >= 0 {
		var topics []string
		if q.Topic != "" {
			topics = []string{q.Topic}
		}
		md, err := c.adm.Metadata(ctx, topics...)
		if err != nil {
			return nil, c.explain(ctx, op, q.Topic, err, "")
		}
		for _, t := range md.Topics {
			if t.Err != nil {
				return nil, c.explain(ctx, op, t.Topic, t.Err, "")
			}
			for _, p := range t.Partitions {
				if q.Broker < 0 || p.Leader == q.Broker {
					set.Add(t.Topic, p.Partition)
				}
			}
		}
		if len(set) == 0 {
			return []api.HangingTransaction{}, nil
		}
	}
	described, err := c.adm.DescribeProducers(ctx, set)
	if err != nil && len(described) == 0 {
		return nil, c.explainAPI(ctx, op, "DescribeProducers", err, "")
	}
	var failed []error
	var candidates []kadm.DescribedProducer
	for _, p := range described.SortedPartitions() {
		if p.Err != nil {
			failed = append(failed, fmt.Errorf("%s-%d: %w", p.Topic, p.Partition, p.Err))
			continue
		}
		for _, pr := range p.ActiveProducers.Sorted() {
			pr.Leader = p.Leader
			candidates = append(candidates, pr)
		}
	}
	if len(failed) > 0 {
		return nil, c.newError(op, "", fmt.Errorf("DescribeProducers failed for some partitions (none of them is checked): %w", errors.Join(failed...)))
	}
	candidates = oldOpenTxns(candidates, q.MaxTimeout, q.Now)
	if len(candidates) == 0 {
		return []api.HangingTransaction{}, nil
	}
	var pids []int64
	for _, pr := range candidates {
		if !slices.Contains(pids, pr.ProducerID) {
			pids = append(pids, pr.ProducerID)
		}
	}
	listed, err := c.adm.ListTransactions(ctx, pids, nil)
	if err != nil {
		// A coordinator that did not answer could have any of them open:
		// calling them hanging would invite aborting a live transaction.
		return nil, c.explainAPI(ctx, op, "ListTransactions", err, "")
	}
	var ids []string
	for _, l := range listed.Sorted() {
		ids = append(ids, l.TxnID)
	}
	var txns kadm.DescribedTransactions
	if len(ids) > 0 {
		if txns, err = c.adm.DescribeTransactions(ctx, ids...); err != nil {
			return nil, c.explainAPI(ctx, op, "DescribeTransactions", err, "")
		}
	}
	return hangingOf(candidates, listed, txns, q.Now), nil
}

// oldOpenTxns keeps the producers with a transaction open whose last write
// is older than maxTimeout.
func oldOpenTxns(ps []kadm.DescribedProducer, maxTimeout time.Duration, now time.Time) []kadm.DescribedProducer {
	var out []kadm.DescribedProducer
	for _, p := range ps {
		if p.CurrentTxnStartOffset >= 0 && p.LastTimestamp > 0 && now.Sub(time.UnixMilli(p.LastTimestamp)) > maxTimeout {
			out = append(out, p)
		}
	}
	return out
}

// hangingOf is the candidates no coordinator has open with the partition
// in it: its producer id is not listed, or its transaction there is not
// open (Ongoing, PrepareCommit, PrepareAbort), or does not include the
// partition.
func hangingOf(cands []kadm.DescribedProducer, listed kadm.ListedTransactions, txns kadm.DescribedTransactions, now time.Time) []api.HangingTransaction {
	byPID := map[int64]kadm.ListedTransaction{}
	for _, l := range listed {
		byPID[l.ProducerID] = l
	}
	out := []api.HangingTransaction{}
	for _, p := range cands {
		h := api.HangingTransaction{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, ProducerID: p.ProducerID,
			ProducerEpoch: p.ProducerEpoch, CoordinatorEpoch: max(p.CoordinatorEpoch, 0), FirstOffset: p.CurrentTxnStartOffset,
			AgeSeconds: max(now.Sub(time.UnixMilli(p.LastTimestamp)).Seconds(), 0)}
		if l, ok := byPID[p.ProducerID]; ok {
			h.TransactionalID = l.TxnID
			d, described := txns[l.TxnID]
			if described && d.Err == nil && d.ProducerID == p.ProducerID && txnOpen(d.State) && d.Topics.Lookup(p.Topic, p.Partition) {
				continue // its coordinator will end it
			}
		}
		h.AbortCommand = fmt.Sprintf("chronik txn abort --topic %s --partition %d --producer-id %d --producer-epoch %d --coordinator-epoch %d",
			h.Topic, h.Partition, h.ProducerID, h.ProducerEpoch, h.CoordinatorEpoch)
		out = append(out, h)
	}
	return out
}
