package diagnose

import (
	"fmt"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Transactions' rules. A transaction is open on a partition from its first
// transactional batch until a COMMIT or ABORT marker; while it is, the
// partition's last stable offset (LSO) stays at its first offset and
// read_committed consumers read no further. No live transaction may stay
// open longer than the coordinators' maximum timeout: the coordinator
// aborts it first. One that does was lost by its coordinator (or its marker
// never arrived), and only an abort ends it.

// CodeHangingTransaction: a transaction open on a partition for longer than
// the maximum transaction timeout, holding the partition's LSO.
const CodeHangingTransaction = "HANGING_TRANSACTION"

// TxnMaxTimeoutSeconds is the longest --transaction-max-timeout any
// answering node reports (the coordinator of the transaction may be any of
// them; the longest never calls a live transaction hanging), or Kafka's
// default when none reports one.
func TxnMaxTimeoutSeconds(v api.ClusterView) float64 {
	out := 0.0
	for _, n := range v.Nodes {
		if n.Reachable() && n.Node != nil && n.Node.Transactions != nil {
			out = max(out, n.Node.Transactions.MaxTimeoutSeconds)
		}
	}
	if out <= 0 {
		return api.DefaultTxnMaxTimeoutSeconds
	}
	return out
}

// TxnAbortCommand is the command line that aborts the transaction open on
// topic-partition from firstOffset: the CLI finds the producer, its epoch
// and coordinator epoch there (DescribeProducers), as kafka-transactions.sh
// abort --start-offset does.
func TxnAbortCommand(topic string, partition int32, firstOffset int64) string {
	return fmt.Sprintf("chronik txn abort --topic %s --partition %d --start-offset %d", topic, partition, firstOffset)
}

// TxnHanging reports whether open transaction t is hanging: older than the
// maximum transaction timeout with the partition's last stable offset lso
// not past its first offset.
func TxnHanging(t api.OngoingTransaction, lso int64, maxTimeoutSeconds float64) bool {
	return t.AgeSeconds > maxTimeoutSeconds && lso <= t.FirstOffset
}

// ruleHangingTransaction: on the leader's answer for a partition, every
// ongoing transaction older than the maximum transaction timeout whose
// first offset holds the last stable offset (the LSO has not passed it).
// Only the leader's view counts: it alone writes markers, and a follower's
// copy of a transaction ends when the leader's marker reaches it.
func ruleHangingTransaction(in diagInput) []api.Finding {
	maxTimeout := TxnMaxTimeoutSeconds(in.view)
	var out []api.Finding
	for _, r := range in.rows {
		if r.LastStableOffset == nil || r.HighWatermark < 0 {
			continue // the leader did not answer, or is too old to say
		}
		lso := *r.LastStableOffset
		for _, t := range r.OngoingTransactions {
			if !TxnHanging(t, lso, maxTimeout) {
				continue
			}
			name := tpName(r.Topic, r.Partition)
			coord, coordEv := txnCoordinatorOf(in.view, t.ProducerID)
			f := api.Finding{
				Code:      CodeHangingTransaction,
				Severity:  api.SeverityCritical,
				Topic:     r.Topic,
				Partition: ptr32(r.Partition),
				Node:      ptr32(r.Leader),
				Message: fmt.Sprintf("a transaction of producer %d (epoch %d) has been open on %s for %s, longer than the maximum transaction timeout (%s): "+
					"the last stable offset is stuck at %d (high watermark %d), read_committed consumers read no further and leader node %d keeps it open until it is aborted",
					t.ProducerID, t.ProducerEpoch, name, roundAge(t.AgeSeconds), roundAge(maxTimeout), lso, r.HighWatermark, r.Leader),
				Evidence: map[string]any{
					"producer_id":         t.ProducerID,
					"producer_epoch":      t.ProducerEpoch,
					"first_offset":        t.FirstOffset,
					"last_offset":         t.LastOffset,
					"age_seconds":         t.AgeSeconds,
					"max_timeout_seconds": maxTimeout,
					"last_stable_offset":  lso,
					"high_watermark":      r.HighWatermark,
					"leader":              r.Leader,
				},
				NextStep: fmt.Sprintf("check that no producer still runs this transaction (`chronik txn find-hanging --topic %s` asks the coordinators), then abort it: `%s`",
					r.Topic, TxnAbortCommand(r.Topic, r.Partition, t.FirstOffset)),
				SeenBy: []int32{r.Source},
			}
			f.Message += coord
			for k, v := range coordEv {
				f.Evidence[k] = v
			}
			out = append(out, f)
		}
	}
	return out
}

// txnCoordinatorOf names what the answering nodes' coordinators say of
// producer pid: the transactional id, node and state of an open
// transaction of it, or that none of them has one open (which a silent
// node, or a coordinator listing only its oldest, leaves unknown).
func txnCoordinatorOf(v api.ClusterView, pid int64) (string, map[string]any) {
	complete := true
	for _, n := range v.Nodes {
		if !n.Reachable() || n.Node == nil || n.Node.Transactions == nil || n.Node.Transactions.Coordinator == nil {
			complete = false
			continue
		}
		c := n.Node.Transactions.Coordinator
		complete = complete && len(c.Open) == c.OpenTotal
		for _, t := range c.Open {
			if t.ProducerID == pid {
				id := viewNodeID(n)
				return fmt.Sprintf("; its coordinator, node %d, has transactional id %q %s for %s", id, t.TransactionalID, t.State, roundAge(t.OpenSeconds)),
					map[string]any{"transactional_id": t.TransactionalID, "coordinator": id, "coordinator_state": t.State}
			}
		}
	}
	if complete {
		return "; no coordinator has a transaction of this producer open", map[string]any{"coordinator": nil}
	}
	return "", nil
}
