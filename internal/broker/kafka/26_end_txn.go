package kafka

// EndTxn, versions 0-3.
//
// Refused: every partition (or the request) gets INVALID_PRODUCER_ID_MAPPING,
// since transactions are not supported (transactions.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// endTxnAPI declares EndTxn (key 26): its served versions and handler.
func (b *Backend) endTxnAPI() served {
	return served{key: 26, API: API{Min: 0, Max: 3, Handle: b.handleEndTxn}}
}

func (b *Backend) handleEndTxn(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	resp := respond[*kmsg.EndTxnResponse](kreq)
	resp.ErrorCode = b.txnRefusal(c, kreq.(*kmsg.EndTxnRequest).TransactionalID)
	return done(resp)
}
