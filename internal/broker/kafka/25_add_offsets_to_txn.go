package kafka

// AddOffsetsToTxn, versions 0-3.
//
// Adds the group's partition of __consumer_offsets to the producer's open
// transaction, so its TxnOffsetCommit offsets commit or abort with it. Needs
// WRITE on the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and
// READ on the group (GROUP_AUTHORIZATION_FAILED). The coordinator's producer
// checks answer as in AddPartitionsToTxn (PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v2). __consumer_offsets is created first
// when it does not exist yet (COORDINATOR_NOT_AVAILABLE if that fails).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// addOffsetsToTxnAPI declares AddOffsetsToTxn (key 25): its served versions and handler.
func (b *Backend) addOffsetsToTxnAPI() served {
	return served{key: 25, API: API{Min: 0, Max: 3, Handle: b.handleAddOffsetsToTxn}}
}

func (b *Backend) handleAddOffsetsToTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := respond[*kmsg.AddOffsetsToTxnResponse](req)
	switch refusal := b.txnRefusal(c, req.TransactionalID); {
	case refusal != 0:
		resp.ErrorCode = refusal
		return done(resp)
	case !b.authorize(c, acl.OpRead, acl.ResourceGroup, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return done(resp)
	}
	return nil, pending(func(ctx context.Context) *kmsg.AddOffsetsToTxnResponse {
		ctx, cancel := context.WithTimeout(ctx, txnRequestTimeout)
		defer cancel()
		// The group's partition must exist to join the transaction; a
		// producer may commit offsets before anyone asked for the group's
		// coordinator (which creates the topic), as Kafka allows.
		if _, err := b.ensureOffsetsTopic(ctx); err != nil {
			b.Logger.Warn("create offsets topic for a transaction", "transactional_id", req.TransactionalID, "err", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		err := b.Txn.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
		resp.ErrorCode = txnCode(err, req.GetVersion(), 2)
		return resp
	}), nil
}
