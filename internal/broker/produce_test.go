package broker_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

func recordValue(i int) []byte {
	v := make([]byte, 100)
	binary.BigEndian.PutUint64(v, uint64(i))
	copy(v[8:], fmt.Sprintf("record-%d-padding-to-compress-well", i))
	return v
}

// TestProduceConsumeCodecsAndAcks moves records through every compression
// codec and every acks level and reads them back byte for byte, in order.
func TestProduceConsumeCodecsAndAcks(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	records := 100000
	if testing.Short() {
		records = 5000
	}
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	acks := []struct {
		name string
		acks kgo.Acks
	}{{"acks0", kgo.NoAck()}, {"acks1", kgo.LeaderAck()}, {"acksall", kgo.AllISRAcks()}}
	for _, c := range codecs {
		for _, a := range acks {
			t.Run(c.name+"/"+a.name, func(t *testing.T) {
				topic := "codec-" + c.name + "-" + a.name
				createTopic(t, adm, topic, 3, nil)
				opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c.codec),
					kgo.RequiredAcks(a.acks), kgo.RecordPartitioner(kgo.RoundRobinPartitioner())}
				if a.acks == kgo.NoAck() || a.acks == kgo.LeaderAck() {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				p := inproc.NodeClient(t, n, opts...)
				ctx := testharness.Context(t, 120*time.Second)
				for i := 0; i < records; i++ {
					p.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: recordValue(i)}, func(r *kgo.Record, err error) {
						if err != nil {
							t.Errorf("produce: %v", err)
						}
					})
				}
				if err := p.Flush(ctx); err != nil {
					t.Fatalf("flush: %v", err)
				}
				got := consumeN(t, n, topic, records)
				seen := make([]bool, records)
				lastPerPartition := map[int32]int{}
				for _, r := range got {
					i, err := strconv.Atoi(string(r.Key))
					if err != nil || i < 0 || i >= records {
						t.Fatalf("bad key %q", r.Key)
					}
					if seen[i] {
						t.Fatalf("record %d consumed twice", i)
					}
					seen[i] = true
					if !bytes.Equal(r.Value, recordValue(i)) {
						t.Fatalf("record %d: value differs", i)
					}
					if last, ok := lastPerPartition[r.Partition]; ok && i <= last {
						t.Fatalf("partition %d: record %d after %d", r.Partition, i, last)
					}
					lastPerPartition[r.Partition] = i
				}
			})
		}
	}
}

// rawProduce sends one hand-made produce request and returns the partition's answer.
func rawProduce(t *testing.T, cl *kgo.Client, topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testharness.Context(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

// buildBatch makes a valid uncompressed RecordBatch v2 with n records.
func buildBatch(n int, valueSize int) []byte {
	recs := make([]batch.Record, n)
	for i := range recs {
		recs[i] = batch.Record{Timestamp: time.Now().UnixMilli(), Value: bytes.Repeat([]byte{'x'}, valueSize)}
	}
	return batch.Build(time.Now().UnixMilli(), recs)
}

// TestProduceBadInput says what each malformed or refused produce gets, and
// that nothing is appended for it.
func TestProduceBadInput(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AutoCreateTopics = false
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	small := "2048"
	createTopic(t, adm, "bad", 1, map[string]*string{"max.message.bytes": &small})
	cl := inproc.NodeClient(t, n)

	good := buildBatch(3, 10)
	if r := rawProduce(t, cl, "bad", 0, good); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("valid batch: error %d base %d", r.ErrorCode, r.BaseOffset)
	}

	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-1] ^= 0xff
	if r := rawProduce(t, cl, "bad", 0, corrupt); r.ErrorCode != kerr.CorruptMessage.Code {
		t.Errorf("wrong CRC: got error %d, want CORRUPT_MESSAGE", r.ErrorCode)
	}
	big := buildBatch(1, 4096)
	if r := rawProduce(t, cl, "bad", 0, big); r.ErrorCode != kerr.MessageTooLarge.Code {
		t.Errorf("batch over max.message.bytes: got error %d, want MESSAGE_TOO_LARGE", r.ErrorCode)
	}
	if r := rawProduce(t, cl, "bad", 7, good); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("nonexistent partition: got error %d, want UNKNOWN_TOPIC_OR_PARTITION", r.ErrorCode)
	}
	if r := rawProduce(t, cl, "missing", 0, good); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("nonexistent topic: got error %d, want UNKNOWN_TOPIC_OR_PARTITION", r.ErrorCode)
	}
	if r := rawProduce(t, cl, "bad name!", 0, good); r.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("invalid topic name: got error %d, want INVALID_TOPIC_EXCEPTION", r.ErrorCode)
	}
	magic1 := append([]byte(nil), good...)
	magic1[16] = 1
	if r := rawProduce(t, cl, "bad", 0, magic1); r.ErrorCode != kerr.UnsupportedForMessageFormat.Code {
		t.Errorf("magic 1 message set: got error %d, want UNSUPPORTED_FOR_MESSAGE_FORMAT", r.ErrorCode)
	}
	created, err := inproc.NodeAdmin(t, n).CreateTopic(testharness.Context(t, 5*time.Second), 1, 1, nil, "__consumer_offsets")
	if err == nil {
		err = created.Err
	}
	if !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("create __consumer_offsets by hand: got %v, want INVALID_REQUEST", err)
	}
	// The first group call creates it.
	if _, err := kmsg.NewPtrFindCoordinatorRequest().RequestWith(testharness.Context(t, 5*time.Second), cl); err != nil {
		t.Fatal(err)
	}
	if r := rawProduce(t, cl, "__consumer_offsets", 0, good); r.ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("produce to __consumer_offsets: got error %d, want INVALID_TOPIC_EXCEPTION", r.ErrorCode)
	}
	two := append(append([]byte(nil), good...), good...)
	if r := rawProduce(t, cl, "bad", 0, two); r.ErrorCode != kerr.InvalidRecord.Code {
		t.Errorf("two batches: got error %d, want INVALID_RECORD", r.ErrorCode)
	}
	if r := rawProduce(t, cl, "bad", 0, good[:40]); r.ErrorCode != kerr.CorruptMessage.Code {
		t.Errorf("truncated batch: got error %d, want CORRUPT_MESSAGE", r.ErrorCode)
	}

	// Nothing of the refused batches was appended: the log end is still 3.
	ends, err := adm.ListEndOffsets(testharness.Context(t, 5*time.Second), "bad")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("bad", 0); o.Offset != 3 {
		t.Fatalf("log end offset %d after refused batches, want 3", o.Offset)
	}
	if r := rawProduce(t, cl, "bad", 0, good); r.ErrorCode != 0 || r.BaseOffset != 3 {
		t.Fatalf("valid batch after refusals: error %d base %d, want base 3", r.ErrorCode, r.BaseOffset)
	}
}

// TestInvalidTopicNames checks CreateTopics and Metadata refuse bad names.
func TestInvalidTopicNames(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	ctx := testharness.Context(t, 10*time.Second)
	for _, name := range []string{"", ".", "..", "has space", "slash/topic", string(bytes.Repeat([]byte{'a'}, 250))} {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, name)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Errorf("create %q: got %v, want INVALID_TOPIC_EXCEPTION", name, err)
		}
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	bad := "bad$name"
	rt.Topic = &bad
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(ctx, inproc.NodeClient(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
		t.Errorf("metadata for %q: error %d, want INVALID_TOPIC_EXCEPTION", bad, resp.Topics[0].ErrorCode)
	}
}
