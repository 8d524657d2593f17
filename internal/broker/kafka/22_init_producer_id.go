package kafka

// InitProducerID, versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id with
// epoch 0 every time, as Kafka does; ids are reserved in blocks through the
// raft metadata, so no two nodes and no restart hand out the same one. A
// transactional id goes to the transaction coordinator (package txn): a new
// id gets a producer id with epoch 0, a known one its epoch bumped (fencing
// older producers; an open transaction is aborted first and the answer is
// CONCURRENT_TRANSACTIONS until that is done), v3+ recovers with the given
// producer id and epoch (KIP-360); a transaction.timeout.ms above
// --transaction-max-timeout is INVALID_TRANSACTION_TIMEOUT. Before v4,
// PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH. With an authorizer an idempotent producer
// needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679;
// CLUSTER_AUTHORIZATION_FAILED), a transactional id WRITE on it
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, before the refusal).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// initProducerIDAPI declares InitProducerID (key 22): its served versions and handler.
func (b *Backend) initProducerIDAPI() served {
	return served{key: 22, API: API{Min: 0, Max: 5, Handle: b.handleInitProducerID}}
}

func (b *Backend) handleInitProducerID(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := respond[*kmsg.InitProducerIDResponse](req)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.TransactionalID != nil && !b.authorize(c, acl.OpWrite, acl.ResourceTransactionalID, *req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return done(resp)
	case req.TransactionalID == nil && !b.authorizeQuiet(c, acl.OpIdempotentWrite, acl.ResourceCluster, acl.ClusterName) &&
		!b.authorizeAnyOf(c, acl.OpWrite, acl.ResourceTopic):
		b.logDenial(b.action(c, acl.OpIdempotentWrite, acl.ResourceCluster, acl.ClusterName), acl.Decision{Rule: acl.RuleNoAllowACL})
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return done(resp)
	}
	if req.TransactionalID != nil {
		if b.Txn == nil {
			b.Logger.Warn("refused a transactional producer: transactions are not enabled on this broker",
				"transactional_id", *req.TransactionalID, "client_id", c.ClientID, "remote", c.Remote)
			resp.ErrorCode = kerr.InvalidRequest.Code
			return done(resp)
		}
		return nil, pending(func(ctx context.Context) *kmsg.InitProducerIDResponse {
			ctx, cancel := context.WithTimeout(ctx, txnRequestTimeout)
			defer cancel()
			pid, epoch, err := b.Txn.InitProducerID(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch)
			if resp.ErrorCode = txnCode(err, req.GetVersion(), 4); err == nil {
				resp.ProducerID, resp.ProducerEpoch = pid, epoch
			}
			return resp
		}), nil
	}
	return nil, pending(func(ctx context.Context) *kmsg.InitProducerIDResponse {
		ctx, cancel := withTimeout(ctx, req.TransactionTimeoutMillis)
		defer cancel()
		id, err := b.Controller.NextProducerID(ctx)
		if err != nil {
			b.Logger.Warn("allocate producer id", "err", err)
			// Retriable: the client asks again once the quorum is back.
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp
	}), nil
}
