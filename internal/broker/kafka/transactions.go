package kafka

// Transactions are not supported. The transaction APIs are served only to
// refuse them with Kafka's own error codes, never with a pretend success:
//
//	FindCoordinator (type 1)  INVALID_REQUEST, "transactions are not supported by chronik"
//	InitProducerID (txn id)   INVALID_REQUEST
//	AddPartitionsToTxn 24 v0-3, AddOffsetsToTxn 25 v0-3, EndTxn 26 v0-3,
//	TxnOffsetCommit 28 v0-3   INVALID_PRODUCER_ID_MAPPING: no producer id is
//	                          ever mapped to a transactional id here.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var errNoTransactions = kerr.InvalidProducerIDMapping.Code

func (b *Backend) handleAddPartitionsToTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := respond[*kmsg.AddPartitionsToTxnResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition = p
			sp.ErrorCode = errNoTransactions
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}

func (b *Backend) handleAddOffsetsToTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	resp := respond[*kmsg.AddOffsetsToTxnResponse](kreq)
	resp.ErrorCode = errNoTransactions
	return done(resp)
}

func (b *Backend) handleEndTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	resp := respond[*kmsg.EndTxnResponse](kreq)
	resp.ErrorCode = errNoTransactions
	return done(resp)
}

func (b *Backend) handleTxnOffsetCommit(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := respond[*kmsg.TxnOffsetCommitResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = errNoTransactions
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}
