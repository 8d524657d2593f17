package replication

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeReplica is a follower or leader replica without a log: appends move
// its log end by the number of bytes appended.
type fakeReplica struct {
	mu                 sync.Mutex
	leader             bool
	epoch, lastEpoch   int32
	leo, committed, hw int64
	appended           [][]byte
	truncatedTo        int64 // -1: never
	startedAt          int64 // -1: never
	diverged           [2]int64
	appendErr          error
	// events, when set, records each copy and settle ("copy"/"settle"
	// and name), shared by replicas to show their order.
	events *eventLog
	name   string

	// ISRChange answer.
	role     replica.Role
	isr      []int32
	change   bool
	eligible []int32 // the ids 1..5 it was told are eligible
}

func newFakeReplica() *fakeReplica {
	return &fakeReplica{truncatedTo: -1, startedAt: -1, lastEpoch: -1, diverged: [2]int64{-1, -1}}
}

func (r *fakeReplica) IsLeader() bool          { r.mu.Lock(); defer r.mu.Unlock(); return r.leader }
func (r *fakeReplica) LeaderEpoch() int32      { r.mu.Lock(); defer r.mu.Unlock(); return r.epoch }
func (r *fakeReplica) LogEndOffset() int64     { r.mu.Lock(); defer r.mu.Unlock(); return r.leo }
func (r *fakeReplica) CommittedEnd() int64     { r.mu.Lock(); defer r.mu.Unlock(); return r.committed }
func (r *fakeReplica) LastFetchedEpoch() int32 { r.mu.Lock(); defer r.mu.Unlock(); return r.lastEpoch }

func (r *fakeReplica) CopyFromLeader(batches []byte) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.appendErr != nil {
		return 0, r.appendErr
	}
	if len(batches) == 0 {
		return 0, nil
	}
	if r.events != nil {
		r.events.add("copy " + r.name)
	}
	r.appended = append(r.appended, batches)
	r.leo += int64(len(batches))
	return r.leo, nil
}

func (r *fakeReplica) SettleFromLeader(_ context.Context, end, leaderHW int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events != nil && end > 0 {
		r.events.add("settle " + r.name)
	}
	r.committed = max(r.committed, min(end, r.leo))
	r.hw = max(r.hw, min(leaderHW, r.committed))
	return nil
}

func (r *fakeReplica) Truncate(offset int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.truncatedTo, r.leo, r.committed = offset, offset, offset
	return nil
}

func (r *fakeReplica) TruncateDiverged(epoch int32, end int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.diverged = [2]int64{int64(epoch), end}
	if end >= 0 && end < r.leo {
		r.leo, r.committed = end, end
	}
	return nil
}

func (r *fakeReplica) StartAt(offset int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startedAt, r.leo, r.committed = offset, offset, offset
	return nil
}

func (r *fakeReplica) ISRChange(eligible func(id int32) bool) (replica.Role, []int32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eligible = nil
	for id := int32(1); id <= 5; id++ {
		if eligible(id) {
			r.eligible = append(r.eligible, id)
		}
	}
	return r.role, r.isr, r.change
}

// eventLog is a list of events several fakes append to.
type eventLog struct {
	mu   sync.Mutex
	list []string
}

func (l *eventLog) add(e string) { l.mu.Lock(); defer l.mu.Unlock(); l.list = append(l.list, e) }

func (l *eventLog) get() []string { l.mu.Lock(); defer l.mu.Unlock(); return slices.Clone(l.list) }

// fakeReplicas is a fixed set of local replicas.
type fakeReplicas struct {
	order []TopicPartition
	by    map[TopicPartition]*fakeReplica
}

func (f *fakeReplicas) add(topic string, partition int32, r *fakeReplica) {
	if f.by == nil {
		f.by = map[TopicPartition]*fakeReplica{}
	}
	tp := TopicPartition{topic, partition}
	f.order = append(f.order, tp)
	f.by[tp] = r
}

func (f *fakeReplicas) Follower(tp TopicPartition) FollowerReplica {
	if r := f.by[tp]; r != nil {
		return r
	}
	return nil
}

func (f *fakeReplicas) All() []Hosted {
	var out []Hosted
	for _, tp := range f.order {
		out = append(out, Hosted{tp, f.by[tp]})
	}
	return out
}

// fakeMetadata is applied metadata with fixed brokers and controller.
type fakeMetadata struct {
	st     *state.State
	leader uint64
}

func (m *fakeMetadata) State() *state.State { return m.st }
func (m *fakeMetadata) LeaderID() uint64    { return m.leader }

// fakeController records what it is asked and answers with err.
type fakeController struct {
	mu       sync.Mutex
	err      error
	alters   []state.AlterPartition
	shutdown []int32
	deadline time.Duration // of the last call's context, from when it was called
}

func (c *fakeController) AlterPartition(ctx context.Context, a state.AlterPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alters = append(c.alters, a)
	c.noteDeadline(ctx)
	return c.err
}

func (c *fakeController) ShutdownBroker(ctx context.Context, id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shutdown = append(c.shutdown, id)
	c.noteDeadline(ctx)
	return c.err
}

func (c *fakeController) noteDeadline(ctx context.Context) {
	c.deadline = 0
	if d, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(d)
	}
}

// fakeLeader is a Kafka listener that answers ApiVersions and Fetch, enough
// for a follower fetch loop. Each fetch is handed to answer.
type fakeLeader struct {
	ln     net.Listener
	answer func(*kmsg.FetchRequest) *kmsg.FetchResponse
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startFakeLeader(t *testing.T, answer func(*kmsg.FetchRequest) *kmsg.FetchResponse) *fakeLeader {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &fakeLeader{ln: ln, answer: answer}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.conns = append(l.conns, c)
			l.mu.Unlock()
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.serve(c)
			}()
		}
	}()
	t.Cleanup(l.close)
	return l
}

func (l *fakeLeader) addr() string { return l.ln.Addr().String() }

func (l *fakeLeader) close() {
	l.ln.Close()
	l.mu.Lock()
	for _, c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// serve answers requests on one connection in order, until it closes.
func (l *fakeLeader) serve(c net.Conn) {
	defer c.Close()
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		key := int16(binary.BigEndian.Uint16(buf))
		version := int16(binary.BigEndian.Uint16(buf[2:]))
		corr := binary.BigEndian.Uint32(buf[4:])
		off := 10 + max(0, int(int16(binary.BigEndian.Uint16(buf[8:])))) // after the client id
		req := kmsg.RequestForKey(key)
		if req == nil {
			return
		}
		req.SetVersion(version)
		if req.IsFlexible() {
			off = skipTags(buf, off)
		}
		if err := req.ReadFrom(buf[off:]); err != nil {
			return
		}
		var resp kmsg.Response
		switch r := req.(type) {
		case *kmsg.ApiVersionsRequest:
			av := kmsg.NewPtrApiVersionsResponse()
			k := kmsg.NewApiVersionsResponseApiKey()
			k.ApiKey, k.MinVersion, k.MaxVersion = 1, 4, 12
			av.ApiKeys = append(av.ApiKeys, k)
			resp = av
		case *kmsg.FetchRequest:
			resp = l.answer(r)
		default:
			return
		}
		resp.SetVersion(version)
		out := binary.BigEndian.AppendUint32(make([]byte, 4), corr)
		if resp.IsFlexible() && key != 18 { // ApiVersions answers with header v0
			out = append(out, 0)
		}
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// skipTags skips a tagged-field section at off.
func skipTags(b []byte, off int) int {
	n, w := binary.Uvarint(b[off:])
	off += w
	for range n {
		_, w = binary.Uvarint(b[off:]) // tag
		off += w
		size, w := binary.Uvarint(b[off:])
		off += w + int(size)
	}
	return off
}
