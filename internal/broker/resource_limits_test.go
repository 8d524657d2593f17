package broker_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// requireHealthy proves a node still serves after a refusal: the admin
// /readyz answers 200, and a record produced to a fresh topic is consumed.
func requireHealthy(t *testing.T, n *broker.Node, topic string) {
	t.Helper()
	ctx := testharness.Context(t, 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.Addrs().Admin+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	createTopic(t, inproc.NodeAdmin(t, n), topic, 1, nil)
	p := inproc.NodeClient(t, n, kgo.DefaultProduceTopic(topic))
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("still-alive")}).FirstErr(); err != nil {
		t.Fatalf("produce after the refusal: %v", err)
	}
	if got := consumeN(t, n, topic, 1); string(got[0].Value) != "still-alive" {
		t.Fatalf("consumed %q", got[0].Value)
	}
}

func wantTopicRefusal(t *testing.T, what string, code int16, msg *string, want *kerr.Error, words ...string) {
	t.Helper()
	if code != want.Code {
		t.Fatalf("%s: error code %v (%s), want %s", what, kerr.ErrorForCode(code), derefMsg(msg), want.Message)
	}
	for _, w := range words {
		if msg == nil || !strings.Contains(*msg, w) {
			t.Fatalf("%s: message %q should contain %q", what, derefMsg(msg), w)
		}
	}
}

func derefMsg(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// errCode is the Kafka code of a kadm result error (0 for nil).
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Code
	}
	return -1
}

// partitionDirs lists the partition directories of a topic in a data dir.
func partitionDirs(t *testing.T, dataDir, topic string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dataDir, "logs", topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCreateTopicsHundredThousandPartitionsRefused is finding 6 of issue
// 11: a CreateTopics asking for 100,000 partitions is refused at once with
// POLICY_VIOLATION naming --max-partitions-per-request, nothing is created,
// and the node stays healthy. Several topics that add up past the limit
// are refused together (a negative count does not offset them), and so is
// CreatePartitions growing a topic past it.
func TestCreateTopicsHundredThousandPartitionsRefused(t *testing.T) {
	cfg := inproc.Config(t)
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	ctx := testharness.Context(t, 30*time.Second)

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "huge", 100000, 1
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	st := resp.Topics[0]
	wantTopicRefusal(t, "100,000 partitions", st.ErrorCode, st.ErrorMessage, kerr.PolicyViolation,
		"100000", "limit of 1000", "--max-partitions-per-request")
	if took > 2*time.Second {
		t.Fatalf("the refusal took %v", took)
	}
	t.Logf("100,000 partitions refused in %v: %s", took, derefMsg(st.ErrorMessage))
	if dirs := partitionDirs(t, cfg.DataDir, "huge"); len(dirs) != 0 {
		t.Fatalf("%d partition directories created for the refused topic", len(dirs))
	}

	// Two topics of 600 each: over the limit together, both refused.
	req.Topics = nil
	for _, name := range []string{"half-a", "half-b"} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 600, 1
		req.Topics = append(req.Topics, rt)
	}
	neg := kmsg.NewCreateTopicsRequestTopic()
	neg.Topic, neg.NumPartitions, neg.ReplicationFactor = "negative", -100000, 1
	req.Topics = append(req.Topics, neg)
	if resp, err = req.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	for _, st := range resp.Topics {
		wantTopicRefusal(t, st.Topic, st.ErrorCode, st.ErrorMessage, kerr.PolicyViolation, "1200", "--max-partitions-per-request")
	}

	// CreatePartitions past the limit.
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "grows", 2, nil)
	cp, err := adm.CreatePartitions(ctx, 100000, "grows")
	if err != nil {
		t.Fatal(err)
	}
	r := cp["grows"]
	wantTopicRefusal(t, "CreatePartitions to 100,002", errCode(r.Err), &r.ErrMessage, kerr.PolicyViolation, "--max-partitions-per-request")
	if dirs := partitionDirs(t, cfg.DataDir, "grows"); len(dirs) != 2 {
		t.Fatalf("grows has %d partition directories, want 2", len(dirs))
	}

	requireHealthy(t, n, "after-huge")
}

// TestPartitionsPerBrokerLimitRefused: with --max-partitions-per-broker
// 10, a topic fills the broker to 8, and then a new topic, a partition
// addition and an auto-created topic that would pass 10 are refused with
// POLICY_VIOLATION naming the limit; nothing is created and the node stays
// healthy (a one-partition topic still fits).
func TestPartitionsPerBrokerLimitRefused(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.MaxPartitionsPerBroker = 10
	cfg.DefaultPartitions = 3
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	ctx := testharness.Context(t, 30*time.Second)

	createTopic(t, adm, "first", 8, nil)
	resps, err := adm.CreateTopics(ctx, 3, 1, nil, "second")
	if err != nil {
		t.Fatal(err)
	}
	resp := resps["second"]
	wantTopicRefusal(t, "8 + 3 partitions", errCode(resp.Err), &resp.ErrMessage, kerr.PolicyViolation,
		"broker 1", "11", "limit of 10", "--max-partitions-per-broker")
	cp, err := adm.CreatePartitions(ctx, 3, "first")
	if err != nil {
		t.Fatal(err)
	}
	grown := cp["first"]
	wantTopicRefusal(t, "growing to 11", errCode(grown.Err), &grown.ErrMessage, kerr.PolicyViolation, "limit of 10")

	// Auto-creation (3 default partitions) is held to the same limit.
	md := kmsg.NewPtrMetadataRequest()
	md.AllowAutoTopicCreation = true
	mt := kmsg.NewMetadataRequestTopic()
	name := "auto-created"
	mt.Topic = &name
	md.Topics = append(md.Topics, mt)
	mresp, err := md.RequestWith(ctx, inproc.NodeClient(t, n))
	if err != nil {
		t.Fatal(err)
	}
	if c := mresp.Topics[0].ErrorCode; c != kerr.PolicyViolation.Code {
		t.Fatalf("auto-created topic past the limit: code %v, want POLICY_VIOLATION", kerr.ErrorForCode(c))
	}
	for _, topic := range []string{"second", "auto-created"} {
		if dirs := partitionDirs(t, cfg.DataDir, topic); len(dirs) != 0 {
			t.Fatalf("refused topic %s has %d partition directories", topic, len(dirs))
		}
	}
	if dirs := partitionDirs(t, cfg.DataDir, "first"); len(dirs) != 8 {
		t.Fatalf("first has %d partition directories, want 8", len(dirs))
	}
	requireHealthy(t, n, "fits")
}

// TestSegmentBytesMinimum: segment.bytes below 1 MiB is refused with
// INVALID_CONFIG naming the key and the minimum, at creation and by
// IncrementalAlterConfigs; 1 MiB itself is accepted.
func TestSegmentBytesMinimum(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	ctx := testharness.Context(t, 30*time.Second)

	for _, v := range []string{"1024", "14", "1048575"} {
		resps, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"segment.bytes": &v}, "tiny-"+v)
		if err != nil {
			t.Fatal(err)
		}
		resp := resps["tiny-"+v]
		wantTopicRefusal(t, "create with segment.bytes="+v, errCode(resp.Err), &resp.ErrMessage, kerr.InvalidConfig,
			"segment.bytes", "minimum 1048576")
	}
	createTopic(t, adm, "segments", 1, nil)
	alter := func(v string) kadm.AlterConfigsResponse {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: &v}}, "segments")
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	r := alter("1024")
	wantTopicRefusal(t, "alter to 1024", errCode(r.Err), &r.ErrMessage, kerr.InvalidConfig, "segment.bytes", "minimum 1048576")
	if r := alter("1048576"); r.Err != nil {
		t.Fatalf("alter to 1 MiB: %v %s", r.Err, r.ErrMessage)
	}
}

// TestManySegmentsBoundedFilesAndRestart is finding 7 of issue 11: a
// topic of minimum-size segments grows to 40 of them; with
// --max-open-segment-files 12 the files the node holds open stay within the
// cap plus the active segment's three (and one segment a reader holds past
// the cap) while a consumer reads every segment; after a restart that has
// to scan every segment (no recovery point) the node becomes ready within
// the same bound and serves all the data.
func TestManySegmentsBoundedFilesAndRestart(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.MaxOpenSegmentFiles = 12
	const activeFiles, readerSlack = 3, 3
	bound := int(cfg.MaxOpenSegmentFiles) + activeFiles + readerSlack
	logsDir := filepath.Join(cfg.DataDir, "logs")
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	segBytes := "1048576"
	createTopic(t, adm, "many", 1, map[string]*string{"segment.bytes": &segBytes})

	// 120 records of 256 KiB: three fit a 1 MiB segment, so 40 segments.
	const records = 120
	value := func(i int) []byte {
		v := bytes.Repeat([]byte{byte(i)}, 256<<10)
		copy(v, fmt.Sprintf("record-%d", i))
		return v
	}
	p := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("many"), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1<<20))
	ctx := testharness.Context(t, 60*time.Second)
	for i := range records {
		if err := p.ProduceSync(ctx, &kgo.Record{Value: value(i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	segments, _ := filepath.Glob(filepath.Join(logsDir, "many-0", "*.log"))
	if len(segments) < 30 {
		t.Fatalf("only %d segments; the test needs many", len(segments))
	}
	maxOpen := 0
	measure := func(when string) {
		t.Helper()
		under, all := testharness.OpenFDs(t, logsDir)
		maxOpen = max(maxOpen, under)
		if under > bound {
			t.Fatalf("%s: %d files open under the log dir (process: %d), want at most %d (cap %d + active segment + one read); %d segments would hold %d",
				when, under, all, bound, cfg.MaxOpenSegmentFiles, len(segments), 3*len(segments))
		}
	}
	consumeAll := func(when string) {
		t.Helper()
		c := inproc.NodeClient(t, n, kgo.ConsumeTopics("many"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(1<<20), kgo.FetchMaxPartitionBytes(1<<20))
		defer c.Close()
		got := 0
		for got < records {
			fs := c.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("%s: consumed %d of %d: %v", when, got, records, err)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("%s: fetch: %v", when, err) })
			for _, r := range fs.Records() {
				if !bytes.Equal(r.Value, value(int(r.Offset))) {
					t.Fatalf("%s: record %d differs", when, r.Offset)
				}
				got++
			}
			measure(when)
		}
	}
	measure("after producing")
	consumeAll("reading every segment")
	m := scrape(t, n)
	if got := m.must(t, "chronik_open_segment_files"); got > float64(cfg.MaxOpenSegmentFiles) {
		t.Errorf("chronik_open_segment_files = %v, above the cap %d", got, cfg.MaxOpenSegmentFiles)
	}
	if got := m.must(t, "chronik_open_segment_files_max"); got != float64(cfg.MaxOpenSegmentFiles) {
		t.Errorf("chronik_open_segment_files_max = %v, want %d", got, cfg.MaxOpenSegmentFiles)
	}
	if got := m.must(t, "chronik_segment_file_evictions_total"); got < 1 {
		t.Errorf("chronik_segment_file_evictions_total = %v after reading %d segments through a cap of 4", got, len(segments))
	}
	under, all := testharness.OpenFDs(t, logsDir)
	t.Logf("%d segments; at most %d files open under the log dir while reading (cap %d + 3 active); now %d, process %d",
		len(segments), maxOpen, cfg.MaxOpenSegmentFiles, under, all)

	// Restart; without a recovery point every segment is scanned.
	inproc.CloseNode(t, n)
	if err := os.Remove(filepath.Join(logsDir, "many-0", "recovery-point")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n = inproc.StartNode(t, cfg)
	t.Logf("ready %v after a restart that scanned %d segments", time.Since(start).Round(time.Millisecond), len(segments))
	measure("after the restart")
	consumeAll("reading every segment after the restart")
	under, all = testharness.OpenFDs(t, logsDir)
	t.Logf("after the restart: at most %d files open under the log dir; now %d, process %d", maxOpen, under, all)
	requireHealthy(t, n, "after-restart")
}
