package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every blocking call a test makes.
const testTimeout = 10 * time.Second

// memLog is an in-memory OffsetsLog.
type memLog struct {
	mu      sync.Mutex
	parts   map[int32][][]byte
	failErr error // when set, Append fails and writes nothing
	appends int
	// scanHook and appendHook, when set, run at the start of every Scan
	// (before it copies the partition) and before every Append stores its
	// batch; an error fails the call. Tests use them to hold a call open.
	scanHook   func(ctx context.Context, partition int32) error
	appendHook func(ctx context.Context, partition int32) error
	// scanIgnoresCtx makes Scan read on after its ctx ends, like a scan
	// that had already read everything when it was cancelled.
	scanIgnoresCtx bool
	// verify, when set, answers AppendTxn's question to the transaction
	// coordinator; an error refuses the batch.
	verify func(txnID string, b []byte) error
	// uncommitted makes Append store the batch and then fail with
	// ErrNotCommitted, like a wait for the high watermark that ended.
	uncommitted bool
}

func newMemLog() *memLog { return &memLog{parts: make(map[int32][][]byte)} }

func (l *memLog) Append(ctx context.Context, partition int32, b []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	l.mu.Lock()
	hook := l.appendHook
	l.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, partition); err != nil {
			return -1, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failErr != nil {
		return -1, l.failErr
	}
	l.appends++
	base := l.appendLocked(partition, b)
	if l.uncommitted {
		return -1, fmt.Errorf("commit to partition %d: %w: %w", partition, ErrNotCommitted, context.DeadlineExceeded)
	}
	return base, nil
}

func (l *memLog) AppendTxn(ctx context.Context, partition int32, txnID string, b []byte) (int64, error) {
	l.mu.Lock()
	verify := l.verify
	l.mu.Unlock()
	if verify != nil {
		if err := verify(txnID, b); err != nil {
			return -1, fmt.Errorf("append to partition %d: %w", partition, err)
		}
	}
	return l.Append(ctx, partition, b)
}

// appendLocked stores a copy of b at the partition's end offset, which it
// returns, like a log assigning offsets. l.mu must be held.
func (l *memLog) appendLocked(partition int32, b []byte) int64 {
	var next int64
	if n := len(l.parts[partition]); n > 0 {
		h, err := batch.ParseHeader(l.parts[partition][n-1])
		if err != nil {
			panic(err)
		}
		next = h.LastOffset() + 1
	}
	b = append([]byte(nil), b...)
	batch.SetBaseOffset(b, next)
	l.parts[partition] = append(l.parts[partition], b)
	return next
}

func (l *memLog) Scan(ctx context.Context, partition int32, fn func([]byte) error) error {
	l.mu.Lock()
	hook := l.scanHook
	if l.scanIgnoresCtx {
		ctx = context.WithoutCancel(ctx)
	}
	l.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, partition); err != nil {
			return err
		}
	}
	l.mu.Lock()
	batches := append([][]byte(nil), l.parts[partition]...)
	l.mu.Unlock()
	for _, b := range batches {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (l *memLog) setScanHook(h func(ctx context.Context, partition int32) error) {
	l.mu.Lock()
	l.scanHook = h
	l.mu.Unlock()
}

func (l *memLog) setAppendHook(h func(ctx context.Context, partition int32) error) {
	l.mu.Lock()
	l.appendHook = h
	l.mu.Unlock()
}

// put appends a batch of records to a partition directly, as another
// coordinator leading it would.
func (l *memLog) put(partition int32, kvs ...keyValue) {
	l.mu.Lock()
	l.appendLocked(partition, buildBatch(1, kvs))
	l.mu.Unlock()
}

// gate holds calls that reach it until released; entered reports each call
// that arrived. With honourCtx a call also returns when its ctx ends.
type gate struct {
	entered   chan int32
	release   chan struct{}
	honourCtx bool
}

func newGate(honourCtx bool) *gate {
	return &gate{entered: make(chan int32, 64), release: make(chan struct{}), honourCtx: honourCtx}
}

// hook blocks calls for partition p (others pass) until the gate opens.
func (g *gate) hook(p int32) func(ctx context.Context, partition int32) error {
	return func(ctx context.Context, partition int32) error {
		if partition != p {
			return nil
		}
		g.entered <- partition
		var done <-chan struct{}
		if g.honourCtx {
			done = ctx.Done()
		}
		select {
		case <-g.release:
			return nil
		case <-done:
			return ctx.Err()
		case <-time.After(testTimeout):
			return errors.New("gate never released")
		}
	}
}

func (g *gate) open() { close(g.release) }

// groupIn returns a group id, starting with prefix, whose offsets partition
// is p.
func groupIn(prefix string, p int32) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if PartitionFor(id, testPartitions) == p {
			return id
		}
	}
}

func (l *memLog) setFail(err error) {
	l.mu.Lock()
	l.failErr = err
	l.mu.Unlock()
}

// records returns every record of a partition, oldest first.
func (l *memLog) records(t *testing.T, partition int32) []batch.Record {
	t.Helper()
	var out []batch.Record
	err := l.Scan(context.Background(), partition, func(b []byte) error {
		recs, err := batch.Records(b)
		out = append(out, recs...)
		return err
	})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	return out
}

var errDiskFull = errors.New("disk full")

const testPartitions = 4

func testConfig(t *testing.T) Config {
	return Config{
		OffsetsPartitions: testPartitions,
		MinSessionTimeout: 10 * time.Millisecond,
		MaxSessionTimeout: time.Minute,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// newLoaded returns a loaded coordinator over log that is closed when the
// test ends.
func newLoaded(t *testing.T, log *memLog, cfg Config) *Coordinator {
	t.Helper()
	c := New(cfg, log)
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.Load(ctx); err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

// tm is a test group member: what a client remembers between requests.
type tm struct {
	group     string
	id        string
	instance  *string
	gen       int32
	version   int16
	session   time.Duration
	rebalance time.Duration
	ptype     string
	protos    []kmsg.JoinGroupRequestProtocol
}

func newTM(group string, topics ...string) *tm {
	return &tm{
		group:     group,
		version:   9,
		session:   10 * time.Second,
		rebalance: 5 * time.Second,
		ptype:     "consumer",
		protos:    []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta(topics...)}},
	}
}

func (m *tm) joinReq() *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = m.version
	r.Group = m.group
	r.MemberID = m.id
	r.InstanceID = m.instance
	r.SessionTimeoutMillis = int32(m.session / time.Millisecond)
	r.RebalanceTimeoutMillis = int32(m.rebalance / time.Millisecond)
	r.ProtocolType = m.ptype
	r.Protocols = m.protos
	return r
}

// joinRaw sends one JoinGroup in the background.
func joinRaw(t *testing.T, c *Coordinator, req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	out := make(chan *kmsg.JoinGroupResponse, 1)
	ctx := WithClient(testharness.Context(t, testTimeout), "client-"+req.Group, "127.0.0.1")
	go func() { out <- c.JoinGroup(ctx, req) }()
	return out
}

// joinAsync joins in the background, doing the MEMBER_ID_REQUIRED round trip
// first (synchronously, so m.id is known when it returns).
func joinAsync(t *testing.T, c *Coordinator, m *tm) <-chan *kmsg.JoinGroupResponse {
	t.Helper()
	if m.id == "" && m.instance == nil && m.version >= 4 {
		r := c.JoinGroup(WithClient(testharness.Context(t, testTimeout), "client-"+m.group, "127.0.0.1"), m.joinReq())
		if r.ErrorCode != kerr.MemberIDRequired.Code {
			t.Fatalf("first join: error %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(r.ErrorCode))
		}
		m.id = r.MemberID
	}
	return joinRaw(t, c, m.joinReq())
}

// recv waits for a background response.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for a response")
	}
	panic("unreachable")
}

// joined applies a successful join response to m.
func joined(t *testing.T, m *tm, r *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	t.Helper()
	if r.ErrorCode != 0 {
		t.Fatalf("join of %s: %v", m.id, kerr.ErrorForCode(r.ErrorCode))
	}
	m.id = r.MemberID
	m.gen = r.Generation
	return r
}

func join(t *testing.T, c *Coordinator, m *tm) *kmsg.JoinGroupResponse {
	t.Helper()
	return joined(t, m, recv(t, joinAsync(t, c, m)))
}

func (m *tm) syncReq(assign map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group = m.group
	r.MemberID = m.id
	r.InstanceID = m.instance
	r.Generation = m.gen
	for id, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: a})
	}
	return r
}

func syncAsync(t *testing.T, c *Coordinator, m *tm, assign map[string][]byte) <-chan *kmsg.SyncGroupResponse {
	out := make(chan *kmsg.SyncGroupResponse, 1)
	req := m.syncReq(assign)
	ctx := testharness.Context(t, testTimeout)
	go func() { out <- c.SyncGroup(ctx, req) }()
	return out
}

func heartbeat(t *testing.T, c *Coordinator, m *tm) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group = m.group
	r.MemberID = m.id
	r.InstanceID = m.instance
	r.Generation = m.gen
	return c.Heartbeat(testharness.Context(t, testTimeout), r).ErrorCode
}

func describe(t *testing.T, c *Coordinator, group string) kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 5
	r.Groups = []string{group}
	return c.DescribeGroups(testharness.Context(t, testTimeout), r).Groups[0]
}

// assignmentFor is a recognisable consumer assignment for a member.
func assignmentFor(topic string, partitions ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: partitions}}
	return a.AppendTo(nil)
}

func commitReq(m *tm, offsets map[string]map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 9
	r.Group = m.group
	r.MemberID = m.id
	r.InstanceID = m.instance
	r.Generation = m.gen
	for topic, parts := range offsets {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for p, o := range parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = p
			rp.Offset = o
			rp.LeaderEpoch = 3
			rp.Metadata = kmsg.StringPtr("meta")
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// commitCodes returns the distinct error codes of a commit response.
func commitCodes(r *kmsg.OffsetCommitResponse) map[int16]int {
	out := make(map[int16]int)
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			out[p.ErrorCode]++
		}
	}
	return out
}

func mustCommit(t *testing.T, c *Coordinator, m *tm, offsets map[string]map[int32]int64) {
	t.Helper()
	r := c.OffsetCommit(testharness.Context(t, testTimeout), commitReq(m, offsets))
	for code := range commitCodes(r) {
		if code != 0 {
			t.Fatalf("commit: %v", kerr.ErrorForCode(code))
		}
	}
}

// fetch returns the committed offset of group/topic/partition via the v7
// single-group form (-1 when none).
func fetch(t *testing.T, c *Coordinator, group, topic string, partition int32) int64 {
	t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = group
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: topic, Partitions: []int32{partition}}}
	resp := c.OffsetFetch(testharness.Context(t, testTimeout), r)
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch partition: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, errName(got), errName(want))
	}
}
