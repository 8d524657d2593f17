package kafka

// TxnOffsetCommit, versions 0-3.
//
// Refused: every partition (or the request) gets INVALID_PRODUCER_ID_MAPPING,
// since transactions are not supported (transactions.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnOffsetCommitAPI declares TxnOffsetCommit (key 28): its served versions and handler.
func (b *Backend) txnOffsetCommitAPI() served {
	return served{key: 28, API: API{Min: 0, Max: 3, Handle: b.handleTxnOffsetCommit}}
}

func (b *Backend) handleTxnOffsetCommit(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := respond[*kmsg.TxnOffsetCommitResponse](req)
	refusal := b.txnRefusal(c, req.TransactionalID)
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = refusal
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}
