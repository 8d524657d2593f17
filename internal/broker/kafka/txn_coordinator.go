package kafka

// Shared by the transaction coordinator's APIs (22, 24, 25, 26, 65, 66):
// how their calls are bounded and how the coordinator's errors go on the
// wire.

import (
	"context"
	"errors"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
)

// txnRequestTimeout bounds a coordinator call that writes
// __transaction_state; a write that takes longer is answered
// COORDINATOR_NOT_AVAILABLE and the client retries.
const txnRequestTimeout = 15 * time.Second

// txnCode is the wire code of a coordinator error. PRODUCER_FENCED exists
// from the version fencedSince of each API (KIP-588); older clients get
// INVALID_PRODUCER_EPOCH, as Kafka answers them.
func txnCode(err error, version, fencedSince int16) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.UnknownServerError.Code
	}
	if ke == kerr.ProducerFenced && version < fencedSince {
		return kerr.InvalidProducerEpoch.Code
	}
	return ke.Code
}

// ensureInternalTopic creates an internal topic (__transaction_state) when
// a client first looks for its coordinator.
func (b *Backend) ensureInternalTopic(ctx context.Context, name string) (*state.Topic, error) {
	ctx, cancel := context.WithTimeout(ctx, autoCreateTimeout)
	defer cancel()
	return b.Controller.EnsureTopic(ctx, name)
}
