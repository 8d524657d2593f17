package replica

import (
	"errors"
	"math"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// send is one batch an idempotent producer sends, and what the partition
// must make of it.
type send struct {
	epoch   int16
	seq     int32 // base sequence
	records int32

	wantErr error // nil: accepted (appended or duplicate)
	wantDup int64 // >= 0: a duplicate answered with this first offset; -1: appended
}

func appended(epoch int16, seq, records int32) send {
	return send{epoch: epoch, seq: seq, records: records, wantDup: -1}
}

func duplicate(epoch int16, seq, records int32, firstOffset int64) send {
	return send{epoch: epoch, seq: seq, records: records, wantDup: firstOffset}
}

func refused(epoch int16, seq, records int32, err error) send {
	return send{epoch: epoch, seq: seq, records: records, wantErr: err, wantDup: -1}
}

// TestProducerSequenceWindow drives producerState the way Partition.Append
// does (check, then record what was appended) and checks every decision.
func TestProducerSequenceWindow(t *testing.T) {
	const maxSeq = math.MaxInt32
	tests := []struct {
		name  string
		sends []send
	}{
		{"in order", []send{
			appended(0, 0, 3), appended(0, 3, 1), appended(0, 4, 10), appended(0, 14, 1),
		}},
		{"duplicate of the latest batch", []send{
			appended(0, 0, 2), duplicate(0, 0, 2, 0), appended(0, 2, 2), duplicate(0, 2, 2, 2),
		}},
		{"duplicates anywhere in the last five", []send{
			appended(0, 0, 1), appended(0, 1, 1), appended(0, 2, 1), appended(0, 3, 1), appended(0, 4, 1),
			duplicate(0, 0, 1, 0), duplicate(0, 2, 1, 2), duplicate(0, 4, 1, 4),
			appended(0, 5, 1), // the window still moves on after duplicates
		}},
		{"sixth batch evicts the oldest", []send{
			appended(0, 0, 1), appended(0, 1, 1), appended(0, 2, 1), appended(0, 3, 1), appended(0, 4, 1),
			appended(0, 5, 1),
			// Batch 0 fell out of the window: it is no longer recognised, and
			// as a new batch it is out of order.
			refused(0, 0, 1, kerr.OutOfOrderSequenceNumber),
			duplicate(0, 1, 1, 1), duplicate(0, 5, 1, 5),
		}},
		{"same base sequence but different length is not a duplicate", []send{
			appended(0, 0, 3), refused(0, 0, 2, kerr.OutOfOrderSequenceNumber),
		}},
		{"gap", []send{
			appended(0, 0, 2), refused(0, 3, 1, kerr.OutOfOrderSequenceNumber),
			appended(0, 2, 1), // the expected sequence is still accepted after a refusal
		}},
		{"sequence ahead of a retried batch", []send{
			appended(0, 0, 1), appended(0, 1, 1), refused(0, 1000, 1, kerr.OutOfOrderSequenceNumber),
		}},
		{"batch below the window", []send{
			appended(0, 0, 1), appended(0, 1, 1), appended(0, 2, 1), appended(0, 3, 1), appended(0, 4, 1),
			appended(0, 5, 1), appended(0, 6, 1),
			refused(0, 1, 1, kerr.OutOfOrderSequenceNumber),
		}},
		{"wrap-around from MaxInt32 to 0", []send{
			// Unknown producer: any sequence is accepted as a start.
			appended(0, maxSeq-1, 1), appended(0, maxSeq, 1), appended(0, 0, 1), appended(0, 1, 1),
		}},
		{"batch spanning the wrap", []send{
			appended(0, maxSeq-1, 4), // sequences MaxInt32-1, MaxInt32, 0, 1
			duplicate(0, maxSeq-1, 4, 0),
			refused(0, 0, 1, kerr.OutOfOrderSequenceNumber),
			appended(0, 2, 1),
		}},
		{"ending exactly at MaxInt32", []send{
			appended(0, maxSeq-2, 3), refused(0, maxSeq, 1, kerr.OutOfOrderSequenceNumber), appended(0, 0, 1),
		}},
		{"epoch bump with sequence 0", []send{
			appended(0, 0, 1), appended(0, 1, 1),
			appended(1, 0, 2),
			// The old epoch's batches are forgotten, the new one's remembered.
			duplicate(1, 0, 2, 2), appended(1, 2, 1),
		}},
		{"resend after a bump is matched in the new epoch only", []send{
			appended(0, 0, 1),
			appended(1, 0, 1),
			// Same sequences as the old epoch's batch at offset 0: the answer
			// must be the new epoch's offset.
			duplicate(1, 0, 1, 1),
		}},
		{"epoch bump with a non-zero sequence", []send{
			appended(0, 0, 1), refused(1, 5, 1, kerr.OutOfOrderSequenceNumber),
			appended(0, 1, 1), // the producer was not bumped by the refused batch
		}},
		{"old epoch is fenced", []send{
			appended(3, 0, 1), refused(2, 1, 1, kerr.InvalidProducerEpoch), refused(2, 0, 1, kerr.InvalidProducerEpoch),
			appended(3, 1, 1),
		}},
		{"old epoch after a bump", []send{
			appended(0, 0, 1), appended(0, 1, 1), appended(1, 0, 1),
			refused(0, 2, 1, kerr.InvalidProducerEpoch),
			refused(0, 1, 1, kerr.InvalidProducerEpoch), // even a resend of an old-epoch batch
		}},
		{"unknown producer accepts any sequence", []send{
			appended(7, 12345, 5), appended(7, 12350, 1),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps *producerState // nil: unknown producer, as Partition.Append sees it
			next := int64(0)      // next offset the log would assign
			for i, s := range tt.sends {
				h := batch.Header{ProducerID: 42, ProducerEpoch: s.epoch, BaseSequence: s.seq, LastOffsetDelta: s.records - 1}
				dup, err := ps.check(h)
				switch {
				case s.wantErr != nil:
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("send %d (epoch %d seq %d n %d): error %v, want %v", i, s.epoch, s.seq, s.records, err, s.wantErr)
					}
					continue
				case err != nil:
					t.Fatalf("send %d (epoch %d seq %d n %d): refused with %v", i, s.epoch, s.seq, s.records, err)
				case s.wantDup >= 0:
					if dup == nil {
						t.Fatalf("send %d (epoch %d seq %d n %d): accepted as new, want a duplicate of offset %d", i, s.epoch, s.seq, s.records, s.wantDup)
					}
					if dup.firstOffset != s.wantDup || dup.lastOffset != s.wantDup+int64(s.records)-1 {
						t.Fatalf("send %d: duplicate answered offsets %d-%d, want %d-%d", i, dup.firstOffset, dup.lastOffset, s.wantDup, s.wantDup+int64(s.records)-1)
					}
					continue
				case dup != nil:
					t.Fatalf("send %d (epoch %d seq %d n %d): taken for a duplicate of offset %d", i, s.epoch, s.seq, s.records, dup.firstOffset)
				}
				if ps == nil {
					ps = &producerState{epoch: h.ProducerEpoch}
				}
				h.BaseOffset = next
				ps.record(h, next, h.LastOffset())
				next += int64(s.records)
				if len(ps.batches) > producerWindow {
					t.Fatalf("send %d: %d batches remembered, the window is %d", i, len(ps.batches), producerWindow)
				}
			}
		})
	}
}

func TestAddSeqWraps(t *testing.T) {
	tests := []struct {
		seq, n, want int32
	}{
		{0, 0, 0},
		{0, 4, 4},
		{100, 1, 101},
		{math.MaxInt32 - 1, 1, math.MaxInt32},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32, 2, 1},
		{math.MaxInt32 - 2, 5, 2},
	}
	for _, tt := range tests {
		if got := addSeq(tt.seq, tt.n); got != tt.want {
			t.Errorf("addSeq(%d, %d) = %d, want %d", tt.seq, tt.n, got, tt.want)
		}
	}
}
