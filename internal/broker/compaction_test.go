package broker_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// The log cleaner end to end: real franz-go clients against in-process
// nodes whose cleaner backs off only briefly. Segments roll on the next
// append 1 ms after they were started (segment.ms=1), so a marker record
// makes everything before it cleanable.

const rollKey = "~roll" // the marker records' key

// compactedConfigs are the configs of the test topics: compacted, rolled at
// every append, cleaned whenever anything is dirty.
func compactedConfigs(extra ...string) map[string]*string {
	c := map[string]*string{"cleanup.policy": strp("compact"), "segment.ms": strp("1"), "min.cleanable.dirty.ratio": strp("0")}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i]] = strp(extra[i+1])
	}
	return c
}

// quickCleaner makes a node's cleaner look for work every 20 ms.
func quickCleaner(c *broker.Config) { c.LogCleanerBackoff = 20 * time.Millisecond }

// logRecord is one record as a replica's log holds it.
type logRecord struct {
	Offset int64
	Key    string
	Value  []byte // nil: a tombstone
}

// replicaRecords reads every record of a replica's log below end.
func replicaRecords(t *testing.T, p *replica.Partition, end int64) []logRecord {
	t.Helper()
	var out []logRecord
	err := p.ScanBatches(p.LogStartOffset(), func(h batch.Header, b []byte) error {
		if h.BaseOffset >= end {
			return nil
		}
		recs, err := batch.Records(b)
		if err != nil {
			return fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
		}
		for _, r := range recs {
			if r.Offset < end {
				out = append(out, logRecord{Offset: r.Offset, Key: string(r.Key), Value: r.Value})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s-%d: %v", p.Topic, p.Index, err)
	}
	return out
}

// produce sends records with acks=all and returns each one's offset.
func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) []int64 {
	t.Helper()
	res := cl.ProduceSync(testharness.Context(t, 15*time.Second), recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	offs := make([]int64, len(res))
	for i, r := range res {
		offs[i] = r.Record.Offset
	}
	return offs
}

func rec(topic, key string, value []byte) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
}

// waitCleanedTo produces markers until the replica's cleaner checkpoint
// reaches at least offset (a marker rolls the segment before it), then
// returns the checkpoint.
func waitCleanedTo(t *testing.T, n *broker.Node, cl *kgo.Client, topic string, offset int64) int64 {
	t.Helper()
	var st replica.CleanerStatus
	testharness.Eventually(t, 30*time.Second, fmt.Sprintf("%s-0 cleaned to %d", topic, offset), func() bool {
		st, _ = n.PartitionCleaner(topic, 0)
		if st.State.FirstDirtyOffset >= offset {
			return true
		}
		if st.State.CleanableEnd < offset {
			produce(t, cl, rec(topic, rollKey, []byte("m")))
		}
		return false
	}, func() string { return fmt.Sprintf("cleaner state %+v", st) })
	return st.State.FirstDirtyOffset
}

// latest is what a compacted log must keep of what was produced: per key,
// the offset and value of its last record.
type latest map[string]logRecord

func (l latest) add(key string, value []byte, offset int64) {
	l[key] = logRecord{Offset: offset, Key: key, Value: value}
}

// checkLatestOnly: below end, rs holds exactly the latest record of each
// key in want (tombstones as nil values) and, of the marker key, at most
// one record; nothing else.
func checkLatestOnly(t *testing.T, what string, rs []logRecord, want latest) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range rs {
		if i > 0 && r.Offset <= rs[i-1].Offset {
			t.Fatalf("%s: offset %d after %d", what, r.Offset, rs[i-1].Offset)
		}
		if r.Key == rollKey {
			if seen[rollKey] {
				t.Fatalf("%s: two marker records below the cleaned end", what)
			}
			seen[rollKey] = true
			continue
		}
		w, ok := want[r.Key]
		switch {
		case !ok:
			t.Fatalf("%s: record %+v of a key that should be gone", what, r)
		case seen[r.Key]:
			t.Fatalf("%s: key %q twice (again at %d)", what, r.Key, r.Offset)
		case r.Offset != w.Offset || !bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil):
			t.Fatalf("%s: key %q at %d = %q, want %q at %d", what, r.Key, r.Offset, r.Value, w.Value, w.Offset)
		}
		seen[r.Key] = true
	}
	for k := range want {
		if !seen[k] {
			t.Fatalf("%s: key %q missing", what, k)
		}
	}
}

// consumeAll reads the records of the topic's partition 0 below end, from
// the start, with a real consumer; a record at or past end-1 must exist.
func consumeAll(t *testing.T, n *broker.Node, topic string, end int64) []logRecord {
	t.Helper()
	cl := inproc.NodeClient(t, n, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx := testharness.Context(t, 30*time.Second)
	var out []logRecord
	// Offsets below end may be gone (compacted): read until a record at
	// or past end-1 arrives.
	for last := int64(-1); last < end-1; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed up to %v of %s, want %d: %v", out, topic, end, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", tp, p, err) })
		for _, r := range fs.Records() {
			last = max(last, r.Offset)
			if r.Offset < end {
				out = append(out, logRecord{Offset: r.Offset, Key: string(r.Key), Value: r.Value})
			}
		}
	}
	return out
}

// TestCompactedTopicKeepsLatestValuePerKey: keyed overwrites and tombstones
// on a topic created compacted with kadm. Once cleaned, a consumer from
// offset 0 sees exactly the latest record of each key at its original
// offset, tombstones included; after delete.retention.ms is lowered to 0
// the next pass removes the tombstones. A record without key is refused
// with INVALID_RECORD, compressed or not, and nothing is appended.
func TestCompactedTopicKeepsLatestValuePerKey(t *testing.T) {
	cfg := inproc.Config(t)
	quickCleaner(&cfg)
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "cdc", 1, compactedConfigs())
	cl := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("cdc"))

	want := latest{}
	for round := range 5 {
		var recs []*kgo.Record
		for k := range 20 {
			v := []byte(fmt.Sprintf("v%d-%d", k, round))
			if round == 4 && k < 5 {
				v = nil // tombstone
			}
			recs = append(recs, rec("cdc", fmt.Sprintf("k%02d", k), v))
		}
		for i, off := range produce(t, cl, recs...) {
			want.add(string(recs[i].Key), recs[i].Value, off)
		}
	}
	dataEnd := want["k19"].Offset + 1
	cleaned := waitCleanedTo(t, n, cl, "cdc", dataEnd)
	checkLatestOnly(t, "consumer after the first clean", consumeAll(t, n, "cdc", cleaned), want)
	if st, _ := n.PartitionCleaner("cdc", 0); st.State.Passes == 0 || st.State.BytesReclaimed <= 0 {
		t.Fatalf("cleaner state after cleaning %+v: want passes and reclaimed bytes", st.State)
	}
	if info := n.CleanerInfo(); !info.Enabled || !info.Running || info.Passes == 0 || info.BytesReclaimed <= 0 || info.Uncleanable != 0 {
		t.Fatalf("cleaner info %+v", info)
	}

	// Records without key: refused, uncompressed or compressed, nothing appended.
	endBefore := listEnd(t, adm, "cdc")
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		kcl := inproc.NodeClient(t, n, kgo.ProducerBatchCompression(codec), kgo.RecordRetries(0))
		res := kcl.ProduceSync(testharness.Context(t, 10*time.Second),
			rec("cdc", "fine", []byte("x")), &kgo.Record{Topic: "cdc", Value: []byte("no key")})
		if err := res.FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("batch with a record without key: %v, want INVALID_RECORD", err)
		}
	}
	if end := listEnd(t, adm, "cdc"); end != endBefore {
		t.Fatalf("log end %d after refused produces, want %d", end, endBefore)
	}

	// Tombstones outlive a clean while delete.retention.ms has not passed;
	// with 0 the next pass removes them.
	alter(t, adm, "cdc", "delete.retention.ms", "0")
	var recs []*kgo.Record
	for k := 20; k < 25; k++ {
		recs = append(recs, rec("cdc", fmt.Sprintf("k%02d", k), []byte("new")))
	}
	for i, off := range produce(t, cl, recs...) {
		want.add(string(recs[i].Key), recs[i].Value, off)
	}
	for k := range 5 {
		delete(want, fmt.Sprintf("k%02d", k))
	}
	cleaned = waitCleanedTo(t, n, cl, "cdc", want["k24"].Offset+1)
	checkLatestOnly(t, "consumer after tombstones expired", consumeAll(t, n, "cdc", cleaned), want)
}

func listEnd(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(testharness.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}

func alter(t *testing.T, adm *kadm.Client, topic, key, value string) {
	t.Helper()
	res, err := adm.AlterTopicConfigs(testharness.Context(t, 10*time.Second),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: strp(value)}}, topic)
	if err == nil {
		_, err = res.On(topic, nil)
	}
	if err == nil && res[0].Err != nil {
		err = fmt.Errorf("%w: %s", res[0].Err, res[0].ErrMessage)
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", key, value, topic, err)
	}
}

// TestCompactedReplicasIdentical: the three replicas of a compacted RF 3
// topic each clean on their own (leader and followers alike, up to their
// high watermark); once each has cleaned to the same point they hold the
// same records, which are the latest of each key.
func TestCompactedReplicasIdentical(t *testing.T) {
	c := inproc.NewCluster(t, 3, quickCleaner)
	c.StartAll()
	adm := inproc.Admin(t, c.KafkaAddrs())
	resp, err := adm.CreateTopic(testharness.Context(t, 10*time.Second), 1, 3, compactedConfigs(), "rep")
	if err != nil || resp.Err != nil {
		t.Fatalf("create rep: %v %v", err, resp.Err)
	}
	c.WaitTopic("rep", 1)
	cl := inproc.Client(t, c.KafkaAddrs(), kgo.DefaultProduceTopic("rep"))

	want := latest{}
	for round := range 4 {
		var recs []*kgo.Record
		for k := range 30 {
			v := []byte(fmt.Sprintf("%d/%d", k, round))
			if round == 3 && k%7 == 0 {
				v = nil
			}
			recs = append(recs, rec("rep", fmt.Sprintf("k%02d", k), v))
		}
		for i, off := range produce(t, cl, recs...) {
			want.add(string(recs[i].Key), recs[i].Value, off)
		}
	}

	// Each replica cleans everything below the last marker, the only batch
	// of its active segment; markers go on until every replica rolled at
	// the last one.
	var states []string
	testharness.Eventually(t, 60*time.Second, "every replica cleaned to the same point", func() bool {
		states = states[:0]
		var ends []int64
		done := true
		for i, n := range c.Nodes {
			p := n.ReplicaForTest("rep", 0)
			if p == nil {
				return false
			}
			st, _ := p.CleanerStatus()
			leo := p.LogEndOffset()
			states = append(states, fmt.Sprintf("node %d: leo %d hw %d %+v", i+1, leo, p.HighWatermark(), st.State))
			ends = append(ends, leo)
			if p.HighWatermark() != leo || st.State.FirstDirtyOffset != leo-1 {
				done = false
			}
		}
		if done && ends[0] == ends[1] && ends[1] == ends[2] {
			return true
		}
		// A replica that has the last marker but did not roll before it
		// (or has not caught up) needs another one.
		for _, n := range c.Nodes {
			p := n.ReplicaForTest("rep", 0)
			if st, _ := p.CleanerStatus(); p.HighWatermark() == p.LogEndOffset() && st.State.CleanableEnd < p.LogEndOffset()-1 {
				produce(t, cl, rec("rep", rollKey, []byte("m")))
				break
			}
		}
		return false
	}, func() string { return strings.Join(states, "\n") })

	var first []logRecord
	for i, n := range c.Nodes {
		p := n.ReplicaForTest("rep", 0)
		rs := replicaRecords(t, p, p.HighWatermark()-1)
		checkLatestOnly(t, fmt.Sprintf("node %d", i+1), rs, want)
		if i == 0 {
			first = rs
			continue
		}
		if !slices.EqualFunc(first, rs, func(a, b logRecord) bool {
			return a.Offset == b.Offset && a.Key == b.Key && bytes.Equal(a.Value, b.Value) && (a.Value == nil) == (b.Value == nil)
		}) {
			t.Fatalf("node %d holds %v below the high watermark, node 1 %v", i+1, rs, first)
		}
	}
}

// TestConsumerOffsetsCompacted: __consumer_offsets is compacted, so many
// commits of one group shrink to about one record per partition once
// cleaned, and the group's offsets survive a restart of its coordinator,
// which loads them from the compacted log.
func TestConsumerOffsetsCompacted(t *testing.T) {
	cfg := inproc.Config(t)
	quickCleaner(&cfg)
	cfg.OffsetsTopicPartitions = 1
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "events", 2, nil)
	ctx := testharness.Context(t, 60*time.Second)

	commit := func(i int) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: "events", Partition: 0, At: int64(i), LeaderEpoch: -1, Metadata: "m"})
		offs.Add(kadm.Offset{Topic: "events", Partition: 1, At: int64(2 * i), LeaderEpoch: -1})
		res, err := adm.CommitOffsets(ctx, "g", offs)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	commit(0) // creates __consumer_offsets
	tp, err := adm.DescribeTopicConfigs(ctx, controller.OffsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := tp.On(controller.OffsetsTopic, nil); !hasConfig(v.Configs, "cleanup.policy", "compact") {
		t.Fatalf("%s configs %+v, want cleanup.policy=compact", controller.OffsetsTopic, v.Configs)
	}
	// Nothing is cleaned while the group commits (min.compaction.lag.ms),
	// so the partition grows with every commit.
	alter(t, adm, controller.OffsetsTopic, "segment.ms", "1")
	alter(t, adm, controller.OffsetsTopic, "min.cleanable.dirty.ratio", "0")
	alter(t, adm, controller.OffsetsTopic, "min.compaction.lag.ms", "3600000")

	for i := 1; i <= 300; i++ {
		commit(i)
	}
	p := n.ReplicaForTest(controller.OffsetsTopic, 0)
	grown := p.LogBytes()
	// The next commit is in a new segment (segment.ms=1): everything before
	// it can be cleaned once the lag is gone.
	end := p.LogEndOffset()
	commit(301)
	alter(t, adm, controller.OffsetsTopic, "min.compaction.lag.ms", "0")
	var st replica.CleanerStatus
	testharness.Eventually(t, 30*time.Second, "the offsets partition cleaned", func() bool {
		st, _ = p.CleanerStatus()
		return st.State.FirstDirtyOffset >= end
	}, func() string { return fmt.Sprintf("%+v", st.State) })
	if shrunk := p.LogBytes(); shrunk*4 > grown {
		t.Fatalf("offsets partition is %d bytes after cleaning, %d before: want it under a quarter", shrunk, grown)
	}
	// One record per key is left of the 600 commits below end.
	if rs := replicaRecords(t, p, end); len(rs) > 2 || end < 600 {
		t.Fatalf("%d records below %d after cleaning, want at most the 2 latest commits: %v", len(rs), end, rs)
	}

	// The coordinator restarts and loads the compacted partition.
	inproc.CloseNode(t, n)
	n = inproc.StartNode(t, cfg)
	adm = inproc.NodeAdmin(t, n)
	var got kadm.OffsetResponses
	testharness.Eventually(t, 30*time.Second, "offsets fetched after the restart", func() bool {
		got, err = adm.FetchOffsets(ctx, "g")
		return err == nil && got.Error() == nil
	}, func() string { return fmt.Sprintf("%v %v", err, got) })
	for part, at := range map[int32]int64{0: 301, 1: 602} {
		o, ok := got.Lookup("events", part)
		if !ok || o.At != at {
			t.Fatalf("committed offset of events[%d] after the restart: %+v, want %d", part, o, at)
		}
	}
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}

// TestUncleanablePartitionSkipped: a compacted partition whose inactive
// segment is corrupted on disk after the fact fails its pass; the cleaner
// marks it uncleanable with the reason (admin view and CleanerInfo) and
// goes on cleaning the others. A config change gives it another try.
func TestUncleanablePartitionSkipped(t *testing.T) {
	cfg := inproc.Config(t)
	quickCleaner(&cfg)
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "bad", 1, compactedConfigs("min.compaction.lag.ms", "3600000"))
	createTopic(t, adm, "good", 1, compactedConfigs())
	cl := inproc.NodeClient(t, n)

	// Two segments of "bad": its first batch is corrupted once it is
	// inactive. min.compaction.lag.ms keeps the cleaner off it until then.
	produce(t, cl, rec("bad", "a", []byte("1")), rec("bad", "b", []byte("1")))
	dir := filepath.Join(cfg.DataDir, "logs", "bad-0")
	testharness.Eventually(t, 10*time.Second, "bad rolled", func() bool {
		produce(t, cl, rec("bad", "a", []byte("2")))
		segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
		return err == nil && len(segs) >= 2
	})
	seg := filepath.Join(dir, "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Inside the first batch's CRC-covered bytes (its records).
	if _, err := f.WriteAt([]byte("corrupt!"), batch.HeaderSize+2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	alter(t, adm, "bad", "min.compaction.lag.ms", "0")

	var st replica.CleanerStatus
	testharness.Eventually(t, 30*time.Second, "bad marked uncleanable", func() bool {
		st, _ = n.PartitionCleaner("bad", 0)
		return st.Uncleanable != ""
	}, func() string { return fmt.Sprintf("%+v", st) })
	since := st.UncleanableSince
	if info := n.CleanerInfo(); info.Uncleanable != 1 || !strings.Contains(info.LastError, "bad-0") || !info.Running {
		t.Fatalf("cleaner info %+v, want one uncleanable partition, bad-0 in the last error, still running", info)
	}

	// The other partition is still cleaned.
	want := latest{}
	for round := range 3 {
		var recs []*kgo.Record
		for k := range 10 {
			recs = append(recs, rec("good", fmt.Sprintf("k%d", k), []byte(fmt.Sprint(round))))
		}
		for i, off := range produce(t, cl, recs...) {
			want.add(string(recs[i].Key), recs[i].Value, off)
		}
	}
	gcl := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("good"))
	cleaned := waitCleanedTo(t, n, gcl, "good", want["k9"].Offset+1)
	checkLatestOnly(t, "good", consumeAll(t, n, "good", cleaned), want)

	// A config change clears the mark; the data is still corrupt, so the
	// next pass marks it again, later.
	alter(t, adm, "bad", "delete.retention.ms", "1000")
	testharness.Eventually(t, 30*time.Second, "bad tried again", func() bool {
		st, _ = n.PartitionCleaner("bad", 0)
		return st.Uncleanable != "" && st.UncleanableSince.After(since)
	}, func() string { return fmt.Sprintf("%+v", st) })
}

// TestCleanupPolicyChangeApplies: a delete-policy topic altered to compact
// at run time refuses records without key from the next produce on and is
// cleaned; the records without key it took before stay (they cannot be
// superseded), as in Kafka.
func TestCleanupPolicyChangeApplies(t *testing.T) {
	cfg := inproc.Config(t)
	quickCleaner(&cfg)
	n := inproc.StartNode(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "flip", 1, map[string]*string{"segment.ms": strp("1"), "min.cleanable.dirty.ratio": strp("0")})
	cl := inproc.NodeClient(t, n, kgo.DefaultProduceTopic("flip"), kgo.RecordRetries(0))

	keyless := produce(t, cl, &kgo.Record{Value: []byte("no key")})[0]
	want := latest{}
	for round := range 3 {
		for i, off := range produce(t, cl, rec("flip", "a", []byte{byte(round)}), rec("flip", "b", []byte{byte(round)})) {
			want.add([]string{"a", "b"}[i], []byte{byte(round)}, off)
		}
	}
	if _, ok := n.PartitionCleaner("flip", 0); ok {
		t.Fatal("a delete-policy partition reports cleaning")
	}

	alter(t, adm, "flip", "cleanup.policy", "compact,delete")
	res := cl.ProduceSync(testharness.Context(t, 10*time.Second), &kgo.Record{Value: []byte("no key")})
	if err := res.FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("record without key after the change to compact: %v, want INVALID_RECORD", err)
	}
	cleaned := waitCleanedTo(t, n, cl, "flip", want["b"].Offset+1)
	rs := consumeAll(t, n, "flip", cleaned)
	if len(rs) == 0 || rs[0].Offset != keyless || rs[0].Key != "" {
		t.Fatalf("the record without key from before the change is gone: %v", rs)
	}
	checkLatestOnly(t, "after the change", rs[1:], want)
}
