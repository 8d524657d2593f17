package kafka

// AddOffsetsToTxn, versions 0-3.
//
// Refused: every partition (or the request) gets INVALID_PRODUCER_ID_MAPPING,
// since transactions are not supported (transactions.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// addOffsetsToTxnAPI declares AddOffsetsToTxn (key 25): its served versions and handler.
func (b *Backend) addOffsetsToTxnAPI() served {
	return served{key: 25, API: API{Min: 0, Max: 3, Handle: b.handleAddOffsetsToTxn}}
}

func (b *Backend) handleAddOffsetsToTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	resp := respond[*kmsg.AddOffsetsToTxnResponse](kreq)
	resp.ErrorCode = b.txnRefusal(c, kreq.(*kmsg.AddOffsetsToTxnRequest).TransactionalID)
	return done(resp)
}
