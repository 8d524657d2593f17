package kafka

// InitProducerID, versions 0-5.
//
// Idempotent producers (no transactional id) get a fresh producer id with
// epoch 0 every time, as Kafka does; ids are reserved on disk in blocks so a
// restart never reuses one. A transactional id is refused with
// INVALID_REQUEST: transactions are not supported, and their APIs are not
// advertised in ApiVersions.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Backend) handleInitProducerID(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := respond[*kmsg.InitProducerIDResponse](req)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		// Transactions are not supported; the transaction APIs are not advertised.
		resp.ErrorCode = kerr.InvalidRequest.Code
		return done(resp)
	}
	id, err := b.Store.NextProducerID()
	if err != nil {
		b.Logger.Error("allocate producer id", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return done(resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return done(resp)
}
