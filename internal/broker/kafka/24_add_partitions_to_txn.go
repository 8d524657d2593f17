package kafka

// AddPartitionsToTxn, versions 0-5.
//
// v0-3 come from a transactional producer adding partitions to its open
// transaction: WRITE on the transactional id (else every partition
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic
// (TOPIC_AUTHORIZATION_FAILED); a partition that does not exist is
// UNKNOWN_TOPIC_OR_PARTITION; on any of these the other partitions get
// OPERATION_NOT_ATTEMPTED and nothing is added. The coordinator persists the
// partitions before it answers; its producer checks give
// INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
// before v2), CONCURRENT_TRANSACTIONS while the previous transaction ends.
//
// v4-5 are the batched broker form (KIP-890 part 1): a partition leader asks
// whether partitions were added (VerifyOnly) before it appends a
// transactional batch. They are served only to a proven broker on the
// cluster listener (Kafka's CLUSTER_ACTION), else CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// addPartitionsToTxnAPI declares AddPartitionsToTxn (key 24): its served versions and handler.
func (b *Backend) addPartitionsToTxnAPI() served {
	return served{key: 24, API: API{Min: 0, Max: 5, Handle: b.handleAddPartitionsToTxn}}
}

func (b *Backend) handleAddPartitionsToTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := respond[*kmsg.AddPartitionsToTxnResponse](req)
	if req.GetVersion() >= 4 {
		return b.verifyPartitionsInTxn(c, req, resp)
	}
	// answer gives every partition of the request its code.
	answer := func(code func(topic string, p int32) int16) *kmsg.AddPartitionsToTxnResponse {
		resp.Topics = resp.Topics[:0]
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition = p
				sp.ErrorCode = code(rt.Topic, p)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	if refusal := b.txnRefusal(c, req.TransactionalID); refusal != 0 {
		return done(answer(func(string, int32) int16 { return refusal }))
	}
	s := b.Meta.State()
	refused := map[string]int16{}
	for _, rt := range req.Topics {
		if !b.authorize(c, acl.OpWrite, acl.ResourceTopic, rt.Topic) {
			refused[rt.Topic] = kerr.TopicAuthorizationFailed.Code
		} else if _, ok := s.Topics[rt.Topic]; !ok {
			refused[rt.Topic] = kerr.UnknownTopicOrPartition.Code
		}
	}
	if len(refused) > 0 {
		return done(answer(func(topic string, _ int32) int16 {
			if code, ok := refused[topic]; ok {
				return code
			}
			return kerr.OperationNotAttempted.Code
		}))
	}
	parts := map[string][]int32{}
	for _, rt := range req.Topics {
		parts[rt.Topic] = append(parts[rt.Topic], rt.Partitions...)
	}
	return nil, pending(func(ctx context.Context) *kmsg.AddPartitionsToTxnResponse {
		ctx, cancel := context.WithTimeout(ctx, txnRequestTimeout)
		defer cancel()
		res, err := b.Txn.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, false)
		return answer(func(topic string, p int32) int16 {
			if err != nil {
				return txnCode(err, req.GetVersion(), 2)
			}
			return txnCode(res[topic][p], req.GetVersion(), 2)
		})
	}), nil
}

// verifyPartitionsInTxn serves the broker form (v4+): each transaction is
// checked (VerifyOnly) or added to, and answered per partition.
func (b *Backend) verifyPartitionsInTxn(c *Conn, req *kmsg.AddPartitionsToTxnRequest, resp *kmsg.AddPartitionsToTxnResponse) (kmsg.Response, Pending, error) {
	switch {
	case c.Replica == nil:
		b.Logger.Warn("refused a broker-only AddPartitionsToTxn from a client", "version", req.GetVersion(),
			"client_id", c.ClientID, "remote", c.Remote)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return done(resp)
	case b.Txn == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return done(resp)
	}
	return nil, pending(func(ctx context.Context) *kmsg.AddPartitionsToTxnResponse {
		ctx, cancel := context.WithTimeout(ctx, txnRequestTimeout)
		defer cancel()
		for _, t := range req.Transactions {
			parts := map[string][]int32{}
			for _, tt := range t.Topics {
				parts[tt.Topic] = append(parts[tt.Topic], tt.Partitions...)
			}
			res, err := b.Txn.AddPartitions(ctx, t.TransactionalID, t.ProducerID, t.ProducerEpoch, parts, t.VerifyOnly)
			rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rt.TransactionalID = t.TransactionalID
			for _, tt := range t.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				st.Topic = tt.Topic
				for _, p := range tt.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					sp.Partition = p
					if err != nil {
						sp.ErrorCode = txnCode(err, req.GetVersion(), 2)
					} else {
						sp.ErrorCode = txnCode(res[tt.Topic][p], req.GetVersion(), 2)
					}
					st.Partitions = append(st.Partitions, sp)
				}
				rt.Topics = append(rt.Topics, st)
			}
			resp.Transactions = append(resp.Transactions, rt)
		}
		return resp
	}), nil
}
