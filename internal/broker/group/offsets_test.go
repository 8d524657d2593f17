package group

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		group      string
		hash       int32
		partitions int32
		want       int32
	}{
		{"", 0, 50, 0},
		{"hello", 99162322, 50, 22},
		{"Aa", 2112, 50, 12},
		{"BB", 2112, 50, 12},
		{"é", 233, 50, 33},
		{"😀", 1772899, 50, 1772899 % 50}, // one surrogate pair: two UTF-16 units
		// Java's hashCode is Integer.MIN_VALUE here; Kafka's Utils.abs
		// masks the sign bit, giving 0 where Math.abs would overflow.
		{"polygenelubricants", -2147483648, 50, 0},
		{"hello", 99162322, 1, 0},
	} {
		if got := javaStringHash(tc.group); got != tc.hash {
			t.Errorf("hash(%q) = %d, want %d", tc.group, got, tc.hash)
		}
		if got := PartitionFor(tc.group, tc.partitions); got != tc.want {
			t.Errorf("PartitionFor(%q, %d) = %d, want %d", tc.group, tc.partitions, got, tc.want)
		}
	}
	c := New(Config{}, newMemLog())
	defer c.Close()
	if got := c.Partition("hello"); got != 22 {
		t.Fatalf("Partition with the default 50 partitions = %d, want 22", got)
	}
}

// simple is a client that commits outside group management.
func simple(group string) *tm { return &tm{group: group, gen: -1} }

func TestCommitAndFetch(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))

	s := simple("simple")
	mustCommit(t, c, s, map[string]map[int32]int64{"t": {0: 10, 1: 20}, "u": {0: 5}})
	for _, tc := range []struct {
		group, topic string
		partition    int32
		want         int64
	}{
		{"simple", "t", 0, 10},
		{"simple", "t", 1, 20},
		{"simple", "u", 0, 5},
		{"simple", "t", 7, -1},
		{"simple", "nope", 0, -1},
		{"unknown-group", "t", 0, -1},
	} {
		if got := fetch(t, c, tc.group, tc.topic, tc.partition); got != tc.want {
			t.Errorf("fetch %s/%s/%d = %d, want %d", tc.group, tc.topic, tc.partition, got, tc.want)
		}
	}

	// v5: null topics means all, sorted; metadata and leader epoch kept.
	all := kmsg.NewPtrOffsetFetchRequest()
	all.Version = 5
	all.Group = "simple"
	r := c.OffsetFetch(testharness.Context(t, testTimeout), all)
	if len(r.Topics) != 2 || r.Topics[0].Topic != "t" || r.Topics[1].Topic != "u" || len(r.Topics[0].Partitions) != 2 ||
		r.Topics[0].Partitions[0].Partition != 0 || r.Topics[0].Partitions[1].Partition != 1 {
		t.Fatalf("fetch all: %+v", r.Topics)
	}
	p := r.Topics[0].Partitions[0]
	if p.Offset != 10 || p.LeaderEpoch != 3 || p.Metadata == nil || *p.Metadata != "meta" {
		t.Fatalf("fetched partition: %+v", p)
	}
	// v1 cannot ask for all topics.
	all.Version = 1
	if r := c.OffsetFetch(testharness.Context(t, testTimeout), all); len(r.Topics) != 0 {
		t.Fatalf("v1 fetch without topics returned %+v", r.Topics)
	}

	// v8: several groups at once.
	multi := kmsg.NewPtrOffsetFetchRequest()
	multi.Version = 8
	multi.Groups = []kmsg.OffsetFetchRequestGroup{
		{Group: "simple"},
		{Group: "unknown-group", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}},
	}
	mr := c.OffsetFetch(testharness.Context(t, testTimeout), multi)
	if len(mr.Groups) != 2 || len(mr.Groups[0].Topics) != 2 || mr.Groups[0].Topics[1].Partitions[0].Offset != 5 ||
		mr.Groups[1].Topics[0].Partitions[0].Offset != -1 || mr.Groups[1].ErrorCode != 0 {
		t.Fatalf("v8 fetch: %+v", mr.Groups)
	}

	// Too much metadata is refused per partition.
	req := commitReq(s, map[string]map[int32]int64{"t": {0: 11}})
	big := kmsg.NewOffsetCommitRequestTopicPartition()
	big.Partition = 1
	big.Offset = 99
	big.Metadata = kmsg.StringPtr(strings.Repeat("x", MaxMetadataBytes+1))
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, big)
	cr := c.OffsetCommit(testharness.Context(t, testTimeout), req)
	wantCode(t, "normal partition", cr.Topics[0].Partitions[0].ErrorCode, 0)
	wantCode(t, "big metadata", cr.Topics[0].Partitions[1].ErrorCode, kerr.OffsetMetadataTooLarge.Code)
	if got := fetch(t, c, "simple", "t", 1); got != 20 {
		t.Fatalf("refused commit changed the offset to %d", got)
	}

	// v0 has no generation: a simple commit.
	v0 := commitReq(&tm{group: "v0", gen: 5, id: "x"}, map[string]map[int32]int64{"t": {0: 1}})
	v0.Version = 0
	wantCode(t, "v0 commit", commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), v0)), 0)

	// A generation for a group that does not exist.
	wantCode(t, "commit to an unknown group with a generation",
		commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(&tm{group: "ghost", gen: 3, id: "m"}, map[string]map[int32]int64{"t": {0: 1}}))),
		kerr.IllegalGeneration.Code)
	if dg := describe(t, c, "ghost"); dg.State != "Dead" {
		t.Fatalf("refused commit created group: %+v", dg)
	}
}

func TestMemberCommits(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a, b := newTM("g", "t"), newTM("g", "t")
	formGroup(t, c, a, b)
	offs := map[string]map[int32]int64{"t": {0: 42}}
	commit := func(m *tm) int16 {
		return commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(m, offs)))
	}

	wantCode(t, "commit while the leader assigns", commit(a), kerr.RebalanceInProgress.Code)
	syncAll(t, c, a, []*tm{a, b}, map[string][]byte{a.id: assignmentFor("t", 0), b.id: assignmentFor("t", 1)})
	wantCode(t, "commit when stable", commit(a), 0)
	if got := fetch(t, c, "g", "t", 0); got != 42 {
		t.Fatalf("fetch %d", got)
	}

	for _, tc := range []struct {
		name   string
		member tm
		want   int16
	}{
		{"wrong generation", tm{group: "g", id: a.id, gen: a.gen - 1}, kerr.IllegalGeneration.Code},
		{"unknown member", tm{group: "g", id: "stranger", gen: a.gen}, kerr.UnknownMemberID.Code},
		{"simple commit to a group with members", tm{group: "g", gen: -1}, kerr.UnknownMemberID.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, "commit", commit(&tc.member), tc.want)
		})
	}

	// PreparingRebalance still takes commits of the current generation, so
	// eager consumers can commit before rejoining.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 1
	leave.Group = "g"
	leave.MemberID = b.id
	wantCode(t, "leave", c.LeaveGroup(testharness.Context(t, testTimeout), leave).ErrorCode, 0)
	if st := describe(t, c, "g").State; st != "PreparingRebalance" {
		t.Fatalf("state %s", st)
	}
	offs["t"][0] = 43
	wantCode(t, "commit while preparing", commit(a), 0)
	if got := fetch(t, c, "g", "t", 0); got != 43 {
		t.Fatalf("fetch %d", got)
	}
}

func TestOffsetsSurviveRestart(t *testing.T) {
	log := newMemLog()
	cfg := testConfig(t)
	c1 := newLoaded(t, log, cfg)
	mustCommit(t, c1, simple("g1"), map[string]map[int32]int64{"t": {0: 1, 1: 2}})
	mustCommit(t, c1, simple("g1"), map[string]map[int32]int64{"t": {0: 3}})
	mustCommit(t, c1, simple("g2"), map[string]map[int32]int64{"u": {4: 9}})
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g1"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	dr := c1.OffsetDelete(testharness.Context(t, testTimeout), del)
	wantCode(t, "offset delete", dr.Topics[0].Partitions[0].ErrorCode, 0)

	// The log holds Kafka's record format in the group's partition.
	recs := log.records(t, PartitionFor("g1", testPartitions))
	if len(recs) < 4 {
		t.Fatalf("%d records", len(recs))
	}
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(recs[0].Key); err != nil || k.Version != 1 || k.Group != "g1" || k.Topic != "t" {
		t.Fatalf("key %+v: %v", k, err)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(recs[0].Value); err != nil || v.Version != 3 || v.LeaderEpoch != 3 || v.Metadata != "meta" {
		t.Fatalf("value %+v: %v", v, err)
	}
	if last := recs[len(recs)-1]; last.Value != nil {
		t.Fatal("offset deletion did not write a tombstone")
	}
	c1.Close()

	c2 := newLoaded(t, log, cfg)
	for _, tc := range []struct {
		group, topic string
		partition    int32
		want         int64
	}{
		{"g1", "t", 0, 3},
		{"g1", "t", 1, -1},
		{"g2", "u", 4, 9},
	} {
		if got := fetch(t, c2, tc.group, tc.topic, tc.partition); got != tc.want {
			t.Errorf("after restart %s/%s/%d = %d, want %d", tc.group, tc.topic, tc.partition, got, tc.want)
		}
	}
	fr := kmsg.NewPtrOffsetFetchRequest()
	fr.Version = 7
	fr.Group = "g1"
	p := c2.OffsetFetch(testharness.Context(t, testTimeout), fr).Topics[0].Partitions[0]
	if p.LeaderEpoch != 3 || *p.Metadata != "meta" {
		t.Fatalf("restored partition %+v", p)
	}
	if dg := describe(t, c2, "g2"); dg.State != "Empty" {
		t.Fatalf("restored group %+v", dg)
	}
	// Members of a generation from before the restart must rejoin.
	wantCode(t, "stale member commit", commitCodesOne(c2.OffsetCommit(testharness.Context(t, testTimeout),
		commitReq(&tm{group: "g2", id: "old", gen: 4}, map[string]map[int32]int64{"u": {4: 10}}))), kerr.UnknownMemberID.Code)
}

func TestAppendFailureChangesNothing(t *testing.T) {
	log := newMemLog()
	c := newLoaded(t, log, testConfig(t))
	s := simple("g")
	mustCommit(t, c, s, map[string]map[int32]int64{"t": {0: 5}})

	log.setFail(errDiskFull)
	wantCode(t, "commit with a failing log",
		commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(s, map[string]map[int32]int64{"t": {0: 10}}))), kerr.CoordinatorNotAvailable.Code)
	if got := fetch(t, c, "g", "t", 0); got != 5 {
		t.Fatalf("offset %d after a failed commit, want 5", got)
	}
	wantCode(t, "commit to a new group with a failing log",
		commitCodesOne(c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(simple("new"), map[string]map[int32]int64{"t": {0: 1}}))), kerr.CoordinatorNotAvailable.Code)
	if dg := describe(t, c, "new"); dg.State != "Dead" {
		t.Fatalf("failed commit left group behind: %+v", dg)
	}
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	wantCode(t, "offset delete with a failing log", c.OffsetDelete(testharness.Context(t, testTimeout), del).Topics[0].Partitions[0].ErrorCode, kerr.CoordinatorNotAvailable.Code)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"g"}
	wantCode(t, "delete with a failing log", c.DeleteGroups(testharness.Context(t, testTimeout), dg).Groups[0].ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if got := fetch(t, c, "g", "t", 0); got != 5 {
		t.Fatalf("offset %d after failed deletions, want 5", got)
	}
	if st := describe(t, c, "g").State; st != "Empty" {
		t.Fatalf("state %s after a failed delete", st)
	}

	log.setFail(nil)
	mustCommit(t, c, s, map[string]map[int32]int64{"t": {0: 10}})
	if got := fetch(t, c, "g", "t", 0); got != 10 {
		t.Fatalf("offset %d", got)
	}
}

func TestDeleteGroups(t *testing.T) {
	log := newMemLog()
	cfg := testConfig(t)
	c := newLoaded(t, log, cfg)
	mustCommit(t, c, simple("empty"), map[string]map[int32]int64{"t": {0: 1, 1: 2}, "u": {0: 3}})
	mustCommit(t, c, simple("kept"), map[string]map[int32]int64{"t": {0: 7}})
	join(t, c, newTM("live", "t"))

	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{"live", "empty", "nope"}
	resp := c.DeleteGroups(testharness.Context(t, testTimeout), req)
	for i, want := range []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code} {
		if resp.Groups[i].Group != req.Groups[i] {
			t.Fatalf("response %d is for %s", i, resp.Groups[i].Group)
		}
		wantCode(t, "delete "+req.Groups[i], resp.Groups[i].ErrorCode, want)
	}
	if got := fetch(t, c, "empty", "t", 0); got != -1 {
		t.Fatalf("offset %d after delete", got)
	}
	if dg := describe(t, c, "empty"); dg.State != "Dead" {
		t.Fatalf("deleted group described as %s", dg.State)
	}
	wantCode(t, "second delete", c.DeleteGroups(testharness.Context(t, testTimeout), req).Groups[1].ErrorCode, kerr.GroupIDNotFound.Code)

	// Tombstones: one per offset, then the group metadata key.
	recs := log.records(t, PartitionFor("empty", testPartitions))
	var tombstones []string
	for _, r := range recs {
		if r.Value != nil {
			continue
		}
		var gk kmsg.GroupMetadataKey
		if err := gk.ReadFrom(r.Key); err == nil && gk.Version == 2 {
			tombstones = append(tombstones, "group:"+gk.Group)
			continue
		}
		var ok kmsg.OffsetCommitKey
		if err := ok.ReadFrom(r.Key); err != nil {
			t.Fatalf("tombstone key: %v", err)
		}
		tombstones = append(tombstones, ok.Group+"/"+ok.Topic)
	}
	if want := []string{"empty/t", "empty/t", "empty/u", "group:empty"}; !slices.Equal(tombstones, want) {
		t.Fatalf("tombstones %v, want %v", tombstones, want)
	}

	// The deletion is replayed; a commit after it is too.
	mustCommit(t, c, simple("empty"), map[string]map[int32]int64{"v": {0: 8}})
	c.Close()
	c2 := newLoaded(t, log, cfg)
	for _, tc := range []struct {
		group, topic string
		want         int64
	}{
		{"empty", "t", -1},
		{"empty", "u", -1},
		{"empty", "v", 8},
		{"kept", "t", 7},
	} {
		if got := fetch(t, c2, tc.group, tc.topic, 0); got != tc.want {
			t.Errorf("after restart %s/%s = %d, want %d", tc.group, tc.topic, got, tc.want)
		}
	}
}

func TestOffsetDelete(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	a := newTM("g", "a") // subscribed to topic a only
	join(t, c, a)
	recv(t, syncAsync(t, c, a, map[string][]byte{a.id: assignmentFor("a", 0)}))
	mustCommit(t, c, a, map[string]map[int32]int64{"a": {0: 1}, "b": {0: 2}})

	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	for _, topic := range []string{"a", "b", "c"} {
		req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}})
	}
	resp := c.OffsetDelete(testharness.Context(t, testTimeout), req)
	wantCode(t, "top level", resp.ErrorCode, 0)
	wantCode(t, "subscribed topic", resp.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic.Code)
	wantCode(t, "unsubscribed topic", resp.Topics[1].Partitions[0].ErrorCode, 0)
	wantCode(t, "topic without offsets", resp.Topics[2].Partitions[0].ErrorCode, 0)
	if got := fetch(t, c, "g", "a", 0); got != 1 {
		t.Fatalf("subscribed offset %d", got)
	}
	if got := fetch(t, c, "g", "b", 0); got != -1 {
		t.Fatalf("deleted offset %d", got)
	}

	for _, tc := range []struct {
		group string
		want  int16
	}{
		{"nope", kerr.GroupIDNotFound.Code},
		{"", kerr.InvalidGroupID.Code},
	} {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = tc.group
		wantCode(t, "group "+tc.group, c.OffsetDelete(testharness.Context(t, testTimeout), r).ErrorCode, tc.want)
	}

	// Another protocol type with members: nothing may go.
	conn := newTM("conn", "a")
	conn.ptype = "connect"
	join(t, c, conn)
	r := kmsg.NewPtrOffsetDeleteRequest()
	r.Group = "conn"
	wantCode(t, "non-consumer group with members", c.OffsetDelete(testharness.Context(t, testTimeout), r).ErrorCode, kerr.NonEmptyGroup.Code)

	// Once the group is empty every offset may go.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 1
	leave.Group = "g"
	leave.MemberID = a.id
	wantCode(t, "leave", c.LeaveGroup(testharness.Context(t, testTimeout), leave).ErrorCode, 0)
	if st := describe(t, c, "g").State; st != "Empty" {
		t.Fatalf("state %s", st)
	}
	resp = c.OffsetDelete(testharness.Context(t, testTimeout), req)
	wantCode(t, "offset delete in an empty group", resp.Topics[0].Partitions[0].ErrorCode, 0)
	if got := fetch(t, c, "g", "a", 0); got != -1 {
		t.Fatalf("offset %d", got)
	}
}

func TestListGroups(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	mustCommit(t, c, simple("e"), map[string]map[int32]int64{"t": {0: 1}})
	s := newTM("s", "t")
	join(t, c, s)
	recv(t, syncAsync(t, c, s, map[string][]byte{s.id: assignmentFor("t", 0)}))
	join(t, c, newTM("c", "t")) // never syncs: CompletingRebalance

	list := func(version int16, states, types []string) []string {
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = version
		r.StatesFilter = states
		r.TypesFilter = types
		resp := c.ListGroups(testharness.Context(t, testTimeout), r)
		wantCode(t, "list", resp.ErrorCode, 0)
		var out []string
		for _, g := range resp.Groups {
			out = append(out, g.Group+":"+g.GroupState+":"+g.ProtocolType)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		version int16
		states  []string
		types   []string
		want    []string
	}{
		{"all", 4, nil, nil, []string{"c:CompletingRebalance:consumer", "e:Empty:", "s:Stable:consumer"}},
		{"stable, any case", 4, []string{"stable"}, nil, []string{"s:Stable:consumer"}},
		{"two states", 4, []string{"Empty", "CompletingRebalance"}, nil, []string{"c:CompletingRebalance:consumer", "e:Empty:"}},
		{"no match", 4, []string{"Dead"}, nil, nil},
		{"filter ignored before v4", 3, []string{"Stable"}, nil, []string{"c::consumer", "e::", "s::consumer"}},
		{"classic type", 5, nil, []string{"Classic"}, []string{"c:CompletingRebalance:consumer", "e:Empty:", "s:Stable:consumer"}},
		{"consumer type", 5, nil, []string{"consumer"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := list(tc.version, tc.states, tc.types)
			if tc.version < 4 {
				// GroupState is filled but not sent before v4; compare
				// what the wire would carry.
				for i := range got {
					parts := strings.SplitN(got[i], ":", 3)
					got[i] = parts[0] + "::" + parts[2]
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDescribeGroups(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	m := newTM("g", "t")
	join(t, c, m) // CompletingRebalance: members listed without metadata

	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{"g", "nope"}
	req.IncludeAuthorizedOperations = true
	resp := c.DescribeGroups(testharness.Context(t, testTimeout), req)
	g, nope := resp.Groups[0], resp.Groups[1]
	if g.State != "CompletingRebalance" || g.Protocol != "" || len(g.Members) != 1 || g.Members[0].MemberID != m.id ||
		g.Members[0].ProtocolMetadata != nil || g.Members[0].MemberAssignment != nil || g.AuthorizedOperations != groupAuthorizedOperations {
		t.Fatalf("describe g: %+v", g)
	}
	if nope.State != "Dead" || nope.ErrorCode != 0 || len(nope.Members) != 0 {
		t.Fatalf("describe unknown before v6: %+v", nope)
	}
	req.Version = 6
	req.IncludeAuthorizedOperations = false
	resp = c.DescribeGroups(testharness.Context(t, testTimeout), req)
	wantCode(t, "unknown group v6", resp.Groups[1].ErrorCode, kerr.GroupIDNotFound.Code)
	if resp.Groups[0].AuthorizedOperations != -2147483648 {
		t.Fatalf("authorized operations %d when not asked", resp.Groups[0].AuthorizedOperations)
	}
}

func TestLoadRecords(t *testing.T) {
	log := newMemLog()
	p := PartitionFor("g", testPartitions)
	unknownKey := []byte{0, 9, 'x'} // a key version this coordinator does not know
	log.parts[p] = append(log.parts[p],
		buildBatch(1, []keyValue{
			{key: offsetKey("g", "t", 0), value: offsetValue(offsetEntry{offset: 4, leaderEpoch: 1})},
			{key: unknownKey, value: []byte("whatever")},
			{key: offsetKey("g", "t", 1), value: offsetValue(offsetEntry{offset: 6, leaderEpoch: 1})},
		}),
		buildBatch(2, []keyValue{{key: offsetKey("g", "t", 1)}}), // tombstone
	)
	c := newLoaded(t, log, testConfig(t))
	if got := fetch(t, c, "g", "t", 0); got != 4 {
		t.Fatalf("loaded offset %d", got)
	}
	if got := fetch(t, c, "g", "t", 1); got != -1 {
		t.Fatalf("tombstoned offset %d", got)
	}
	// A second Load has nothing left to do and keeps what is served.
	mustCommit(t, c, simple("g"), map[string]map[int32]int64{"t": {2: 8}})
	if err := c.Load(testharness.Context(t, testTimeout)); err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if got := fetch(t, c, "g", "t", 2); got != 8 {
		t.Fatalf("second Load replaced the served state: offset %d", got)
	}

	// A corrupt batch fails the load of its partition only; its groups keep
	// waiting for a retry, the other partitions are served.
	bad := newMemLog()
	bad.parts[p] = [][]byte{[]byte("not a batch")}
	c2 := New(testConfig(t), bad)
	defer c2.Close()
	if err := c2.Load(testharness.Context(t, testTimeout)); err == nil {
		t.Fatal("load of a corrupt log succeeded")
	}
	other := groupIn("other", (p+1)%testPartitions)
	wantCode(t, "commit after a failed load",
		commitCodesOne(c2.OffsetCommit(testharness.Context(t, testTimeout), commitReq(simple("g"), map[string]map[int32]int64{"t": {0: 1}}))), kerr.CoordinatorLoadInProgress.Code)
	wantCode(t, "commit to a partition that loaded",
		commitCodesOne(c2.OffsetCommit(testharness.Context(t, testTimeout), commitReq(simple(other), map[string]map[int32]int64{"t": {0: 1}}))), 0)
	wantCode(t, "list after a failed load", c2.ListGroups(testharness.Context(t, testTimeout), kmsg.NewPtrListGroupsRequest()).ErrorCode, kerr.CoordinatorLoadInProgress.Code)

	// Once the log is readable, Load retries just the failed partition.
	bad.mu.Lock()
	bad.parts[p] = log.parts[p]
	bad.mu.Unlock()
	if err := c2.Load(testharness.Context(t, testTimeout)); err != nil {
		t.Fatalf("retried load: %v", err)
	}
	if got := fetch(t, c2, "g", "t", 0); got != 4 {
		t.Fatalf("offset after the retried load %d", got)
	}
	if got := fetch(t, c2, other, "t", 0); got != 1 {
		t.Fatalf("retried load replaced a loaded partition: offset %d", got)
	}
}
