package replica

import (
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
)

// errKeylessMessage is Kafka's wording (LogValidator) for a record without
// a key sent to a compacted topic.
const errKeylessMessage = "Compacted topic cannot accept message without key"

// checkKeys refuses a produced batch with a record that has no key when
// the topic compacts: the cleaner keeps the latest record per key, and a
// record without one could never be superseded nor removed. An empty key
// is a key, as in Kafka. v is what batch.ValidateFor found walking the
// records (decompressed as a bounded stream), so nothing is decoded again.
func checkKeys(v batch.Validated, cfg *topicconfig.Config) error {
	if !cfg.CleanupPolicy.Compacts() || v.FirstKeyless < 0 {
		return nil
	}
	return &RejectedError{Code: kerr.InvalidRecord, Record: v.FirstKeyless,
		Message: fmt.Sprintf("%s (record %d)", errKeylessMessage, v.FirstKeyless)}
}
