package broker_test

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestListOffsetsByTimestamp finds the first record at or after a timestamp,
// the earliest and latest offsets, and the record with the largest timestamp.
func TestListOffsetsByTimestamp(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "times", 1, nil)
	p := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("times"))
	ctx := testharness.Context(t, 20*time.Second)
	base := time.UnixMilli(1_700_000_000_000)
	// Record i has timestamp base+i*1000, except record 7 which is the newest.
	for i := 0; i < 10; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		if i == 7 {
			ts = base.Add(time.Hour)
		}
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i)), Timestamp: ts}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, base.Add(2500*time.Millisecond).UnixMilli(), "times")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := after.Lookup("times", 0); o.Offset != 3 || o.Timestamp != base.Add(3*time.Second).UnixMilli() {
		t.Errorf("offset after base+2.5s = %d (ts %d), want 3", o.Offset, o.Timestamp)
	}
	late, err := adm.ListOffsetsAfterMilli(ctx, base.Add(2*time.Hour).UnixMilli(), "times")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := late.Lookup("times", 0); o.Offset != 10 && o.Offset != -1 {
		t.Errorf("offset after the newest record = %d, want the end (10) or -1", o.Offset)
	}
	start, _ := adm.ListStartOffsets(ctx, "times")
	end, _ := adm.ListEndOffsets(ctx, "times")
	if s, _ := start.Lookup("times", 0); s.Offset != 0 {
		t.Errorf("start offset %d, want 0", s.Offset)
	}
	if e, _ := end.Lookup("times", 0); e.Offset != 10 {
		t.Errorf("end offset %d, want 10", e.Offset)
	}

	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "times"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, inproc.NodeClient(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Topics[0].Partitions[0]; got.ErrorCode != 0 || got.Offset != 7 || got.Timestamp != base.Add(time.Hour).UnixMilli() {
		t.Errorf("max timestamp: offset %d ts %d err %d, want offset 7", got.Offset, got.Timestamp, got.ErrorCode)
	}
}

// TestRetentionDeletesOldSegments: the smallest segments allowed (1 MiB)
// and a size limit make the broker delete whole old segments and move the log
// start offset; consumers then start from it.
func TestRetentionDeletesOldSegments(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.RetentionCheckInterval = 20 * time.Millisecond
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	segment, retain := "1048576", "2097152"
	createTopic(t, adm, "retained", 1, map[string]*string{"segment.bytes": &segment, "retention.bytes": &retain})
	p := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("retained"))
	ctx := testharness.Context(t, 30*time.Second)
	for i := 0; i < 200; i++ {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: segmentFillerValue(i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Retention runs every 20 ms and may still be deleting when production
	// ends: wait until the log start has moved and then held still for ten
	// retention passes.
	var logStart int64
	changed := time.Now()
	testharness.Eventually(t, 10*time.Second, "log start offset to move and settle", func() bool {
		s, err := adm.ListStartOffsets(ctx, "retained")
		if err != nil {
			return false
		}
		o, _ := s.Lookup("retained", 0)
		if o.Offset != logStart {
			logStart, changed = o.Offset, time.Now()
		}
		return logStart > 0 && time.Since(changed) > 10*cfg.RetentionCheckInterval
	})
	got := consumeN(t, n, "retained", int(200-logStart))
	if got[0].Offset != logStart {
		t.Fatalf("consumer from start began at %d, want log start %d", got[0].Offset, logStart)
	}

	// Time retention: records older than retention.ms go once it is lowered.
	createTopic(t, adm, "aged", 1, map[string]*string{"segment.bytes": &segment})
	pa := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("aged"))
	old := time.Now().Add(-time.Hour)
	for i := 0; i < 100; i++ {
		if err := pa.ProduceSync(ctx, &kgo.Record{Value: segmentFillerValue(i), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: strPtr("60000")}}, "aged"); err != nil {
		t.Fatal(err)
	}
	testharness.Eventually(t, 10*time.Second, "time retention to delete old segments", func() bool {
		s, err := adm.ListStartOffsets(ctx, "aged")
		if err != nil {
			return false
		}
		o, _ := s.Lookup("aged", 0)
		return o.Offset > 0
	})
}

func strPtr(s string) *string { return &s }

// segmentFillerValue is 16 KiB that does not compress, starting with i: 64
// of them fill a minimum-size (1 MiB) segment.
func segmentFillerValue(i int) []byte {
	v := make([]byte, 16<<10)
	r := rand.New(rand.NewPCG(uint64(i), 1))
	for j := 8; j+8 <= len(v); j += 8 {
		binary.LittleEndian.PutUint64(v[j:], r.Uint64())
	}
	binary.BigEndian.PutUint64(v, uint64(i))
	return v
}

// TestGracefulRestartKeepsData: data and offsets are all there after a stop
// and start on the same data dir.
func TestGracefulRestartKeepsData(t *testing.T) {
	cfg := inproc.Config(t)
	n := inproc.Launch(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "durable", 2, nil)
	p := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("durable"))
	ctx := testharness.Context(t, 30*time.Second)
	for i := 0; i < 1000; i++ {
		p.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: recordValue(i)}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	inproc.CloseNode(t, n)

	n2 := inproc.StartNode(t, cfg)
	got := consumeN(t, n2, "durable", 1000)
	if len(got) != 1000 {
		t.Fatalf("got %d records after restart", len(got))
	}
	p2 := inproc.NodeClient(t, n2, kgo.DefaultProduceTopic("durable"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	r, err := p2.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("x")}).First()
	if err != nil {
		t.Fatal(err)
	}
	_ = r
}
