package group

// A compatibility check with real franz-go clients: a minimal Kafka wire
// server on 127.0.0.1 routes the group APIs to a Coordinator and fakes just
// enough of the rest (one broker, one topic with three empty partitions) for
// kgo group consumers and kadm to run against it.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	wireTopic      = "t"
	wirePartitions = 3
)

// wireMaxVersions are the versions the test server offers: the group APIs
// at what the coordinator serves, the rest low enough to avoid topic ids.
var wireMaxVersions = map[int16]int16{
	1: 11, 2: 7, 3: 9, 8: 9, 9: 9, 10: 4, 11: 9, 12: 4, 13: 5, 14: 5, 15: 5, 16: 4, 18: 3, 42: 2, 47: 0,
}

type wireServer struct {
	c      *Coordinator
	ln     net.Listener
	host   string
	port   int32
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func startWire(t *testing.T, c *Coordinator) *wireServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	ctx, cancel := context.WithCancel(context.Background())
	s := &wireServer{c: c, ln: ln, host: host, port: int32(p), ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *wireServer) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(int(s.port))) }

func (s *wireServer) close() {
	s.cancel()
	_ = s.ln.Close()
	s.mu.Lock()
	for conn := range s.conns {
		_ = conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *wireServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[conn] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(conn)
	}
}

// serve reads requests, handles each on its own goroutine (joins block) and
// writes responses in request order.
func (s *wireServer) serve(conn net.Conn) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	order := make(chan chan []byte, 64)
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		for ch := range order {
			select {
			case b := <-ch:
				if _, err := conn.Write(b); err != nil {
					cancel()
				}
			case <-ctx.Done():
			}
		}
	}()
	defer func() {
		cancel()
		close(order)
		writer.Wait()
		_ = conn.Close()
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()

	r := bufio.NewReader(conn)
	var handlers sync.WaitGroup
	defer handlers.Wait()
	for {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		key := int16(binary.BigEndian.Uint16(buf))
		version := int16(binary.BigEndian.Uint16(buf[2:]))
		corr := binary.BigEndian.Uint32(buf[4:])
		n := int16(binary.BigEndian.Uint16(buf[8:]))
		body := buf[10:]
		clientID := ""
		if n > 0 {
			clientID = string(body[:n])
			body = body[n:]
		}
		req := kmsg.RequestForKey(key)
		if req == nil {
			return
		}
		req.SetVersion(version)
		if req.IsFlexible() {
			body = skipTags(body)
		}
		if err := req.ReadFrom(body); err != nil {
			return
		}
		ch := make(chan []byte, 1)
		order <- ch
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			resp := s.handle(WithClient(ctx, clientID, conn.RemoteAddr().String()), req)
			out := binary.BigEndian.AppendUint32(make([]byte, 4, 64), corr)
			if resp.IsFlexible() && key != 18 {
				out = append(out, 0) // empty tagged fields of response header v1
			}
			out = resp.AppendTo(out)
			binary.BigEndian.PutUint32(out, uint32(len(out)-4))
			ch <- out
		}()
	}
}

// skipTags drops the request header's tagged fields.
func skipTags(b []byte) []byte {
	n, l := binary.Uvarint(b)
	b = b[l:]
	for range n {
		_, l = binary.Uvarint(b)
		b = b[l:]
		size, l := binary.Uvarint(b)
		b = b[l+int(size):]
	}
	return b
}

func (s *wireServer) handle(ctx context.Context, kreq kmsg.Request) kmsg.Response {
	switch req := kreq.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		if req.Version > 3 {
			resp.Version = 0
			resp.ErrorCode = kerr.UnsupportedVersion.Code
		}
		keys := make([]int16, 0, len(wireMaxVersions))
		for k := range wireMaxVersions {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: wireMaxVersions[k]})
		}
		return resp
	case *kmsg.MetadataRequest:
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: s.host, Port: s.port}}
		resp.ControllerID = 0
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(wireTopic)
		for p := range int32(wirePartitions) {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition = p
			mp.Replicas, mp.ISR = []int32{0}, []int32{0}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
		return resp
	case *kmsg.FindCoordinatorRequest:
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.Host, resp.Port = s.host, s.port
		for _, k := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, kmsg.FindCoordinatorResponseCoordinator{Key: k, Host: s.host, Port: s.port})
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition = p.Partition
				rp.Offset = 0
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.FetchRequest:
		// Nothing is ever produced: long-poll, then answer empty.
		select {
		case <-time.After(time.Duration(req.MaxWaitMillis) * time.Millisecond):
		case <-ctx.Done():
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.JoinGroupRequest:
		return s.c.JoinGroup(ctx, req)
	case *kmsg.SyncGroupRequest:
		return s.c.SyncGroup(ctx, req)
	case *kmsg.HeartbeatRequest:
		return s.c.Heartbeat(ctx, req)
	case *kmsg.LeaveGroupRequest:
		return s.c.LeaveGroup(ctx, req)
	case *kmsg.OffsetCommitRequest:
		return s.c.OffsetCommit(ctx, req)
	case *kmsg.OffsetFetchRequest:
		return s.c.OffsetFetch(ctx, req)
	case *kmsg.ListGroupsRequest:
		return s.c.ListGroups(ctx, req)
	case *kmsg.DescribeGroupsRequest:
		return s.c.DescribeGroups(ctx, req)
	case *kmsg.DeleteGroupsRequest:
		return s.c.DeleteGroups(ctx, req)
	case *kmsg.OffsetDeleteRequest:
		return s.c.OffsetDelete(ctx, req)
	}
	panic(fmt.Sprintf("test server got unexpected request key %d", kreq.Key()))
}

// owned tracks the partitions each consumer holds, from its callbacks.
type owned struct {
	mu    sync.Mutex
	parts map[int]map[int32]bool
}

func (o *owned) hooks(i int) []kgo.Opt {
	set := func(ps map[string][]int32, v bool) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.parts[i] == nil {
			o.parts[i] = make(map[int32]bool)
		}
		for _, p := range ps[wireTopic] {
			if v {
				o.parts[i][p] = true
			} else {
				delete(o.parts[i], p)
			}
		}
	}
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { set(ps, true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { set(ps, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { set(ps, false) }),
	}
}

// counts returns how many partitions each of the given consumers owns and
// whether together they own each partition exactly once.
func (o *owned) counts(members ...int) ([]int, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := make(map[int32]int)
	var out []int
	for _, i := range members {
		out = append(out, len(o.parts[i]))
		for p := range o.parts[i] {
			seen[p]++
		}
	}
	if len(seen) != wirePartitions {
		return out, false
	}
	for _, n := range seen {
		if n != 1 {
			return out, false
		}
	}
	return out, true
}

func TestFranzGoConsumerGroup(t *testing.T) {
	c := newLoaded(t, newMemLog(), testConfig(t))
	s := startWire(t, c)
	o := &owned{parts: make(map[int]map[int32]bool)}

	newConsumer := func(i int) *kgo.Client {
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(s.addr()),
			kgo.ConsumerGroup("grp"),
			kgo.ConsumeTopics(wireTopic),
			kgo.HeartbeatInterval(50 * time.Millisecond),
			kgo.FetchMaxWait(200 * time.Millisecond),
			kgo.DisableAutoCommit(),
			kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		}, o.hooks(i)...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	// Consumers run their group management only while polled.
	var pollers sync.WaitGroup
	poll := func(cl *kgo.Client) {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			for {
				fs := cl.PollFetches(context.Background())
				if fs.IsClientClosed() {
					return
				}
			}
		}()
	}
	clients := make([]*kgo.Client, 3)
	closed := make([]bool, 3)
	defer func() {
		for i, cl := range clients {
			if cl != nil && !closed[i] {
				cl.Close()
			}
		}
		pollers.Wait()
	}()
	for i := range clients {
		clients[i] = newConsumer(i)
		poll(clients[i])
	}

	waitFor(t, "three consumers to share the partitions", func() bool {
		n, ok := o.counts(0, 1, 2)
		return ok && slices.Equal(n, []int{1, 1, 1})
	})
	adm := kadm.NewClient(clients[0])
	ctx := ctxT(t)
	described, err := adm.DescribeGroups(ctx, "grp")
	if err != nil {
		t.Fatal(err)
	}
	if g := described["grp"]; g.State != "Stable" || len(g.Members) != 3 || g.ProtocolType != "consumer" {
		t.Fatalf("describe: state %s, %d members, err %v", g.State, len(g.Members), g.Err)
	}

	// One consumer leaves: the other two take over its partition.
	clients[2].Close()
	closed[2] = true
	waitFor(t, "two consumers to share the partitions", func() bool {
		_, ok := o.counts(0, 1)
		return ok
	})

	// Offsets through kadm: a simple commit outside the group, fetch,
	// list, and deletion refused while members remain.
	offs := kadm.Offsets{}
	offs.AddOffset(wireTopic, 0, 17, -1)
	if _, err := adm.CommitOffsets(ctx, "tool", offs); err != nil {
		t.Fatal(err)
	}
	fetched, err := adm.FetchOffsets(ctx, "tool")
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := fetched.Lookup(wireTopic, 0); !ok || r.At != 17 {
		t.Fatalf("fetched %+v", r)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := listed["grp"]; !ok || g.State != "Stable" && g.State != "PreparingRebalance" && g.State != "CompletingRebalance" {
		t.Fatalf("listed %+v", listed)
	}
	dr, err := adm.DeleteGroups(ctx, "grp", "tool")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dr["grp"].Err, kerr.NonEmptyGroup) || dr["tool"].Err != nil {
		t.Fatalf("delete: grp %v, tool %v", dr["grp"].Err, dr["tool"].Err)
	}
}
