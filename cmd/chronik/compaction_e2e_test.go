package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// Log compaction (cleanup.policy=compact) on real `chronik serve`
// processes: kill -9 during a cleaning pass, a follower killed mid-clean,
// and consumers reading while the cleaner rewrites the segments they read.
// Each test writes keyed records with a known latest value per key, keeps
// the cleaner off the topic while it writes (min.compaction.lag.ms of an
// hour), then lets it clean (min.compaction.lag.ms=0) with its I/O
// throttled so a pass takes seconds.

// cleanerFlags make a pass over a few MiB take seconds and start at once.
func cleanerFlags() []string {
	return []string{"--log-cleaner-io-max-bytes-per-second", strconv.Itoa(1 << 20), "--log-cleaner-backoff", "100ms"}
}

const (
	compactKeys      = 200
	compactValueSize = 1024
	compactTopic     = "compacted"
	// compactTombstoned: keys below it end each round deleted (a tombstone
	// as their latest record), which the default delete.retention.ms (one
	// day) keeps.
	compactTombstoned = 10
)

// compactedConfigs: one-MiB segments so a few MiB make several; the
// cleaner kept off the topic until cleanable() lifts the lag.
func compactedConfigs() map[string]*string {
	return map[string]*string{
		"cleanup.policy":        kmsg.StringPtr("compact"),
		"segment.bytes":         kmsg.StringPtr(strconv.Itoa(1 << 20)),
		"min.compaction.lag.ms": kmsg.StringPtr(strconv.Itoa(3600_000)),
	}
}

// keyedRecord is one acknowledged record; Value nil is a tombstone.
type keyedRecord struct {
	Key   string
	Value []byte
}

// acked is what a test was acknowledged: the record at every offset, and
// the offset of every key's latest record.
type acked struct {
	byOffset map[int64]keyedRecord
	latest   map[string]int64
	end      int64 // one past the last acknowledged offset
}

func newAcked() *acked { return &acked{byOffset: map[int64]keyedRecord{}, latest: map[string]int64{}} }

// produceRound writes n records to partition 0 of topic, overwriting the
// keys round-robin, then a tombstone for each of the first
// compactTombstoned keys, and records every acknowledgement.
func produceRound(t *testing.T, cl *kgo.Client, topic string, round, n int, a *acked) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key-%04d", i%compactKeys)
		// Random hex, so that the producer's compression (franz-go
		// compresses by default) leaves megabytes to clean.
		v := fmt.Appendf(nil, "round %d record %d key %s ", round, i, k)
		v = hex.AppendEncode(v, randomBytes(t, compactValueSize))[:compactValueSize]
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: v})
	}
	for k := 0; k < compactTombstoned; k++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%04d", k))})
	}
	for len(recs) > 0 {
		chunk := recs[:min(len(recs), 1000)]
		recs = recs[len(chunk):]
		res := cl.ProduceSync(ctx, chunk...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", round, err)
		}
		for _, r := range res {
			a.byOffset[r.Record.Offset] = keyedRecord{Key: string(r.Record.Key), Value: r.Record.Value}
			a.latest[string(r.Record.Key)] = r.Record.Offset
			a.end = max(a.end, r.Record.Offset+1)
		}
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll consumes partition 0 of topic from offset 0 up to end from
// brokers, one client for the read.
func readAll(t *testing.T, brokers []string, topic string, end int64) ([]*kgo.Record, error) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s to offset %d: %d records read: %w", topic, end, len(out), err)
		}
		for _, e := range fs.Errors() {
			return out, fmt.Errorf("read %s: partition %d: %w", e.Topic, e.Partition, e.Err)
		}
		out = append(out, fs.Records()...)
	}
	return out, nil
}

// check verifies a read of [0, a.end): offsets only increase; the record at
// every offset is the one acknowledged there (offsets never change); every
// key's latest acknowledged record is there, so its last value read is its
// latest (a tombstone for a deleted key). It returns how many records the
// read held.
func (a *acked) check(recs []*kgo.Record) error {
	prev := int64(-1)
	seen := map[int64]bool{}
	for _, r := range recs {
		if r.Offset >= a.end {
			break
		}
		if r.Offset <= prev {
			return fmt.Errorf("offset %d read after %d", r.Offset, prev)
		}
		prev = r.Offset
		want, ok := a.byOffset[r.Offset]
		switch {
		case !ok:
			return fmt.Errorf("offset %d holds key %q, but nothing was acknowledged there", r.Offset, r.Key)
		case string(r.Key) != want.Key || !bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil):
			return fmt.Errorf("offset %d holds key %q value %.30q, acknowledged key %q value %.30q", r.Offset, r.Key, r.Value, want.Key, want.Value)
		}
		seen[r.Offset] = true
	}
	for k, off := range a.latest {
		if !seen[off] {
			return fmt.Errorf("key %s: its latest record (offset %d, tombstone %v) is missing", k, off, a.byOffset[off].Value == nil)
		}
	}
	return nil
}

// countBelow is how many records of recs lie below end.
func countBelow(recs []*kgo.Record, end int64) int {
	n := 0
	for _, r := range recs {
		if r.Offset < end {
			n++
		}
	}
	return n
}

// setTopicConfig sets one config of topic through brokers.
func setTopicConfig(t *testing.T, brokers []string, topic, key, value string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("set %s=%s on %s: %v", key, value, topic, err)
	}
}

// cleanerOf is partition 0 of topic's cleaner as node admin reports it.
func cleanerOf(admin, topic string) (*api.PartitionCleaner, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	env, err := client.New(admin, hc).Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	for _, p := range env.Data.Partitions {
		if p.Topic == topic && p.Partition == 0 {
			if p.Cleaner == nil {
				return nil, fmt.Errorf("%s-0 on node %d has no cleaner state", topic, env.NodeID)
			}
			return p.Cleaner, nil
		}
	}
	return nil, fmt.Errorf("node %d hosts no %s-0", env.NodeID, topic)
}

// waitCleaned waits until node admin reports partition 0 of topic cleaned
// up to end (its cleanable end once nothing is written): a pass since the
// log was opened, nothing dirty left below end.
func waitCleaned(t *testing.T, admin, topic string, end int64, within time.Duration) api.PartitionCleaner {
	t.Helper()
	var c *api.PartitionCleaner
	var err error
	testharness.EventuallyEvery(t, within, 50*time.Millisecond, fmt.Sprintf("%s-0 cleaned up to %d on %s", topic, end, admin), func() bool {
		c, err = cleanerOf(admin, topic)
		return err == nil && c.Uncleanable == "" && c.Passes > 0 && c.FirstDirtyOffset >= end && c.CleanableEnd == c.FirstDirtyOffset
	}, func() string { return fmt.Sprintf("cleaner %+v, err %v", c, err) })
	return *c
}

// activeBase is the base offset of partition 0's active segment in
// dataDir: everything below it is cleanable once the lag is lifted.
func activeBase(t *testing.T, dataDir, topic string) int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "logs", topic+"-0", "*.log"))
	var last int64 = -1
	for _, f := range files {
		n, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".log"), 10, 64)
		if err == nil {
			last = max(last, n)
		}
	}
	if last < 0 {
		t.Fatalf("no segments of %s-0 in %s", topic, dataDir)
	}
	return last
}

// cleaningFiles lists the files a cleaning pass has in partition 0's
// directory while it runs: cleaned segments not yet swapped in, and the
// swap's commit marker (see internal/broker/partlog/compact.go).
func cleaningFiles(dataDir, topic string) []string {
	var out []string
	for _, pat := range []string{"*.cleaned", "cleaner-swap"} {
		m, _ := filepath.Glob(filepath.Join(dataDir, "logs", topic+"-0", pat))
		out = append(out, m...)
	}
	return out
}

// waitPassRunning waits until a cleaning pass is writing in dataDir.
func waitPassRunning(t *testing.T, dataDir, topic string, within time.Duration) {
	t.Helper()
	testharness.EventuallyEvery(t, within, 2*time.Millisecond, "a cleaning pass writing cleaned segments", func() bool {
		return len(cleaningFiles(dataDir, topic)) > 0
	})
}

// noErrorsLogged fails the test if the process logged at level ERROR a
// line containing about (every line when about is empty).
func noErrorsLogged(t *testing.T, p *testharness.Process, about string) {
	t.Helper()
	for _, line := range strings.Split(p.Log(), "\n") {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, about) {
			t.Fatalf("node logged an error after restart: %s", line)
		}
	}
}

// startCompacted starts one node, creates the compacted topic and writes
// three rounds of 2,000 records to it (about 6 MiB: six segments). It
// returns the node, what was acknowledged, and the active segment's base:
// the cleanable end once the lag is lifted.
func startCompacted(t *testing.T) (*testharness.Process, *acked, int64) {
	t.Helper()
	if testing.Short() {
		t.Skip("process test")
	}
	p := testharness.Start(t, testharness.Serve{Binary: chronikBinary(t), Args: cleanerFlags()})
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, compactedConfigs(), compactTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", compactTopic, err)
	}
	a := newAcked()
	for round := 0; round < 3; round++ {
		produceRound(t, cl, compactTopic, round, 2000, a)
	}
	cleanEnd := activeBase(t, p.DataDir, compactTopic)
	t.Logf("%d records acknowledged, %d keys; the active segment starts at %d", a.end, len(a.latest), cleanEnd)
	return p, a, cleanEnd
}

// TestCompactionKillDuringClean: kill -9 the only node while a cleaning
// pass runs, at three points of the pass (while it maps the dirty keys,
// as soon as it writes cleaned segments, and well into writing them);
// after each restart the log opens, every offset holds what was
// acknowledged there and every key's latest value (or tombstone) is
// there. A last pass then completes and the log holds one record per key
// below the cleaned point.
func TestCompactionKillDuringClean(t *testing.T) {
	p, a, cleanEnd := startCompacted(t)
	verify := func(p *testharness.Process, what string) []*kgo.Record {
		t.Helper()
		recs, err := readAll(t, []string{p.Kafka}, compactTopic, a.end)
		if err == nil {
			err = a.check(recs)
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: %d of %d records left, every offset as acknowledged, every key's latest there", what, countBelow(recs, a.end), a.end)
		return recs
	}
	restart := func(p *testharness.Process, what string) *testharness.Process {
		t.Helper()
		p.Kill(t)
		t.Logf("killed -9 %s (cleaning files %v)", what, cleaningFiles(p.DataDir, compactTopic))
		p = testharness.Start(t, p.Serve)
		verify(p, "after the kill "+what)
		noErrorsLogged(t, p, "")
		return p
	}

	setTopicConfig(t, []string{p.Kafka}, compactTopic, "min.compaction.lag.ms", "0")
	// 1. While the first pass maps keys: the throttle (1 MiB/s) makes
	// reading several MiB of dirty log take seconds.
	testharness.EventuallyEvery(t, 10*time.Second, 20*time.Millisecond, "the partition due for cleaning", func() bool {
		c, err := cleanerOf(p.Admin, compactTopic)
		return err == nil && (c.Due || c.Passes > 0)
	})
	time.Sleep(300 * time.Millisecond) // a point inside the pass, not a wait for a condition
	p = restart(p, "300 ms into a pass")

	// 2. The moment the pass writes its first cleaned segment.
	waitPassRunning(t, p.DataDir, compactTopic, 60*time.Second)
	p = restart(p, "as the pass wrote its first cleaned segment")

	// 3. Well into writing cleaned segments.
	waitPassRunning(t, p.DataDir, compactTopic, 60*time.Second)
	time.Sleep(time.Second) // a point inside the pass, not a wait for a condition
	p = restart(p, "a second into writing cleaned segments")

	// Left alone, the cleaner finishes: one record per key remains below
	// the cleaned point, and it is each key's latest.
	c := waitCleaned(t, p.Admin, compactTopic, cleanEnd, 90*time.Second)
	recs := verify(p, "after a complete pass")
	if n := countBelow(recs, c.FirstDirtyOffset); n > compactKeys {
		t.Fatalf("%d records below the cleaned point %d, want at most one per key (%d keys)", n, c.FirstDirtyOffset, compactKeys)
	}
	if len(cleaningFiles(p.DataDir, compactTopic)) > 0 {
		t.Fatalf("cleaning files left after the pass: %v", cleaningFiles(p.DataDir, compactTopic))
	}
	t.Logf("cleaned to %d in %d passes, %d bytes reclaimed", c.FirstDirtyOffset, c.Passes, c.BytesReclaimed)
}

// TestCompactionFollowerKilledMidClean: a replication factor 3 compacted
// topic; a follower is killed -9 while it cleans and restarted. Every
// replica then cleans to the same point, consumers see each key's latest
// value, and the three copies are byte-identical.
func TestCompactionFollowerKilledMidClean(t *testing.T) {
	c := startProcCluster(t, cleanerFlags()...)
	c.createTopicRF3(compactTopic, 1, compactedConfigs())
	lp := c.waitPartition(0, compactTopic, 10*time.Second, "full ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3 && p.Leader > 0
	})
	leader := int(lp.Leader - 1)
	cl := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	a := newAcked()
	for round := 0; round < 3; round++ {
		produceRound(t, cl, compactTopic, round, 2000, a)
	}
	cleanEnd := activeBase(t, c.Procs[leader].DataDir, compactTopic)
	follower := (leader + 1) % 3

	setTopicConfig(t, c.KafkaAddrs(), compactTopic, "min.compaction.lag.ms", "0")
	waitPassRunning(t, c.Procs[follower].DataDir, compactTopic, 60*time.Second)
	time.Sleep(500 * time.Millisecond) // a point inside the pass, not a wait for a condition
	c.Procs[follower].Kill(t)
	t.Logf("killed -9 follower %d mid-clean (cleaning files %v)", follower+1, cleaningFiles(c.Procs[follower].DataDir, compactTopic))
	c.Restart(t, follower)
	// Peers may log connection errors while it is down; only its log's
	// reopening matters here.
	noErrorsLogged(t, c.Procs[follower], compactTopic)
	c.waitPartition(leader, compactTopic, 30*time.Second, "the follower back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})

	var states []api.PartitionCleaner
	for i, p := range c.Procs {
		st := waitCleaned(t, p.Admin, compactTopic, cleanEnd, 90*time.Second)
		t.Logf("node %d: cleaned to %d, %d passes, %d bytes reclaimed", i+1, st.FirstDirtyOffset, st.Passes, st.BytesReclaimed)
		states = append(states, st)
	}
	for i, st := range states[1:] {
		if st.FirstDirtyOffset != states[0].FirstDirtyOffset {
			t.Fatalf("node %d cleaned to %d, node 1 to %d", i+2, st.FirstDirtyOffset, states[0].FirstDirtyOffset)
		}
	}
	recs, err := readAll(t, c.KafkaAddrs(), compactTopic, a.end)
	if err == nil {
		err = a.check(recs)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n := countBelow(recs, states[0].FirstDirtyOffset); n > compactKeys {
		t.Fatalf("%d records below the cleaned point, want at most %d", n, compactKeys)
	}
	t.Logf("the leader serves %d of %d records, each key's latest there", len(recs), a.end)
	c.sameLogs(compactTopic)
}

// TestCompactionConsistentReadsDuringClean: consumers read the whole
// partition again and again while a (throttled) pass rewrites its
// segments; every read has increasing offsets, the acknowledged record at
// every offset it shows, and every key's latest record.
func TestCompactionConsistentReadsDuringClean(t *testing.T) {
	p, a, cleanEnd := startCompacted(t)
	setTopicConfig(t, []string{p.Kafka}, compactTopic, "min.compaction.lag.ms", "0")

	var (
		mu         sync.Mutex
		readErr    error
		reads      int // complete reads
		duringPass int // reads that began after a pass started writing and ended before the cleaner reported done
		cleaned    = make(chan struct{})
		wg         sync.WaitGroup
	)
	passSeen := func() bool { return len(cleaningFiles(p.DataDir, compactTopic)) > 0 }
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-cleaned:
					return
				default:
				}
				began := passSeen()
				recs, err := readAll(t, []string{p.Kafka}, compactTopic, a.end)
				if err == nil {
					err = a.check(recs)
				}
				mu.Lock()
				if err != nil && readErr == nil {
					readErr = fmt.Errorf("read %d: %w", reads+1, err)
				}
				reads++
				select {
				case <-cleaned:
				default:
					if began {
						duringPass++
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	st := waitCleaned(t, p.Admin, compactTopic, cleanEnd, 90*time.Second)
	close(cleaned)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if duringPass < 2 {
		t.Fatalf("only %d of %d reads overlapped a pass writing cleaned segments; the test saw too little", duringPass, reads)
	}
	recs, err := readAll(t, []string{p.Kafka}, compactTopic, a.end)
	if err == nil {
		err = a.check(recs)
	}
	if err != nil {
		t.Fatalf("after the clean: %v", err)
	}
	if n := countBelow(recs, st.FirstDirtyOffset); n > compactKeys {
		t.Fatalf("%d records below the cleaned point, want at most %d", n, compactKeys)
	}
	t.Logf("%d consistent reads, %d of them while a pass wrote cleaned segments; %d of %d records left", reads, duringPass, len(recs), a.end)
}

// TestCompactionFollowerCatchesUpAcrossGaps: a follower is down while the
// leader writes on and cleans past the follower's log end; restarted, it
// fetches the leader's cleaned batches (offsets with gaps), rejoins the
// ISR, cleans its own older part, and ends byte-identical to the others.
func TestCompactionFollowerCatchesUpAcrossGaps(t *testing.T) {
	c := startProcCluster(t, append(cleanerFlags(), "--broker-session-timeout", "1s")...)
	c.createTopicRF3(compactTopic, 1, compactedConfigs())
	lp := c.waitPartition(0, compactTopic, 10*time.Second, "full ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3 && p.Leader > 0
	})
	leader := int(lp.Leader - 1)
	follower := (leader + 1) % 3
	cl := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	a := newAcked()
	produceRound(t, cl, compactTopic, 0, 2000, a)
	behind := a.end

	c.Procs[follower].Kill(t)
	c.waitPartition(leader, compactTopic, 10*time.Second, "the killed follower out of the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 2
	})
	for round := 1; round < 4; round++ {
		produceRound(t, cl, compactTopic, round, 2000, a)
	}
	cleanEnd := activeBase(t, c.Procs[leader].DataDir, compactTopic)
	setTopicConfig(t, c.KafkaAddrs(follower), compactTopic, "min.compaction.lag.ms", "0")
	st := waitCleaned(t, c.Procs[leader].Admin, compactTopic, cleanEnd, 90*time.Second)
	t.Logf("follower %d stopped at offset %d; leader %d cleaned to %d", follower+1, behind, leader+1, st.FirstDirtyOffset)

	c.Restart(t, follower)
	c.waitPartition(leader, compactTopic, 60*time.Second, "the follower back in the ISR", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 3
	})
	var states []api.PartitionCleaner
	for _, p := range c.Procs {
		states = append(states, waitCleaned(t, p.Admin, compactTopic, cleanEnd, 90*time.Second))
	}
	for i, s := range states[1:] {
		if s.FirstDirtyOffset != states[0].FirstDirtyOffset {
			t.Fatalf("node %d cleaned to %d, node 1 to %d", i+2, s.FirstDirtyOffset, states[0].FirstDirtyOffset)
		}
	}
	recs, err := readAll(t, c.KafkaAddrs(), compactTopic, a.end)
	if err == nil {
		err = a.check(recs)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Offset == behind {
			t.Fatalf("offset %d, where the follower resumed, was not cleaned away: the test fetched no gap", behind)
		}
	}
	c.sameLogs(compactTopic)
}

// TestCompactionMovedPartitionCopiesCleanedLog: a cleaned compacted
// partition is moved to another broker (AlterPartitionReassignments, from
// [1] to [2]); the new replica copies the leader's cleaned log, gaps and
// all, from offset 0, then cleans its own copy, and serves every key's
// latest value at the acknowledged offsets throughout.
func TestCompactionMovedPartitionCopiesCleanedLog(t *testing.T) {
	c := startProcCluster(t, cleanerFlags()...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = compactTopic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Replicas = []int32{1}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	for k, v := range compactedConfigs() {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, v
		rt.Configs = append(rt.Configs, cfg)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, c.client())
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create %s on [1]: %v", compactTopic, err)
	}
	c.waitFullISR(10*time.Second, compactTopic)
	cl := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	a := newAcked()
	for round := 0; round < 3; round++ {
		produceRound(t, cl, compactTopic, round, 2000, a)
	}
	cleanEnd := activeBase(t, c.Procs[0].DataDir, compactTopic)
	setTopicConfig(t, c.KafkaAddrs(), compactTopic, "min.compaction.lag.ms", "0")
	waitCleaned(t, c.Procs[0].Admin, compactTopic, cleanEnd, 90*time.Second)

	adm := kadm.NewClient(cl)
	var move kadm.AlterPartitionAssignmentsReq
	move.Assign(compactTopic, 0, []int32{2})
	mresp, err := adm.AlterPartitionAssignments(ctx, move)
	if err == nil {
		err = mresp[compactTopic][0].Err
	}
	if err != nil {
		t.Fatalf("move %s-0 to [2]: %v", compactTopic, err)
	}
	testharness.Eventually(t, 60*time.Second, "the move done", func() bool {
		l, err := c.layout(compactTopic)
		if err != nil {
			return false
		}
		pd := l[compactTopic][0]
		return pd.Leader == 2 && slices.Equal(pd.Replicas, []int32{2}) && slices.Equal(pd.ISR, []int32{2})
	})
	recs, err := readAll(t, c.KafkaAddrs(), compactTopic, a.end)
	if err == nil {
		err = a.check(recs)
	}
	if err != nil {
		t.Fatalf("read from the new replica: %v", err)
	}
	if n := countBelow(recs, cleanEnd); n > compactKeys {
		t.Fatalf("the new replica holds %d records below the cleaned point %d, not its leader's cleaned log", n, cleanEnd)
	}
	st := waitCleaned(t, c.Procs[1].Admin, compactTopic, activeBase(t, c.Procs[1].DataDir, compactTopic), 90*time.Second)
	recs, err = readAll(t, c.KafkaAddrs(), compactTopic, a.end)
	if err == nil {
		err = a.check(recs)
	}
	if err != nil {
		t.Fatalf("read after the new replica's own clean: %v", err)
	}
	t.Logf("node 2 copied %d records of %d and cleaned its copy to %d", len(recs), a.end, st.FirstDirtyOffset)
}
