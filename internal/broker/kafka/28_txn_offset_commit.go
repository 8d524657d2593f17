package kafka

// TxnOffsetCommit, versions 0-3.
//
// Commits a group's offsets as part of a producer's transaction
// (group.Coordinator.TxnOffsetCommit): they stay pending until the
// transaction's marker lands on the group's partition of
// __consumer_offsets. Checks in Kafka's order: WRITE on the transactional
// id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group
// (GROUP_AUTHORIZATION_FAILED), READ on each topic
// (TOPIC_AUTHORIZATION_FAILED) and the topic's existence
// (UNKNOWN_TOPIC_OR_PARTITION). The offsets are written to the group's
// partition of __consumer_offsets as the producer's transactional batch,
// which that partition verifies with the transaction coordinator like any
// transactional produce (KIP-890 part 1; the broker's offsetsLog.AppendTxn):
// a request naming a producer, epoch or transaction that did not add the
// group (AddOffsetsToTxn) gets the coordinator's answer (INVALID_TXN_STATE,
// PRODUCER_FENCED, ...) and writes nothing. v3 (KIP-447) carries the member
// id, generation and group instance id, checked like a regular commit's.
//
// v4+ (TRANSACTION_ABORTABLE, KIP-890 part 2's implicit add) are not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/acl"
)

// txnOffsetCommitAPI declares TxnOffsetCommit (key 28): its served versions and handler.
func (b *Backend) txnOffsetCommitAPI() served {
	return served{key: 28, API: API{Min: 0, Max: 3, Handle: b.handleTxnOffsetCommit}}
}

func (b *Backend) handleTxnOffsetCommit(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	return done(b.txnOffsetCommit(ctx, c, kreq.(*kmsg.TxnOffsetCommitRequest)))
}

func (b *Backend) txnOffsetCommit(ctx context.Context, c *Conn, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	refuseAll := func(code int16) *kmsg.TxnOffsetCommitResponse {
		resp := respond[*kmsg.TxnOffsetCommitResponse](req)
		for _, rt := range req.Topics {
			resp.Topics = append(resp.Topics, txnOffsetCommitRefusal(rt, code))
		}
		return resp
	}
	switch {
	case !b.authorize(c, acl.OpWrite, acl.ResourceTransactionalID, req.TransactionalID):
		return refuseAll(kerr.TransactionalIDAuthorizationFailed.Code)
	case !b.authorize(c, acl.OpRead, acl.ResourceGroup, req.Group):
		return refuseAll(kerr.GroupAuthorizationFailed.Code)
	}
	allowed, refused := splitTopics(b, c, acl.OpRead, req.Topics, func(rt kmsg.TxnOffsetCommitRequestTopic) string { return rt.Topic })
	var refusals []kmsg.TxnOffsetCommitResponseTopic
	for _, rt := range refused {
		refusals = append(refusals, txnOffsetCommitRefusal(rt, kerr.TopicAuthorizationFailed.Code))
	}
	st := b.Meta.State()
	known := allowed[:0:0]
	for _, rt := range allowed {
		if _, ok := st.Topics[rt.Topic]; !ok {
			refusals = append(refusals, txnOffsetCommitRefusal(rt, kerr.UnknownTopicOrPartition.Code))
			continue
		}
		known = append(known, rt)
	}
	resp := respond[*kmsg.TxnOffsetCommitResponse](req)
	if len(known) > 0 {
		part := *req
		part.Topics = known
		resp = withVersion(req, b.Groups.TxnOffsetCommit(ctx, &part))
	}
	resp.Topics = append(resp.Topics, refusals...)
	return resp
}

// txnOffsetCommitRefusal answers every partition of rt with code.
func txnOffsetCommitRefusal(rt kmsg.TxnOffsetCommitRequestTopic, code int16) kmsg.TxnOffsetCommitResponseTopic {
	st := kmsg.NewTxnOffsetCommitResponseTopic()
	st.Topic = rt.Topic
	for _, rp := range rt.Partitions {
		sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
		sp.Partition, sp.ErrorCode = rp.Partition, code
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}
