package group

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// newCoordinator returns a coordinator with nothing loaded, closed when the
// test ends.
func newCoordinator(t *testing.T, log *memLog) *Coordinator {
	t.Helper()
	c := New(testConfig(t), log)
	t.Cleanup(c.Close)
	return c
}

func loadPartition(t *testing.T, c *Coordinator, p int32) {
	t.Helper()
	if err := c.LoadPartition(testharness.Context(t, testTimeout), p); err != nil {
		t.Fatalf("load partition %d: %v", p, err)
	}
}

func offsetRecord(group, topic string, partition int32, offset int64) keyValue {
	return keyValue{key: offsetKey(group, topic, partition), value: offsetValue(offsetEntry{offset: offset, leaderEpoch: -1})}
}

func listGroups(t *testing.T, c *Coordinator) (int16, []string) {
	t.Helper()
	r := c.ListGroups(testharness.Context(t, testTimeout), kmsg.NewPtrListGroupsRequest())
	var ids []string
	for _, g := range r.Groups {
		ids = append(ids, g.Group)
	}
	return r.ErrorCode, ids
}

// groupsOf returns the ids of the groups held for partition p.
func groupsOf(c *Coordinator, p int32) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.groups {
		if c.Partition(id) == p {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Loading partition 3 serves its groups and only them.
func TestLoadOnePartition(t *testing.T) {
	log := newMemLog()
	mine, theirs := groupIn("mine", 3), groupIn("theirs", 1)
	log.put(3, offsetRecord(mine, "t", 0, 7))
	log.put(1, offsetRecord(theirs, "t", 0, 9))
	c := newCoordinator(t, log)
	loadPartition(t, c, 3)

	if got := fetch(t, c, mine, "t", 0); got != 7 {
		t.Fatalf("offset of a group of the loaded partition: %d", got)
	}
	fr := kmsg.NewPtrOffsetFetchRequest()
	fr.Version = 8
	fr.Groups = []kmsg.OffsetFetchRequestGroup{{Group: mine}, {Group: theirs}}
	resp := c.OffsetFetch(testharness.Context(t, testTimeout), fr)
	wantCode(t, "fetch of the loaded partition's group", resp.Groups[0].ErrorCode, 0)
	wantCode(t, "fetch of another partition's group", resp.Groups[1].ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "describe another partition's group", describe(t, c, theirs).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "join another partition's group", c.JoinGroup(testharness.Context(t, testTimeout), newTM(theirs, "t").joinReq()).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "commit to another partition's group",
		commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(simple(theirs), map[string]map[int32]int64{"t": {0: 1}}))), kerr.NotCoordinator.Code)

	// The loaded group works in full, and its commits go to partition 3.
	m := newTM(mine, "t")
	join(t, c, m)
	recv(t, syncAsync(t, c, m, map[string][]byte{m.id: assignmentFor("t", 0)}))
	mustCommit(t, c, m, map[string]map[int32]int64{"t": {0: 8}})
	if got := fetch(t, c, mine, "t", 0); got != 8 {
		t.Fatalf("offset after commit: %d", got)
	}
	if n := len(log.records(t, 3)); n != 2 {
		t.Fatalf("partition 3 holds %d records, want 2", n)
	}
	if n := len(log.records(t, 1)); n != 1 {
		t.Fatalf("partition 1 holds %d records, want 1", n)
	}
	if code, ids := listGroups(t, c); code != 0 || !slices.Equal(ids, []string{mine}) {
		t.Fatalf("list: %s %v, want only %s", errName(code), ids, mine)
	}

	// Loading a second partition adds its groups.
	loadPartition(t, c, 1)
	if got := fetch(t, c, theirs, "t", 0); got != 9 {
		t.Fatalf("offset of the second partition's group: %d", got)
	}
	wantCode(t, "heartbeat after another partition loaded", heartbeat(t, c, m), 0)
	if code, ids := listGroups(t, c); code != 0 || !slices.Equal(ids, []string{mine, theirs}) {
		t.Fatalf("list: %s %v", errName(code), ids)
	}

	if err := c.LoadPartition(testharness.Context(t, testTimeout), testPartitions); err == nil {
		t.Fatal("load of a partition out of range succeeded")
	}
	c.UnloadPartition(-1) // ignored
}

// Unloading a partition answers its waiting joins and syncs with
// NOT_COORDINATOR, stops its timers and leaves other partitions alone.
func TestUnloadAnswersWaiters(t *testing.T) {
	c := newCoordinator(t, newMemLog())
	loadPartition(t, c, 3)
	loadPartition(t, c, 1)

	// g1: a joined alone and is assigning; b's join waits for a to rejoin.
	g1 := groupIn("g1", 3)
	a, b := newTM(g1, "t"), newTM(g1, "t")
	join(t, c, a)
	waitingJoin := joinAsync(t, c, b)
	testharness.Eventually(t, testTimeout, "b to join", func() bool { return len(describe(t, c, g1).Members) == 2 })

	// g2: x and y formed a generation; y's sync waits for leader x.
	g2 := groupIn("g2", 3)
	x, y := newTM(g2, "t"), newTM(g2, "t")
	follower := y
	if formGroup(t, c, x, y)[x].LeaderID != x.id {
		follower = x
	}
	waitingSync := syncAsync(t, c, follower, nil)
	testharness.Eventually(t, testTimeout, "the follower's sync to wait", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		m := c.groups[g2].members[follower.id]
		return m != nil && m.syncCh != nil
	})

	// g3 (another partition) has a member that must keep working.
	o := newTM(groupIn("g3", 1), "t")
	join(t, c, o)
	recv(t, syncAsync(t, c, o, map[string][]byte{o.id: assignmentFor("t", 0)}))
	// g4: offsets only.
	g4 := groupIn("g4", 3)
	mustCommit(t, c, simple(g4), map[string]map[int32]int64{"t": {0: 3}})

	c.UnloadPartition(3)
	wantCode(t, "waiting join", recv(t, waitingJoin).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "waiting sync", recv(t, waitingSync).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "heartbeat after unload", heartbeat(t, c, a), kerr.NotCoordinator.Code)
	wantCode(t, "commit after unload",
		commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(simple(g4), map[string]map[int32]int64{"t": {0: 4}}))), kerr.NotCoordinator.Code)
	wantCode(t, "describe after unload", describe(t, c, g2).ErrorCode, kerr.NotCoordinator.Code)
	if ids := groupsOf(c, 3); len(ids) != 0 {
		t.Fatalf("groups of the unloaded partition still held: %v", ids)
	}
	if code, ids := listGroups(t, c); code != 0 || !slices.Equal(ids, []string{o.group}) {
		t.Fatalf("list after unload: %s %v", errName(code), ids)
	}
	wantCode(t, "heartbeat in another partition", heartbeat(t, c, o), 0)

	// Only o's session timer is left: every timer of partition 3 stopped.
	c.mu.Lock()
	timers := len(c.timers)
	c.mu.Unlock()
	if timers != 1 {
		t.Fatalf("%d timers armed after unload, want 1 (o's session)", timers)
	}

	c.UnloadPartition(3) // again: no-op

	// Loaded again, the offsets are back and the members are not.
	loadPartition(t, c, 3)
	if got := fetch(t, c, g4, "t", 0); got != 3 {
		t.Fatalf("offset after reload: %d", got)
	}
	if dg := describe(t, c, g1); dg.State != "Dead" || len(dg.Members) != 0 {
		t.Fatalf("membership survived the unload: %+v", dg)
	}
	wantCode(t, "heartbeat of a member from before the unload", heartbeat(t, c, a), kerr.UnknownMemberID.Code)
}

// A partition reloaded after another coordinator wrote to it serves what
// that coordinator wrote; reloading a loaded partition re-reads the log too.
func TestReloadSeesNewRecords(t *testing.T) {
	log := newMemLog()
	c := newCoordinator(t, log)
	loadPartition(t, c, 3)
	g, newcomer := groupIn("g", 3), groupIn("newcomer", 3)
	mustCommit(t, c, simple(g), map[string]map[int32]int64{"t": {0: 1, 1: 1}})

	c.UnloadPartition(3)
	log.put(3, offsetRecord(g, "t", 0, 5), offsetRecord(newcomer, "u", 2, 6), keyValue{key: offsetKey(g, "t", 1)})
	loadPartition(t, c, 3)
	for _, tc := range []struct {
		group, topic string
		partition    int32
		want         int64
	}{
		{g, "t", 0, 5},
		{g, "t", 1, -1},
		{newcomer, "u", 2, 6},
	} {
		if got := fetch(t, c, tc.group, tc.topic, tc.partition); got != tc.want {
			t.Errorf("after reload %s/%s/%d = %d, want %d", tc.group, tc.topic, tc.partition, got, tc.want)
		}
	}

	// Without an unload in between: members are dropped (their join
	// answered NOT_COORDINATOR), offsets re-read.
	a, b := newTM(g, "t"), newTM(g, "t")
	join(t, c, a)
	waiting := joinAsync(t, c, b)
	testharness.Eventually(t, testTimeout, "b to join", func() bool { return len(describe(t, c, g).Members) == 2 })
	log.put(3, keyValue{key: groupKey(newcomer)}, offsetRecord(g, "t", 0, 10))
	loadPartition(t, c, 3)
	wantCode(t, "join waiting across a reload", recv(t, waiting).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "heartbeat across a reload", heartbeat(t, c, a), kerr.UnknownMemberID.Code)
	if got := fetch(t, c, g, "t", 0); got != 10 {
		t.Fatalf("offset after the second reload: %d", got)
	}
	if dg := describe(t, c, newcomer); dg.State != "Dead" {
		t.Fatalf("deleted group after reload: %+v", dg)
	}
}

// A load overtaken by an unload installs nothing, even when its scan
// finishes after the unload; one overtaken by a newer load does not
// overwrite what the newer one installed.
func TestLoadRacingUnload(t *testing.T) {
	log := newMemLog()
	g := groupIn("g", 3)
	log.put(3, offsetRecord(g, "t", 0, 1))
	c := newCoordinator(t, log)

	// A scan that ignores its context and completes after the unload.
	gt := newGate(false)
	log.setScanHook(gt.hook(3))
	log.mu.Lock()
	log.scanIgnoresCtx = true
	log.mu.Unlock()
	loaded := make(chan error, 1)
	go func() { loaded <- c.LoadPartition(testharness.Context(t, testTimeout), 3) }()
	recv(t, gt.entered)
	c.UnloadPartition(3)
	gt.open()
	if err := recv(t, loaded); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("load overtaken by an unload: %v, want ErrSuperseded", err)
	}
	if ids := groupsOf(c, 3); len(ids) != 0 {
		t.Fatalf("overtaken load installed %v", ids)
	}
	wantCode(t, "describe after the overtaken load", describe(t, c, g).ErrorCode, kerr.NotCoordinator.Code)
	log.mu.Lock()
	log.scanIgnoresCtx = false
	log.mu.Unlock()

	// A scan that honours its context is cancelled by the unload.
	gt = newGate(true)
	log.setScanHook(gt.hook(3))
	go func() { loaded <- c.LoadPartition(testharness.Context(t, testTimeout), 3) }()
	recv(t, gt.entered)
	c.UnloadPartition(3)
	if err := recv(t, loaded); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("load cancelled by an unload: %v, want ErrSuperseded", err)
	}
	wantCode(t, "describe after the cancelled load", describe(t, c, g).ErrorCode, kerr.NotCoordinator.Code)

	// An old load still scanning when a newer one (which sees a newer log)
	// completes must not replace the newer state.
	gt = newGate(false)
	log.setScanHook(gt.hook(3))
	go func() { loaded <- c.LoadPartition(testharness.Context(t, testTimeout), 3) }()
	recv(t, gt.entered)
	log.setScanHook(nil)
	log.put(3, offsetRecord(g, "t", 0, 2))
	loadPartition(t, c, 3)
	m := newTM(g, "t")
	join(t, c, m)
	gt.open()
	if err := recv(t, loaded); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("load overtaken by a newer load: %v, want ErrSuperseded", err)
	}
	if got := fetch(t, c, g, "t", 0); got != 2 {
		t.Fatalf("offset %d after the stale load ended, want 2", got)
	}
	wantCode(t, "member of the newer load", heartbeat(t, c, m), 0)
}

// A commit whose write is in flight when its partition is unloaded and
// loaded again answers NOT_COORDINATOR: whether the reload saw the record
// depends on timing, so the client must retry.
func TestCommitAcrossReload(t *testing.T) {
	log := newMemLog()
	c := newCoordinator(t, log)
	loadPartition(t, c, 3)
	g := groupIn("g", 3)
	mustCommit(t, c, simple(g), map[string]map[int32]int64{"t": {0: 1}})

	gt := newGate(false)
	log.setAppendHook(gt.hook(3))
	done := make(chan *kmsg.OffsetCommitResponse, 1)
	req := commitReq(simple(g), map[string]map[int32]int64{"t": {0: 2}})
	go func() { done <- c.OffsetCommit(testharness.Context(t, testTimeout), req) }()
	recv(t, gt.entered)
	c.UnloadPartition(3)
	loadPartition(t, c, 3) // reads the log before the commit's record lands
	gt.open()
	wantCode(t, "commit across a reload", commitCodesOne(recv(t, done)), kerr.NotCoordinator.Code)
	log.setAppendHook(nil)

	// The retry lands on the reloaded group.
	mustCommit(t, c, simple(g), map[string]map[int32]int64{"t": {0: 2}})
	if got := fetch(t, c, g, "t", 0); got != 2 {
		t.Fatalf("offset after the retried commit: %d", got)
	}

	// Deleting a group across an unload answers NOT_COORDINATOR as well.
	gt = newGate(false)
	log.setAppendHook(gt.hook(3))
	deleted := make(chan *kmsg.DeleteGroupsResponse, 1)
	dreq := kmsg.NewPtrDeleteGroupsRequest()
	dreq.Groups = []string{g}
	go func() { deleted <- c.DeleteGroups(testharness.Context(t, testTimeout), dreq) }()
	recv(t, gt.entered)
	c.UnloadPartition(3)
	gt.open()
	wantCode(t, "delete across an unload", recv(t, deleted).Groups[0].ErrorCode, kerr.NotCoordinator.Code)
}

// Close cancels a load in flight, and no load starts afterwards.
func TestCloseDuringLoad(t *testing.T) {
	log := newMemLog()
	c := New(testConfig(t), log)
	gt := newGate(true)
	log.setScanHook(gt.hook(2))
	loaded := make(chan error, 1)
	go func() { loaded <- c.LoadPartition(testharness.Context(t, testTimeout), 2) }()
	recv(t, gt.entered)
	c.Close()
	if err := recv(t, loaded); err == nil {
		t.Fatal("load cancelled by Close succeeded")
	}
	if err := c.LoadPartition(testharness.Context(t, testTimeout), 1); err == nil {
		t.Fatal("load after Close succeeded")
	}
	if err := c.Load(testharness.Context(t, testTimeout)); err == nil {
		t.Fatal("Load after Close succeeded")
	}
	c.UnloadPartition(1) // harmless
	wantCode(t, "describe after close", describe(t, c, groupIn("g", 2)).ErrorCode, kerr.CoordinatorNotAvailable.Code)
}

// Loads, unloads and requests racing each other leave a consistent
// coordinator: what is held for a partition matches its last operation.
func TestLoadUnloadStress(t *testing.T) {
	log := newMemLog()
	groups := make([]string, testPartitions)
	for p := range int32(testPartitions) {
		groups[p] = groupIn("g", p)
		log.put(p, offsetRecord(groups[p], "t", 0, int64(p)))
	}
	c := newCoordinator(t, log)
	ctx, cancel := context.WithCancel(testharness.Context(t, testTimeout))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range 200 {
				p := int32(rng.IntN(testPartitions))
				switch rng.IntN(4) {
				case 0:
					c.UnloadPartition(p)
				case 1:
					if err := c.LoadPartition(ctx, p); err != nil && !errors.Is(err, ErrSuperseded) {
						t.Errorf("load %d: %v", p, err)
					}
				default:
					s := simple(groups[p])
					c.OffsetCommit(ctx, commitReq(s, map[string]map[int32]int64{"t": {0: int64(p)}}))
					join := newTM(groups[p], "t").joinReq()
					join.Version = 3 // no KIP-394 round trip: a real member
					jctx, jcancel := context.WithCancel(ctx)
					jcancel() // answer at once whatever the state
					c.JoinGroup(jctx, join)
				}
			}
		})
	}
	wg.Wait()
	cancel()

	// Settle every partition both ways and check what is held.
	for p := range int32(testPartitions) {
		c.UnloadPartition(p)
		if ids := groupsOf(c, p); len(ids) != 0 {
			t.Fatalf("partition %d holds %v after unload", p, ids)
		}
		loadPartition(t, c, p)
		if got := fetch(t, c, groups[p], "t", 0); got != int64(p) {
			t.Fatalf("partition %d: offset %d after reload", p, got)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for p, ps := range c.parts {
		if ps.status != partitionLoaded || ps.cancel != nil {
			t.Fatalf("partition %d: status %d, cancel set %v", p, ps.status, ps.cancel != nil)
		}
	}
}
