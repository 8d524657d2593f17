package replica

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// withRecords re-wraps b's header around section (attributes codec), claiming
// count records, with a correct CRC.
func withRecords(codec int16, section []byte, count int32) []byte {
	kb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: codec,
		LastOffsetDelta: count - 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: count, Records: section,
	}
	b := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestAppendRefusesWithReasons: Append is the one validating layer; each
// refusal is a *RejectedError with the Kafka code, a message and the record
// at fault, and nothing is appended.
func TestAppendRefusesWithReasons(t *testing.T) {
	p := testPartition(t)
	p.SetRole(Role{Leader: true, Replicas: []int32{1}, ISR: []int32{1}, Self: 1})
	good := batch.Build(1000, []batch.Record{{Timestamp: 1000, Value: []byte("a")}, {Timestamp: 1001, Value: []byte("b")}})
	section := good[batch.HeaderSize:]
	swapped := batch.Build(1000, []batch.Record{{Timestamp: 1000, Value: []byte("a")}, {Timestamp: 1001, Value: []byte("b")}})
	// The second record's offset delta (varint 1 = 0x02) becomes 0.
	rec2 := batch.HeaderSize + 1 + int(swapped[batch.HeaderSize]>>1)
	swapped[rec2+3] = 0
	cases := []struct {
		name    string
		b       []byte
		code    *kerr.Error
		message string
		record  int32
	}{
		{"garbage lz4", withRecords(int16(batch.CompressionLZ4), []byte("garbage garbage garbage"), 2), kerr.CorruptMessage, "lz4", -1},
		{"count 2^31-1", withRecords(0, section, 1<<31-1), kerr.InvalidRecord, "records end after 2", -1},
		{"offset delta", withRecords(0, swapped[batch.HeaderSize:], 2), kerr.InvalidRecord, "offset delta 0, expected 1", 1},
		{"two batches", append(append([]byte(nil), good...), good...), kerr.InvalidRecord, "2 record batches", -1},
		{"truncated", good[:40], kerr.CorruptMessage, "truncated", -1},
	}
	for _, tc := range cases {
		_, err := p.Append(tc.b)
		var rej *RejectedError
		if !errors.As(err, &rej) || !errors.Is(err, tc.code) || !strings.Contains(rej.Message, tc.message) || rej.Record != tc.record {
			t.Errorf("%s: %v (%+v), want %s containing %q at record %d", tc.name, err, rej, tc.code.Message, tc.message, tc.record)
		}
	}
	if end := p.log.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d after refusals", end)
	}
}

// TestAppendCorrectsClaimedMaxTimestamp: a producer's max timestamp that
// disagrees with its records is replaced, CRC and all, so the stored header
// is what time lookups can trust.
func TestAppendCorrectsClaimedMaxTimestamp(t *testing.T) {
	p := testPartition(t)
	p.SetRole(Role{Leader: true, Replicas: []int32{1}, ISR: []int32{1}, Self: 1})
	b := batch.Build(1000, []batch.Record{{Timestamp: 1000}, {Timestamp: 1500}, {Timestamp: 1200}})
	batch.SetMaxTimestamp(b, 1100) // understated
	if _, err := p.Append(b); err != nil {
		t.Fatal(err)
	}
	stored, err := p.log.Read(0, 1<<20, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := batch.Check(stored)
	if err != nil || h.MaxTimestamp != 1500 {
		t.Fatalf("stored header %+v %v, want max timestamp 1500 and a valid CRC", h, err)
	}
}
