package replica

import (
	"errors"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
)

// zstdBatch is recs as one zstd-compressed batch.
func zstdBatch(t *testing.T, recs []batch.Record) []byte {
	t.Helper()
	plain := batch.Build(1000, recs)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return withRecords(int16(batch.CompressionZstd), enc.EncodeAll(plain[batch.HeaderSize:], nil), int32(len(recs)))
}

// TestCompactedTopicRefusesRecordsWithoutKey: on a compacted topic a batch
// with a record without key (null, not empty) is refused with
// INVALID_RECORD naming that record, compressed or not, and nothing is
// appended; the same batch goes to a delete-policy topic, and keyed records
// (an empty key is a key) go to the compacted one.
func TestCompactedTopicRefusesRecordsWithoutKey(t *testing.T) {
	p := testPartition(t)
	p.SetRole(Role{Leader: true, Replicas: []int32{1}, ISR: []int32{1}, Self: 1})
	cfg := p.Config()
	cfg.MinInsyncReplicas = 1
	cfg.CleanupPolicy = partlog.CleanupCompact
	p.SetConfig(cfg)

	third := []batch.Record{
		{Timestamp: 1000, Key: []byte("a"), Value: []byte("1")},
		{Timestamp: 1000, Key: []byte{}, Value: []byte("2")},
		{Timestamp: 1000, Value: []byte("3")}, // no key
		{Timestamp: 1000, Value: []byte("4")},
	}
	for name, b := range map[string][]byte{"uncompressed": batch.Build(1000, third), "zstd": zstdBatch(t, third)} {
		_, err := p.Append(b)
		var rej *RejectedError
		if !errors.As(err, &rej) || !errors.Is(err, kerr.InvalidRecord) || rej.Record != 2 || !strings.Contains(rej.Message, "without key") {
			t.Errorf("%s: %v (%+v), want INVALID_RECORD at record 2 saying without key", name, err, rej)
		}
	}
	if end := p.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d after refusals, want 0", end)
	}

	keyed := []batch.Record{{Timestamp: 1000, Key: []byte("a"), Value: []byte("1")}, {Timestamp: 1000, Key: []byte{}}}
	for name, b := range map[string][]byte{"uncompressed": batch.Build(1000, keyed), "zstd": zstdBatch(t, keyed)} {
		if _, err := p.Append(b); err != nil {
			t.Errorf("%s keyed batch: %v", name, err)
		}
	}

	cfg.CleanupPolicy = partlog.CleanupDelete
	p.SetConfig(cfg)
	if _, err := p.Append(batch.Build(1000, third)); err != nil {
		t.Fatalf("delete policy refused records without key: %v", err)
	}
	if end := p.LogEndOffset(); end != 8 {
		t.Fatalf("log end %d, want 8", end)
	}
}
