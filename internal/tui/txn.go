package tui

import (
	"fmt"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// The detail view's lines on transactions: the leader's last stable
// offset, and each transaction open on the partition with its producer and
// age; a hanging one (doctor's HANGING_TRANSACTION) in red with the command
// that aborts it.

// txnLimit bounds the open transactions listed; the rest are counted.
const txnLimit = 8

// txnLines are nil when the leader did not say (it did not answer, or is
// too old to report transactions).
func (m *Model) txnLines(r api.PartitionRow) []string {
	if r.LastStableOffset == nil {
		return nil
	}
	lso := *r.LastStableOffset
	line := fmt.Sprintf("LSO %d", lso)
	n := len(r.OngoingTransactions)
	if n == 0 {
		return []string{line + "  no open transactions"}
	}
	out := []string{fmt.Sprintf("%s  %d open %s (read_committed consumers stop at the LSO)", line, n, plural(n, "transaction", "transactions"))}
	maxTimeout := diagnose.TxnMaxTimeoutSeconds(m.cluster)
	for i, t := range r.OngoingTransactions {
		if i == txnLimit {
			out = append(out, m.st.paint(stFaint, fmt.Sprintf("  … and %d more", len(r.OngoingTransactions)-txnLimit)))
			break
		}
		age := time.Duration(t.AgeSeconds * float64(time.Second)).Round(time.Second)
		l := fmt.Sprintf("  txn producer %d epoch %d  offsets %d-%d  open %s", t.ProducerID, t.ProducerEpoch, t.FirstOffset, t.LastOffset, age)
		if diagnose.TxnHanging(t, lso, maxTimeout) {
			l = m.st.paint(stRed, fmt.Sprintf("%s  ✗ hanging (max timeout %s): %s", l,
				time.Duration(maxTimeout*float64(time.Second)), diagnose.TxnAbortCommand(r.Topic, r.Partition, t.FirstOffset)))
		}
		out = append(out, l)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
