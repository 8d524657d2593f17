package kafka

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestTxnCode: PRODUCER_FENCED reaches only clients that know it (KIP-588);
// older versions get INVALID_PRODUCER_EPOCH; wrapped kerr errors keep their
// code and anything else is UNKNOWN_SERVER_ERROR.
func TestTxnCode(t *testing.T) {
	for _, tc := range []struct {
		err          error
		version, min int16
		want         int16
	}{
		{nil, 0, 2, 0},
		{kerr.ProducerFenced, 1, 2, kerr.InvalidProducerEpoch.Code},
		{kerr.ProducerFenced, 2, 2, kerr.ProducerFenced.Code},
		{fmt.Errorf("x: %w", kerr.ConcurrentTransactions), 0, 2, kerr.ConcurrentTransactions.Code},
		{errors.New("disk"), 3, 2, kerr.UnknownServerError.Code},
	} {
		if got := txnCode(tc.err, tc.version, tc.min); got != tc.want {
			t.Errorf("txnCode(%v, v%d) = %d, want %d", tc.err, tc.version, got, tc.want)
		}
	}
}
