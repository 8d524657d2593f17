package group

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// txnReq is a TxnOffsetCommit v3 of producer pid/epoch for m's group.
func txnReq(m *tm, pid int64, epoch int16, offsets map[string]map[int32]int64) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 3
	r.TransactionalID = "tx"
	r.Group = m.group
	r.ProducerID = pid
	r.ProducerEpoch = epoch
	r.Generation = m.gen
	r.MemberID = m.id
	r.InstanceID = m.instance
	for topic, parts := range offsets {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		for p, o := range parts {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition = p
			rp.Offset = o
			rp.LeaderEpoch = 2
			rp.Metadata = kmsg.StringPtr("txn")
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// txnCommit sends a TxnOffsetCommit and returns its only error code (it
// fails the test when partitions disagree).
func txnCommit(t *testing.T, c *Coordinator, m *tm, pid int64, epoch int16, offsets map[string]map[int32]int64) int16 {
	t.Helper()
	resp := c.TxnOffsetCommit(testharness.Context(t, testTimeout), txnReq(m, pid, epoch, offsets))
	codes := map[int16]bool{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes[rp.ErrorCode] = true
		}
	}
	if len(codes) != 1 {
		t.Fatalf("txn commit: codes %v", codes)
	}
	for code := range codes {
		return code
	}
	return 0
}

// fetchStable is fetch with RequireStable: the offset and the partition's
// error code.
func fetchStable(t *testing.T, c *Coordinator, group, topic string, partition int32, version int16) (int64, int16) {
	t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = version
	r.RequireStable = true
	if version >= 8 {
		r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: topic, Partitions: []int32{partition}}}}}
		resp := c.OffsetFetch(testharness.Context(t, testTimeout), r)
		wantCode(t, "fetch group", resp.Groups[0].ErrorCode, 0)
		p := resp.Groups[0].Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode
	}
	r.Group = group
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{partition}}}
	resp := c.OffsetFetch(testharness.Context(t, testTimeout), r)
	wantCode(t, "fetch", resp.ErrorCode, 0)
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// putMarker appends a transaction marker of pid to the log as a partition
// leader does, and returns its offset.
func putMarker(l *memLog, partition int32, pid int64, epoch int16, commit bool) int64 {
	key := kmsg.ControlRecordKey{Type: 0}
	if commit {
		key.Type = 1
	}
	val := kmsg.EndTxnMarker{CoordinatorEpoch: 1}
	b := batch.Build(1, []batch.Record{{Timestamp: 1, Key: key.AppendTo(nil), Value: val.AppendTo(nil)}})
	batch.SetProducer(b, pid, epoch, -1, true, true)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(partition, b)
}

// marker writes pid's marker to the log and tells c, as the broker does.
func marker(t *testing.T, c *Coordinator, l *memLog, partition int32, pid int64, epoch int16, commit bool) {
	t.Helper()
	c.CompleteTxn(partition, pid, commit, putMarker(l, partition, pid, epoch, commit))
}

// reloaded returns a new coordinator that loaded l, as after a failover.
func reloaded(t *testing.T, l *memLog) *Coordinator {
	t.Helper()
	return newLoaded(t, l, testConfig(t))
}

func TestTxnOffsetsPendingUntilMarker(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	g := simple("g")
	p := c.Partition("g")
	mustCommit(t, c, g, map[string]map[int32]int64{"t": {0: 5, 1: 5}})

	wantCode(t, "txn commit", txnCommit(t, c, g, 7, 0, map[string]map[int32]int64{"t": {0: 10}}), 0)
	// The record is a transactional batch of the producer.
	var last batch.Header
	if err := log.Scan(context.Background(), p, func(b []byte) error {
		h, err := batch.ParseHeader(b)
		last = h
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !last.IsTransactional() || last.ProducerID != 7 || last.ProducerEpoch != 0 || last.BaseSequence != 0 {
		t.Fatalf("txn offsets written as %+v", last)
	}
	if got := fetch(t, c, "g", "t", 0); got != 5 {
		t.Fatalf("pending offset visible: %d", got)
	}
	for _, v := range []int16{7, 8} {
		if off, code := fetchStable(t, c, "g", "t", 0, v); code != kerr.UnstableOffsetCommit.Code || off != -1 {
			t.Fatalf("v%d require stable with a pending offset: %d %s", v, off, errName(code))
		}
		if off, code := fetchStable(t, c, "g", "t", 1, v); code != 0 || off != 5 {
			t.Fatalf("v%d require stable without a pending offset: %d %s", v, off, errName(code))
		}
	}
	// A marker of another producer changes nothing.
	marker(t, c, log, p, 8, 0, true)
	if got := fetch(t, c, "g", "t", 0); got != 5 {
		t.Fatalf("another producer's marker applied offsets: %d", got)
	}
	// An open transaction survives a failover as pending.
	if off, code := fetchStable(t, reloaded(t, log), "g", "t", 0, 7); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("after reload: %d %s, want pending", off, errName(code))
	}

	marker(t, c, log, p, 7, 0, true)
	if got := fetch(t, c, "g", "t", 0); got != 10 {
		t.Fatalf("committed txn offset %d, want 10", got)
	}
	if off, code := fetchStable(t, c, "g", "t", 0, 7); code != 0 || off != 10 {
		t.Fatalf("stable after commit: %d %s", off, errName(code))
	}
	if got := fetch(t, reloaded(t, log), "g", "t", 0); got != 10 {
		t.Fatalf("after reload: %d, want 10", got)
	}

	// Abort: the next transaction's offsets are dropped, memory and replay.
	wantCode(t, "txn commit", txnCommit(t, c, g, 7, 0, map[string]map[int32]int64{"t": {0: 20, 1: 20}}), 0)
	marker(t, c, log, p, 7, 0, false)
	for _, cc := range []*Coordinator{c, reloaded(t, log)} {
		if a, b := fetch(t, cc, "g", "t", 0), fetch(t, cc, "g", "t", 1); a != 10 || b != 5 {
			t.Fatalf("after abort: %d %d, want 10 5", a, b)
		}
		if _, code := fetchStable(t, cc, "g", "t", 1, 7); code != 0 {
			t.Fatalf("aborted offset still pending: %s", errName(code))
		}
	}
}

// A transaction only on a group nobody committed for creates it; an abort
// leaves nothing behind.
func TestTxnOffsetsNewGroup(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	g := simple("fresh")
	wantCode(t, "txn commit", txnCommit(t, c, g, 3, 1, map[string]map[int32]int64{"t": {0: 1}}), 0)
	if code, ids := listGroups(t, c); code != 0 || len(ids) != 1 || ids[0] != "fresh" {
		t.Fatalf("groups %v", ids)
	}
	marker(t, c, log, c.Partition("fresh"), 3, 1, false)
	if code, ids := listGroups(t, c); code != 0 || len(ids) != 0 {
		t.Fatalf("groups after abort %v", ids)
	}
}

// Kafka keeps the most recent commit by record offset when regular and
// transactional commits of a partition mix.
func TestTxnOffsetsOrderWithRegularCommits(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	g := simple("g")
	p := c.Partition("g")
	wantCode(t, "txn", txnCommit(t, c, g, 1, 0, map[string]map[int32]int64{"t": {0: 10, 1: 10}}), 0)
	mustCommit(t, c, g, map[string]map[int32]int64{"t": {0: 99}}) // after the txn's record
	marker(t, c, log, p, 1, 0, true)
	for _, cc := range []*Coordinator{c, reloaded(t, log)} {
		if a, b := fetch(t, cc, "g", "t", 0), fetch(t, cc, "g", "t", 1); a != 99 || b != 10 {
			t.Fatalf("got %d %d, want 99 (regular commit written later) and 10", a, b)
		}
	}
}

func TestTxnOffsetCommitChecks(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	m := newTM("g", "t")
	join(t, c, m)
	recv(t, syncAsync(t, c, m, map[string][]byte{m.id: assignmentFor("t", 0)}))
	offs := map[string]map[int32]int64{"t": {0: 1}}

	wantCode(t, "member of the generation", txnCommit(t, c, m, 1, 0, offs), 0)
	stranger := *m
	stranger.id = "nobody"
	wantCode(t, "unknown member", txnCommit(t, c, &stranger, 1, 0, offs), kerr.UnknownMemberID.Code)
	old := *m
	old.gen = m.gen - 1
	wantCode(t, "old generation", txnCommit(t, c, &old, 1, 0, offs), kerr.IllegalGeneration.Code)
	noMember := *m
	noMember.id = ""
	wantCode(t, "generation without member", txnCommit(t, c, &noMember, 1, 0, offs), kerr.UnknownMemberID.Code)
	// v0-v2 carry no member: the producer commits for the group as is.
	req := txnReq(&stranger, 1, 0, offs)
	req.Version = 2
	if code := c.TxnOffsetCommit(testharness.Context(t, testTimeout), req).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("v2: %s", errName(code))
	}
	wantCode(t, "negative epoch", txnCommit(t, c, m, 1, -1, offs), kerr.InvalidProducerIDMapping.Code)
	wantCode(t, "bumped epoch", txnCommit(t, c, m, 1, 3, offs), 0)
	wantCode(t, "fenced epoch", txnCommit(t, c, m, 1, 2, offs), kerr.InvalidProducerEpoch.Code)
	wantCode(t, "no producer id", txnCommit(t, c, m, -1, 0, offs), kerr.InvalidProducerIDMapping.Code)
	long := make([]byte, MaxMetadataBytes+1)
	big := txnReq(m, 1, 3, offs)
	big.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(string(long))
	if code := c.TxnOffsetCommit(testharness.Context(t, testTimeout), big).Topics[0].Partitions[0].ErrorCode; code != kerr.OffsetMetadataTooLarge.Code {
		t.Fatalf("metadata too large: %s", errName(code))
	}

	// Static membership (KIP-345): another member id for the instance is fenced.
	s := newTM("static", "t")
	s.instance = kmsg.StringPtr("i1")
	join(t, c, s)
	recv(t, syncAsync(t, c, s, map[string][]byte{s.id: assignmentFor("t", 0)}))
	wantCode(t, "static member", txnCommit(t, c, s, 2, 0, offs), 0)
	impostor := *s
	impostor.id = "other"
	wantCode(t, "fenced instance", txnCommit(t, c, &impostor, 2, 0, offs), kerr.FencedInstanceID.Code)
	unknownInstance := *s
	unknownInstance.instance = kmsg.StringPtr("i2")
	wantCode(t, "unknown instance", txnCommit(t, c, &unknownInstance, 2, 0, offs), kerr.UnknownMemberID.Code)
	// A generation of a group this coordinator does not know.
	ghost := newTM("ghost", "t")
	ghost.id, ghost.gen = "m", 3
	wantCode(t, "unknown group", txnCommit(t, c, ghost, 2, 0, offs), kerr.IllegalGeneration.Code)
	// Generation -1 commits to an Empty group whatever member it names.
	empty := simple("empty")
	empty.id = "whoever"
	wantCode(t, "empty group", txnCommit(t, c, empty, 2, 0, offs), 0)

	// Sequences: from 0 per epoch, one per record, continued by a
	// coordinator that reloads the partition.
	gp := c.Partition("g")
	if got, want := seqsOf(t, log, gp, 1), "0/0 0/1 3/0"; got != want {
		t.Fatalf("producer batches (epoch/sequence) %q, want %q", got, want)
	}
	c.UnloadPartition(gp)
	wantCode(t, "unloaded", txnCommit(t, c, m, 1, 3, offs), kerr.NotCoordinator.Code)
	c2 := reloaded(t, log)
	wantCode(t, "after reload", txnCommit(t, c2, simple("g"), 1, 3, map[string]map[int32]int64{"t": {0: 1, 1: 1}}), 0)
	wantCode(t, "after reload", txnCommit(t, c2, simple("g"), 1, 3, offs), 0)
	if got, want := seqsOf(t, log, gp, 1), "0/0 0/1 3/0 3/1 3/3"; got != want {
		t.Fatalf("producer batches (epoch/sequence) %q, want %q", got, want)
	}
}

// seqsOf lists "epoch/base sequence" of pid's data batches in partition p.
func seqsOf(t *testing.T, l *memLog, p int32, pid int64) string {
	t.Helper()
	var out []string
	err := l.Scan(context.Background(), p, func(b []byte) error {
		h, err := batch.ParseHeader(b)
		if err == nil && h.ProducerID == pid && !h.IsControl() {
			out = append(out, fmt.Sprintf("%d/%d", h.ProducerEpoch, h.BaseSequence))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

// Replaying a partition that mixes regular commits, committed, aborted and
// open transactions gives what the coordinator served, also after the
// cleaner compacted the regular records (it leaves transactional and
// control batches alone).
func TestTxnOffsetsReplay(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	p := c.Partition("g")
	g, h := simple("g"), simple(groupIn("h", p))
	mustCommit(t, c, g, map[string]map[int32]int64{"t": {0: 1, 1: 1, 2: 1}})
	wantCode(t, "txn 1", txnCommit(t, c, g, 1, 0, map[string]map[int32]int64{"t": {0: 10}}), 0)
	wantCode(t, "txn 2", txnCommit(t, c, g, 2, 0, map[string]map[int32]int64{"t": {1: 20}}), 0)
	wantCode(t, "txn 3", txnCommit(t, c, h, 3, 0, map[string]map[int32]int64{"t": {0: 30}}), 0)
	mustCommit(t, c, g, map[string]map[int32]int64{"t": {2: 2}})
	mustCommit(t, c, g, map[string]map[int32]int64{"t": {2: 3}})
	marker(t, c, log, p, 1, 0, true)
	marker(t, c, log, p, 2, 0, false)
	wantCode(t, "txn 1 again", txnCommit(t, c, g, 1, 0, map[string]map[int32]int64{"t": {2: 40}}), 0)

	check := func(t *testing.T, cc *Coordinator) {
		t.Helper()
		for _, want := range []struct {
			group     string
			partition int32
			offset    int64
			code      int16
		}{
			{"g", 0, 10, 0}, {"g", 1, 1, 0}, {"g", 2, -1, kerr.UnstableOffsetCommit.Code}, {h.group, 0, -1, kerr.UnstableOffsetCommit.Code},
		} {
			off, code := fetchStable(t, cc, want.group, "t", want.partition, 7)
			if off != want.offset || code != want.code {
				t.Errorf("%s t-%d: %d %s, want %d %s", want.group, want.partition, off, errName(code), want.offset, errName(want.code))
			}
		}
		if got := fetch(t, cc, "g", "t", 2); got != 3 {
			t.Errorf("g t-2 while txn 1 is open again: %d, want 3", got)
		}
		// The open transactions end as on the first coordinator.
		cc.CompleteTxn(p, 1, true, 1<<40)
		cc.CompleteTxn(p, 3, false, 1<<40)
		if a, b := fetch(t, cc, "g", "t", 2), fetch(t, cc, h.group, "t", 0); a != 40 || b != -1 {
			t.Errorf("after the markers: %d %d, want 40 -1", a, b)
		}
	}
	t.Run("whole log", func(t *testing.T) { check(t, reloaded(t, log)) })
	t.Run("compacted", func(t *testing.T) {
		l2 := newMemLog()
		l2.parts[p] = compactPlain(t, log.parts[p])
		check(t, reloaded(t, l2))
	})
	t.Run("served", func(t *testing.T) { check(t, c) })
}

// compactPlain is compactForTest for a log with transactions: only records
// of plain batches are mapped and removed, as partlog's cleaner does.
func compactPlain(t *testing.T, batches [][]byte) [][]byte {
	t.Helper()
	latest := make(map[string]int64)
	plain := func(b []byte) bool {
		h, err := batch.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		return !h.IsControl() && !h.IsTransactional()
	}
	for _, b := range batches {
		if !plain(b) {
			continue
		}
		recs, err := batch.Records(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			latest[string(r.Key)] = r.Offset
		}
	}
	var out [][]byte
	removedAll := 0
	for _, b := range batches {
		if !plain(b) {
			out = append(out, b)
			continue
		}
		f, _, removed, err := batch.Filter(b, func(r batch.Record) bool { return latest[string(r.Key)] == r.Offset })
		if err != nil {
			t.Fatal(err)
		}
		removedAll += removed
		if f == nil {
			h, _ := batch.Check(b)
			f = batch.EmptyBatch(h)
		}
		out = append(out, f)
	}
	if removedAll == 0 {
		t.Fatal("compaction removed nothing: the test would prove nothing")
	}
	return out
}

// OffsetDelete and DeleteGroups end pending transactional offsets of the
// partitions they delete: a later COMMIT does not bring them back, in
// memory or on replay.
func TestTxnOffsetsDeleted(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	p := c.Partition("g")
	g := simple("g")
	mustCommit(t, c, g, map[string]map[int32]int64{"t": {0: 1}})
	wantCode(t, "txn", txnCommit(t, c, g, 1, 0, map[string]map[int32]int64{"t": {0: 10, 1: 10}}), 0)

	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	resp := c.OffsetDelete(testharness.Context(t, testTimeout), del)
	wantCode(t, "offset delete", resp.ErrorCode, 0)
	wantCode(t, "offset delete t-1", resp.Topics[0].Partitions[0].ErrorCode, 0)
	if _, code := fetchStable(t, c, "g", "t", 1, 7); code != 0 {
		t.Fatalf("deleted partition still pending: %s", errName(code))
	}
	marker(t, c, log, p, 1, 0, true)
	for _, cc := range []*Coordinator{c, reloaded(t, log)} {
		if a, b := fetch(t, cc, "g", "t", 0), fetch(t, cc, "g", "t", 1); a != 10 || b != -1 {
			t.Fatalf("after commit: %d %d, want 10 -1", a, b)
		}
	}

	// A group holding only pending offsets is deleted whole.
	o := simple(groupIn("only", p))
	wantCode(t, "txn", txnCommit(t, c, o, 2, 0, map[string]map[int32]int64{"t": {3: 30}}), 0)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{o.group}
	wantCode(t, "delete group", c.DeleteGroups(testharness.Context(t, testTimeout), dg).Groups[0].ErrorCode, 0)
	marker(t, c, log, p, 2, 0, true)
	for _, cc := range []*Coordinator{c, reloaded(t, log)} {
		if got := fetch(t, cc, o.group, "t", 3); got != -1 {
			t.Fatalf("deleted group's pending offset came back: %d", got)
		}
	}
}

// A marker that lands after a transactional commit's batch while the
// commit is still being acknowledged decides that commit's offsets.
func TestTxnOffsetsMarkerDuringWrite(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprint("commit=", commit), func(t *testing.T) {
			log := newMemLog()
			c := newLoaded(t, log, testConfig(t))
			p := c.Partition("g")
			g := simple("g")
			wantCode(t, "first", txnCommit(t, c, g, 1, 0, map[string]map[int32]int64{"t": {0: 1}}), 0)
			gate := newGate(false)
			log.setAppendHook(gate.hook(p))
			done := make(chan int16, 1)
			go func() {
				resp := c.TxnOffsetCommit(context.Background(), txnReq(g, 1, 0, map[string]map[int32]int64{"t": {1: 5}}))
				done <- resp.Topics[0].Partitions[0].ErrorCode
			}()
			<-gate.entered
			c.CompleteTxn(p, 1, commit, 1<<40) // the marker lands after the batch
			gate.open()
			wantCode(t, "second", recv(t, done), 0)
			want := int64(-1)
			if commit {
				want = 5
			}
			if got := fetch(t, c, "g", "t", 1); got != want {
				t.Fatalf("offset %d, want %d", got, want)
			}
			if _, code := fetchStable(t, c, "g", "t", 1, 7); code != 0 {
				t.Fatalf("still pending: %s", errName(code))
			}
		})
	}
}

// A batch the partition refuses (the transaction coordinator says the
// producer's transaction does not include the group, or fenced it) writes
// nothing and answers the producer with the coordinator's error.
func TestTxnOffsetCommitRefusedByLog(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	g := simple("g")
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{kerr.InvalidTxnState, kerr.InvalidTxnState.Code},
		{kerr.ProducerFenced, kerr.ProducerFenced.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{errDiskFull, kerr.CoordinatorNotAvailable.Code},
	} {
		var asked string
		log.mu.Lock()
		log.verify = func(txnID string, b []byte) error {
			asked = txnID
			return tc.err
		}
		log.mu.Unlock()
		wantCode(t, tc.err.Error(), txnCommit(t, c, g, 4, 0, map[string]map[int32]int64{"t": {0: 1}}), tc.want)
		if asked != "tx" {
			t.Fatalf("the log was asked for transactional id %q", asked)
		}
	}
	if n := len(log.records(t, c.Partition("g"))); n != 0 {
		t.Fatalf("%d records written", n)
	}
	if code, ids := listGroups(t, c); code != 0 || len(ids) != 0 {
		t.Fatalf("refused commits left groups %v", ids)
	}
	// Accepted, the producer's sequence starts at 0: refusals used none.
	log.mu.Lock()
	log.verify = nil
	log.mu.Unlock()
	wantCode(t, "accepted", txnCommit(t, c, g, 4, 0, map[string]map[int32]int64{"t": {0: 1}}), 0)
	if got := seqsOf(t, log, c.Partition("g"), 4); got != "0/0" {
		t.Fatalf("sequences %q", got)
	}
}

// A marker reported while its partition loads, after the replay read the
// log, is applied once the load installs.
func TestTxnMarkerDuringLoad(t *testing.T) {
	log := newMemLog()
	first := newLoaded(t, log, testConfig(t))
	p := first.Partition("g")
	wantCode(t, "txn", txnCommit(t, first, simple("g"), 1, 0, map[string]map[int32]int64{"t": {0: 7}}), 0)
	wantCode(t, "txn", txnCommit(t, first, simple("g"), 2, 0, map[string]map[int32]int64{"t": {1: 8}}), 0)

	c := newCoordinator(t, log)
	gate := newGate(false)
	log.setScanHook(gate.hook(p))
	errc := make(chan error, 1)
	go func() { errc <- c.LoadPartition(context.Background(), p) }()
	<-gate.entered
	// Both markers land after the replay's end (not in this log at all).
	c.CompleteTxn(p, 1, true, 1000)
	c.CompleteTxn(p, 2, false, 1001)
	gate.open()
	if err := recv(t, errc); err != nil {
		t.Fatal(err)
	}
	if a, b := fetch(t, c, "g", "t", 0), fetch(t, c, "g", "t", 1); a != 7 || b != -1 {
		t.Fatalf("after load: %d %d, want 7 -1", a, b)
	}
	if _, code := fetchStable(t, c, "g", "t", 1, 7); code != 0 {
		t.Fatalf("aborted offset pending: %s", errName(code))
	}
}

// A batch appended whose commit was not seen answers a retriable error,
// and the producer's next batch takes the following sequence: reusing it
// would make the log take the retry for a duplicate of the first.
func TestTxnOffsetCommitAppendedNotCommitted(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	g := simple("g")
	log.mu.Lock()
	log.uncommitted = true
	log.mu.Unlock()
	wantCode(t, "uncommitted", txnCommit(t, c, g, 5, 0, map[string]map[int32]int64{"t": {0: 1}}), kerr.CoordinatorNotAvailable.Code)
	log.mu.Lock()
	log.uncommitted = false
	log.mu.Unlock()
	wantCode(t, "retry", txnCommit(t, c, g, 5, 0, map[string]map[int32]int64{"t": {0: 1}}), 0)
	if got := seqsOf(t, log, c.Partition("g"), 5); got != "0/0 0/1" {
		t.Fatalf("sequences %q, want 0/0 0/1", got)
	}
}
