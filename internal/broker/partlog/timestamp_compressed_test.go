package partlog

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// undecodable is a batch flagged with codec whose records section does not
// decompress, with a correct CRC: only its header can be read. A leader's
// validation would refuse it, but a follower stores what its leader sends,
// so the read path must not depend on inflating it.
func undecodable(codec int8, n int32, baseTS, maxTS int64) []byte {
	kb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(codec),
		LastOffsetDelta: n - 1, FirstTimestamp: baseTS, MaxTimestamp: maxTS,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n,
		Records: []byte("this is not compressed data at all"),
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestTimeLookupsNeverDecompress: ListOffsets by timestamp and by max
// timestamp answer compressed batches from their headers (a payload that
// cannot be inflated is never touched; the old lookup failed on it) and
// uncompressed batches exactly, record by record.
func TestTimeLookupsNeverDecompress(t *testing.T) {
	l := open(t, t.TempDir(), Config{})
	appendB := func(b []byte) {
		t.Helper()
		if _, err := batch.Check(b); err != nil {
			t.Fatalf("test batch: %v", err)
		}
		if _, err := l.Append(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets 0-2 at 1000, 1001, 1002; 3-5 compressed, 2000..2050; 6-7 at 3000, 3010.
	appendB(batch.Build(1000, []batch.Record{{Timestamp: 1000}, {Timestamp: 1001}, {Timestamp: 1002}}))
	appendB(undecodable(batch.CompressionZstd, 3, 2000, 2050))
	appendB(batch.Build(3000, []batch.Record{{Timestamp: 3000}, {Timestamp: 3010}}))

	for _, tc := range []struct {
		ts, off, got int64
		found        bool
	}{
		{1001, 1, 1001, true},
		{1003, 3, 2050, true}, // the compressed batch: its base offset, its max timestamp
		{2050, 3, 2050, true},
		{2051, 6, 3000, true},
		{3005, 7, 3010, true},
		{3011, -1, -1, false},
	} {
		off, got, found, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || found != tc.found || found && (off != tc.off || got != tc.got) {
			t.Errorf("OffsetForTimestamp(%d) = %d %d %v %v, want %d %d %v", tc.ts, off, got, found, err, tc.off, tc.got, tc.found)
		}
	}
	if off, ts, found, err := l.MaxTimestamp(); err != nil || !found || off != 7 || ts != 3010 {
		t.Errorf("MaxTimestamp = %d %d %v %v, want 7 3010 (uncompressed, exact)", off, ts, found, err)
	}
	appendB(undecodable(batch.CompressionGzip, 2, 9000, 9100))
	if off, ts, found, err := l.MaxTimestamp(); err != nil || !found || off != 8 || ts != 9100 {
		t.Errorf("MaxTimestamp = %d %d %v %v, want 8 9100 (the compressed batch's base offset)", off, ts, found, err)
	}
}
