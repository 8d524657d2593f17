package kafka

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tcpPair is both ends of a real loopback connection.
func tcpPair(t *testing.T) (client *net.TCPConn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	server = recv(t, accepted, "accept")
	if server == nil {
		t.Fatal("accept failed")
	}
	return c.(*net.TCPConn), server
}

// A connection handed to ServeConn is served like a listener's, with the
// peer recorded as Conn.Replica (nil on the listener's), and the connection
// limits that refuse clients do not refuse it.
func TestServeConnRecordsReplicaAndBypassesConnectionLimits(t *testing.T) {
	seen := make(chan *ReplicaPeer, 4)
	ts := startServer(t, ServerConfig{MaxConnections: 1, MaxConnectionsPerIP: 1},
		APIs{3: metadataHandlerRecording(seen)})

	client := dialRaw(t, ts.addr) // takes the one client slot
	client.send(metadataRequest(12), 1)
	client.read(metadataResponse(12))
	if p := recv(t, seen, "client request"); p != nil {
		t.Fatalf("listener connection has Replica %+v, want nil", *p)
	}

	cc, sc := tcpPair(t)
	served := make(chan error, 1)
	go func() { served <- ts.ServeConn(context.Background(), sc, ReplicaPeer{ID: 2, Incarnation: 9}) }()
	replica := &rawClient{t: t, nc: cc, br: bufio.NewReader(cc)}
	if err := cc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	replica.send(metadataRequest(12), 2)
	if corr := replica.read(metadataResponse(12)); corr != 2 {
		t.Fatalf("correlation id %d, want 2", corr)
	}
	if p := recv(t, seen, "replica request"); p == nil || *p != (ReplicaPeer{ID: 2, Incarnation: 9}) {
		t.Fatalf("cluster connection has Replica %v, want {2 9}", p)
	}

	// The limits still refuse a second client.
	refused := dialRaw(t, ts.addr)
	refused.expectClosed()

	_ = cc.Close()
	if err := recv(t, served, "ServeConn to return"); err != nil {
		t.Fatalf("ServeConn: %v", err)
	}
}

func metadataHandlerRecording(seen chan<- *ReplicaPeer) API {
	return API{Min: 0, Max: 12, Handle: func(_ context.Context, c *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
		seen <- c.Replica
		return req.ResponseKind(), nil, nil
	}}
}

// ServeConn after Shutdown refuses and closes the connection.
func TestServeConnAfterShutdownRefuses(t *testing.T) {
	s := NewServer(ServerConfig{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}, APIs{3: metadataAPI(nil)})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	cc, sc := tcpPair(t)
	if err := s.ServeConn(context.Background(), sc, ReplicaPeer{ID: 2}); err == nil {
		t.Fatal("ServeConn after Shutdown served")
	}
	c := &rawClient{t: t, nc: cc, br: bufio.NewReader(cc)}
	if err := cc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
}

// CloseAfterResponse writes the response, then closes the connection, from
// a handler and from a Pending alike.
func TestCloseAfterResponseAnswersThenCloses(t *testing.T) {
	for _, pending := range []bool{false, true} {
		ts := startServer(t, ServerConfig{}, APIs{3: {Min: 0, Max: 12, Handle: func(ctx context.Context, _ *Conn, req kmsg.Request) (kmsg.Response, Pending, error) {
			if pending {
				return nil, func(ctx context.Context) kmsg.Response {
					CloseAfterResponse(ctx)
					return req.ResponseKind()
				}, nil
			}
			CloseAfterResponse(ctx)
			return req.ResponseKind(), nil, nil
		}}})
		c := dialRaw(t, ts.addr)
		c.send(metadataRequest(12), 5)
		if corr := c.read(metadataResponse(12)); corr != 5 {
			t.Fatalf("pending=%v: correlation id %d, want 5", pending, corr)
		}
		c.expectClosed()
	}
}

// staticMeta is a Metadata of one fixed state.
type staticMeta struct{ st *state.State }

func (m staticMeta) State() *state.State { return m.st }
func (m staticMeta) LeaderID() uint64    { return 1 }

// followerFetch is a Fetch as broker replica of two partitions.
func followerFetch(replica int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = replica
	req.MaxWaitMillis = 500
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	for p := range int32(2) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = 100
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// The Fetch handler honours a replica id only on that broker's cluster
// connection at its current incarnation. Elsewhere every partition gets
// TOPIC_AUTHORIZATION_FAILED (Kafka's answer to a follower fetch without
// ClusterAction) before anything is read — this backend has no replicas,
// so reading would panic — with one log line however many arrive; a
// previous incarnation gets STALE_BROKER_EPOCH and its connection closes
// after the answer.
func TestFetchHonoursReplicaIDOnlyFromTheAuthenticatedBroker(t *testing.T) {
	st := state.New()
	st.Brokers[2] = &state.Broker{ID: 2, Incarnation: 7}
	rec := &logRecorder{}
	b := NewBackend(BackendConfig{NodeID: 1, Meta: staticMeta{st},
		Logger: slog.New(&recordingHandler{rec: rec, next: slog.NewTextHandler(t.Output(), nil)})})

	fetch := func(c *Conn, req *kmsg.FetchRequest) (*kmsg.FetchResponse, *inflight) {
		t.Helper()
		it := &inflight{}
		ctx := context.WithValue(context.Background(), inflightKey{}, it)
		resp, pending, err := b.handleFetch(ctx, c, req)
		if err != nil || pending != nil {
			t.Fatalf("handleFetch: pending %v, err %v; want an immediate answer", pending != nil, err)
		}
		return resp.(*kmsg.FetchResponse), it
	}
	wantUnauthorized := func(what string, resp *kmsg.FetchResponse) {
		t.Helper()
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			t.Fatalf("%s: %+v", what, resp)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != kerr.TopicAuthorizationFailed.Code || p.HighWatermark != -1 || len(p.RecordBatches) != 0 || p.RecordBatches == nil {
				t.Fatalf("%s: partition %d: error %d, hw %d, %d record bytes (nil %v); want TOPIC_AUTHORIZATION_FAILED, -1, empty",
					what, p.Partition, p.ErrorCode, p.HighWatermark, len(p.RecordBatches), p.RecordBatches == nil)
			}
		}
	}

	listener := &Conn{Remote: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4000}, ClientID: "forger"}
	for range 3 {
		resp, it := fetch(listener, followerFetch(2))
		wantUnauthorized("replica id on a listener connection", resp)
		if it.closeAfter.Load() {
			t.Fatal("a refused forged fetch closes the connection; want it answered and kept")
		}
	}
	n := 0
	rec.mu.Lock()
	for _, r := range rec.recs {
		if r.Level == slog.LevelWarn && r.Message == "kafka fetch claiming a replica id refused: not on that broker's authenticated cluster connection" {
			n++
		}
	}
	rec.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d log lines for 3 forged fetches within a second, want 1 (rate-limited)", n)
	}

	other := &Conn{Replica: &ReplicaPeer{ID: 3, Incarnation: 1}}
	resp, _ := fetch(other, followerFetch(2))
	wantUnauthorized("broker 3 claiming broker 2's id", resp)

	stale := &Conn{Replica: &ReplicaPeer{ID: 2, Incarnation: 6}}
	resp, it := fetch(stale, followerFetch(2))
	if resp.ErrorCode != kerr.StaleBrokerEpoch.Code || len(resp.Topics) != 0 {
		t.Fatalf("previous incarnation: error %d, %d topics; want STALE_BROKER_EPOCH and nothing else", resp.ErrorCode, len(resp.Topics))
	}
	if !it.closeAfter.Load() {
		t.Fatal("previous incarnation's connection is kept open; want it closed after the answer")
	}

	delete(st.Brokers, 2)
	current := &Conn{Replica: &ReplicaPeer{ID: 2, Incarnation: 7}}
	if resp, _ := fetch(current, followerFetch(2)); resp.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("unregistered broker: error %d, want STALE_BROKER_EPOCH", resp.ErrorCode)
	}

	// The authenticated broker at its current incarnation passes the check
	// (what follows is the ordinary follower fetch, tested elsewhere).
	st.Brokers[2] = &state.Broker{ID: 2, Incarnation: 7}
	if refused := b.checkReplicaFetch(context.Background(), current, followerFetch(2)); refused != nil {
		t.Fatalf("current incarnation refused: %+v", refused)
	}
	// A consumer fetch (no replica id) is never this check's business.
	if refused := b.checkReplicaFetch(context.Background(), listener, followerFetch(-1)); refused != nil {
		t.Fatalf("consumer fetch refused: %+v", refused)
	}
}
