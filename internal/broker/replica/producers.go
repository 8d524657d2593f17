package replica

import (
	"math"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// producerWindow is how many recent batches per producer are remembered for
// duplicate detection: Kafka's idempotent producers keep at most five in flight.
const producerWindow = 5

type batchSeq struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

// producerState is what a partition remembers of one idempotent or
// transactional producer.
type producerState struct {
	epoch   int16
	batches []batchSeq // oldest first, at most producerWindow

	// lastTimestamp is the max timestamp of its last batch (DescribeProducers).
	lastTimestamp int64
	// coordEpoch is the coordinator epoch of its last marker (-1: none):
	// an older coordinator's marker is fenced.
	coordEpoch int32
	// txnFirst and txnLast are the first offset and the last batch's last
	// offset of its transaction open here (noTxn when none), txnStarted
	// when that transaction's first batch was appended (txn.go).
	txnFirst, txnLast int64
	txnStarted        time.Time
	// markers counts the markers written for it: a transactional batch
	// verified with the coordinator is refused when a marker came between
	// the verification and its append.
	markers uint64
}

func newProducerState(epoch int16) *producerState {
	return &producerState{epoch: epoch, coordEpoch: -1, txnFirst: noTxn, txnLast: noTxn}
}

// lastSeqOf is the sequence of the batch's last record; sequences wrap from
// MaxInt32 to 0 like Kafka's DefaultRecordBatch.incrementSequence.
func lastSeqOf(h batch.Header) int32 {
	return addSeq(h.BaseSequence, h.LastOffsetDelta)
}

func addSeq(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// check decides what to do with a batch from this producer: a non-nil dup
// means the batch was already appended (answer with its offsets); a non-nil
// error rejects it.
func (s *producerState) check(h batch.Header) (dup *batchSeq, err error) {
	if s == nil {
		// Unknown producer (new, or its history was deleted by retention):
		// accept any sequence, as Kafka does, and start tracking from here.
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < s.epoch:
		return nil, kerr.InvalidProducerEpoch
	case h.ProducerEpoch > s.epoch:
		// A bumped epoch restarts the sequence at zero.
		if h.BaseSequence != 0 {
			return nil, kerr.OutOfOrderSequenceNumber
		}
		return nil, nil
	}
	last := lastSeqOf(h)
	for i := range s.batches {
		b := &s.batches[i]
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b, nil
		}
	}
	if n := len(s.batches); n > 0 && h.BaseSequence != addSeq(s.batches[n-1].lastSeq, 1) {
		return nil, kerr.OutOfOrderSequenceNumber
	}
	if len(s.batches) == 0 && h.BaseSequence != 0 {
		return nil, kerr.OutOfOrderSequenceNumber
	}
	return nil, nil
}

// record remembers an appended batch.
func (s *producerState) record(h batch.Header, firstOffset, lastOffset int64) {
	if h.ProducerEpoch != s.epoch {
		s.epoch = h.ProducerEpoch
		s.batches = s.batches[:0]
	}
	if len(s.batches) == producerWindow {
		copy(s.batches, s.batches[1:])
		s.batches = s.batches[:producerWindow-1]
	}
	s.batches = append(s.batches, batchSeq{
		firstSeq: h.BaseSequence, lastSeq: lastSeqOf(h),
		firstOffset: firstOffset, lastOffset: lastOffset,
	})
}
