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
// is a key, as in Kafka. b has passed batch.ValidateFor for cfg, so its
// records decode within the same inflate limit.
func checkKeys(b []byte, cfg *topicconfig.Config) error {
	if !cfg.CleanupPolicy.Compacts() {
		return nil
	}
	var index, keyless int32 = 0, -1
	_, _, _, err := batch.FilterFor(b, cfg.MaxMessageBytes, func(r batch.Record) bool {
		if r.Key == nil && keyless < 0 {
			keyless = index
		}
		index++
		return true
	})
	switch {
	case err != nil:
		return err
	case keyless >= 0:
		return &RejectedError{Code: kerr.InvalidRecord, Record: keyless,
			Message: fmt.Sprintf("%s (record %d)", errKeylessMessage, keyless)}
	}
	return nil
}
