package kafka

// AddPartitionsToTxn, versions 0-3.
//
// Refused: every partition (or the request) gets INVALID_PRODUCER_ID_MAPPING,
// since transactions are not supported (transactions.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// addPartitionsToTxnAPI declares AddPartitionsToTxn (key 24): its served versions and handler.
func (b *Backend) addPartitionsToTxnAPI() served {
	return served{key: 24, API: API{Min: 0, Max: 3, Handle: b.handleAddPartitionsToTxn}}
}

func (b *Backend) handleAddPartitionsToTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := respond[*kmsg.AddPartitionsToTxnResponse](req)
	refusal := b.txnRefusal(c, req.TransactionalID)
	for _, rt := range req.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition = p
			sp.ErrorCode = refusal
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}
