package kafka

// ListTransactions, versions 0-1.
//
// KIP-664; v1 adds the duration filter of KIP-994. Lists the transactional ids coordinated here (this node's loaded
// partitions of __transaction_state) that the caller may DESCRIBE, filtered
// by state names (unknown names are returned in UnknownStateFilters and
// match nothing), producer ids and, from v1, transactions open longer than
// DurationFilterMillis (-1: no filter; ids without an open transaction never
// pass a duration filter). While a partition loads the answer is
// COORDINATOR_LOAD_IN_PROGRESS with nothing listed, as Kafka's.

import (
	"context"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listTransactionsAPI declares ListTransactions (key 66): its served versions and handler.
func (b *Backend) listTransactionsAPI() served {
	return served{key: 66, API: API{Min: 0, Max: 1, Handle: b.handleListTransactions}}
}

// txnStates are the state names ListTransactions filters by.
var txnStates = []txn.State{txn.StateEmpty, txn.StateOngoing, txn.StatePrepareCommit, txn.StatePrepareAbort,
	txn.StateCompleteCommit, txn.StateCompleteAbort, txn.StateDead, txn.StatePrepareEpochFence}

func (b *Backend) handleListTransactions(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := respond[*kmsg.ListTransactionsResponse](req)
	if b.Txn == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return done(resp)
	}
	var f txn.ListFilter
	for _, name := range req.StateFilters {
		known := false
		for _, s := range txnStates {
			if string(s) == name {
				f.States, known = append(f.States, s), true
			}
		}
		if !known {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	if len(req.StateFilters) > 0 && len(f.States) == 0 {
		return done(resp) // only unknown states asked for: nothing matches
	}
	f.ProducerIDs = req.ProducerIDFilters
	if req.GetVersion() >= 1 && req.DurationFilterMillis >= 0 {
		// Kafka keeps transactions open longer than the filter; a filter
		// of 0 keeps every open one.
		f.MinDuration = max(time.Duration(req.DurationFilterMillis)*time.Millisecond, time.Nanosecond)
	}
	list, loading := b.Txn.ListLoaded(f)
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return done(resp)
	}
	for _, s := range list {
		if !b.authorizeQuiet(c, acl.OpDescribe, acl.ResourceTransactionalID, s.TransactionalID) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = s.TransactionalID, s.ProducerID, string(s.State)
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return done(resp)
}
