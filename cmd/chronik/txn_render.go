package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// What `chronik txn` prints.

// txnSeconds prints a duration in seconds as "1m5s" ("-" for nil).
func txnSeconds(s *float64) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(*s * float64(time.Second))
	if d >= time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	return d.String()
}

// RenderTxnList prints `txn list`: one transactional id per row.
func RenderTxnList(w io.Writer, ls []api.TxnListing, opts TableOptions) error {
	t := NewTable(opts, "TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR", "DURATION")
	for _, l := range ls {
		t.Row(l.TransactionalID, strconv.FormatInt(l.ProducerID, 10), l.State, strconv.Itoa(int(l.Coordinator)), txnSeconds(l.DurationSeconds))
	}
	return t.Render(w)
}

// RenderTxnDescribe prints `txn describe`: a block per transactional id.
func RenderTxnDescribe(w io.Writer, ds []api.TxnDescription, now time.Time) error {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Transactional id: %s\n", d.TransactionalID)
		if d.Error != "" {
			fmt.Fprintf(&b, "  Error:          %s\n", d.Error)
			continue
		}
		fmt.Fprintf(&b, "  Coordinator:    %d\n", d.Coordinator)
		fmt.Fprintf(&b, "  State:          %s\n", d.State)
		fmt.Fprintf(&b, "  Producer:       id %d, epoch %d\n", d.ProducerID, d.ProducerEpoch)
		fmt.Fprintf(&b, "  Timeout:        %s\n", time.Duration(d.TimeoutMs)*time.Millisecond)
		if d.StartTimestampMs > 0 {
			start := time.UnixMilli(d.StartTimestampMs).UTC()
			open := max(now.Sub(start).Seconds(), 0)
			fmt.Fprintf(&b, "  Started:        %s (%s ago)\n", start.Format(time.RFC3339), txnSeconds(&open))
		} else {
			b.WriteString("  Started:        -\n")
		}
		parts := make([]string, 0, len(d.Partitions))
		for _, p := range d.Partitions {
			parts = append(parts, fmt.Sprintf("%s-%d", p.Topic, p.Partition))
		}
		if len(parts) == 0 {
			parts = []string{"-"}
		}
		fmt.Fprintf(&b, "  Partitions:     %s\n", strings.Join(parts, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RenderHangingTxns prints `txn find-hanging`: one hanging transaction
// per row, with the command that aborts it.
func RenderHangingTxns(w io.Writer, hs []api.HangingTransaction, opts TableOptions) error {
	t := NewTable(opts, "PARTITION", "LEADER", "PRODUCER-ID", "EPOCH", "COORDINATOR-EPOCH", "START-OFFSET", "LAST-WRITE", "TRANSACTIONAL-ID", "ABORT")
	for _, h := range hs {
		age := h.AgeSeconds
		id := h.TransactionalID
		if id == "" {
			id = "-"
		}
		t.Row(fmt.Sprintf("%s-%d", h.Topic, h.Partition), strconv.Itoa(int(h.Leader)), strconv.FormatInt(h.ProducerID, 10),
			strconv.Itoa(int(h.ProducerEpoch)), strconv.Itoa(int(h.CoordinatorEpoch)), strconv.FormatInt(h.FirstOffset, 10),
			txnSeconds(&age)+" ago", id, h.AbortCommand)
	}
	return t.Render(w)
}

// RenderTxnAbort says what `txn abort` did.
func RenderTxnAbort(w io.Writer, r api.AbortTransactionResult, node int32) error {
	_, err := fmt.Fprintf(w, "aborted the transaction of producer %d (epoch %d, coordinator epoch %d) on %s-%d through node %d; last stable offset now %d\n",
		r.ProducerID, r.ProducerEpoch, r.CoordinatorEpoch, r.Topic, r.Partition, node, r.LastStableOffset)
	return err
}
