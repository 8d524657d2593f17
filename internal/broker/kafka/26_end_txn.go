package kafka

// EndTxn, versions 0-3.
//
// Commits or aborts the producer's open transaction: answered once the
// coordinator has persisted its decision (PrepareCommit/PrepareAbort); the
// markers are then written to every partition of the transaction, and until
// they are the transactional id answers CONCURRENT_TRANSACTIONS. A retry of
// the same decision succeeds, the other is INVALID_TXN_STATE, as Kafka's.
// Needs WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// endTxnAPI declares EndTxn (key 26): its served versions and handler.
func (b *Backend) endTxnAPI() served {
	return served{key: 26, API: API{Min: 0, Max: 3, Handle: b.handleEndTxn}}
}

func (b *Backend) handleEndTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.EndTxnRequest)
	resp := respond[*kmsg.EndTxnResponse](req)
	if refusal := b.txnRefusal(c, req.TransactionalID); refusal != 0 {
		resp.ErrorCode = refusal
		return done(resp)
	}
	return nil, pending(func(ctx context.Context) *kmsg.EndTxnResponse {
		ctx, cancel := context.WithTimeout(ctx, txnRequestTimeout)
		defer cancel()
		err := b.Txn.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		resp.ErrorCode = txnCode(err, req.GetVersion(), 2)
		return resp
	}), nil
}
