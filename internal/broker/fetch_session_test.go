package broker_test

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// metricValue scrapes node n's /metrics for an unlabelled series.
func metricValue(t *testing.T, n *broker.Node, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	n.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

// A full fetch with epoch 0 opens a session; incremental fetches name no
// partitions and are answered with those that changed only.
func TestFetchSessionProtocol(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	cl := inproc.NodeClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	createTopic(t, inproc.NodeAdmin(t, n), "s", 3, nil)
	ctx := testharness.Context(t, 30*time.Second)

	fetch := func(id, epoch int32, parts ...int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version = 12
		req.ReplicaID = -1
		req.MaxBytes = 1 << 20
		req.SessionID, req.SessionEpoch = id, epoch
		if len(parts) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "s"
			for _, p := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.PartitionMaxBytes = p, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl.Broker(1))
		if err != nil {
			t.Fatalf("fetch (%d, %d): %v", id, epoch, err)
		}
		return resp
	}
	listed := func(resp *kmsg.FetchResponse) string {
		s := ""
		for _, st := range resp.Topics {
			for _, sp := range st.Partitions {
				s += fmt.Sprintf("%s%d:%d:%d ", st.Topic, sp.Partition, sp.ErrorCode, len(sp.RecordBatches))
			}
		}
		return s
	}

	resp := fetch(0, 0, 0, 1, 2)
	id := resp.SessionID
	if resp.ErrorCode != 0 || id == 0 || listed(resp) != "s0:0:0 s1:0:0 s2:0:0 " {
		t.Fatalf("full fetch: error %d, session %d, partitions %q; want a session and all three", resp.ErrorCode, id, listed(resp))
	}
	if resp := fetch(id, 1); resp.ErrorCode != 0 || resp.SessionID != id || len(resp.Topics) != 0 {
		t.Fatalf("idle incremental fetch: error %d, session %d, partitions %q; want nothing listed", resp.ErrorCode, resp.SessionID, listed(resp))
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "s", Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if resp := fetch(id, 2); resp.ErrorCode != 0 || listed(resp) == "" || !strings.HasPrefix(listed(resp), "s1:0:") || strings.Contains(listed(resp), "s0") {
		t.Fatalf("incremental fetch after a produce to s1 lists %q (error %d); want only s1 with its record", listed(resp), resp.ErrorCode)
	}
	if resp := fetch(id, 2); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("replayed epoch: error %d, want INVALID_FETCH_SESSION_EPOCH", resp.ErrorCode)
	}
	if resp := fetch(id+1, 1); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
	if got := metricValue(t, n, "chronik_fetch_sessions_open"); got < 1 {
		t.Fatalf("chronik_fetch_sessions_open = %v, want >= 1", got)
	}
	fetch(id, -1) // closes it
	if resp := fetch(id, 3); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
}

// A franz-go consumer (which uses sessions when offered) reads many
// partitions exactly once each across a leader change and the deletion of
// one of its topics.
func TestFetchSessionConsumerAcrossLeaderChanges(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	adm := inproc.Admin(t, c.KafkaAddrs())
	ctx := testharness.Context(t, 120*time.Second)
	const parts, perRound = 24, 10
	for topic, n := range map[string]int32{"many": parts, "gone": 4} {
		resp, err := adm.CreateTopic(ctx, n, 3, nil, topic)
		if err != nil || resp.Err != nil {
			t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
		}
		c.WaitTopic(topic, int(n))
	}
	prod := inproc.Client(t, c.KafkaAddrs(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(topic string, n int32, round int) {
		t.Helper()
		var recs []*kgo.Record
		for p := range n {
			for i := range perRound {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d-%d", p, round, i)})
			}
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce round %d to %s: %v", round, topic, err)
		}
	}
	produce("many", parts, 0)
	produce("gone", 4, 0)

	cons := inproc.Client(t, c.KafkaAddrs(), kgo.ConsumeTopics("many", "gone"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	next := map[string]map[int32]int64{"many": {}, "gone": {}}
	consume := func(topic string, want int64) {
		t.Helper()
		done := func() bool {
			for p := range int32(len(next[topic])) {
				if next[topic][p] < want {
					return false
				}
			}
			return len(next[topic]) > 0
		}
		for !done() {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consuming %s: %v (positions %v)", topic, ctx.Err(), next[topic])
			}
			fs.EachError(func(tp string, p int32, err error) {
				if tp == "many" && !kerr.IsRetriable(err) {
					t.Fatalf("fetch %s[%d]: %v", tp, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != next[r.Topic][r.Partition] {
					t.Fatalf("%s[%d]: got offset %d, want %d (a record lost or repeated)", r.Topic, r.Partition, r.Offset, next[r.Topic][r.Partition])
				}
				next[r.Topic][r.Partition]++
			})
		}
	}
	for p := range int32(parts) {
		next["many"][p] = 0
	}
	next["gone"] = map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}
	consume("gone", perRound)
	consume("many", perRound)
	// Every leader holds a session of each of its two followers and one of
	// the consumer.
	leaders := map[int32]bool{}
	for _, mt := range c.MetadataOf(0, "many", "gone").Topics {
		for _, mp := range mt.Partitions {
			leaders[mp.Leader] = true
		}
	}
	open := 0.0
	testharness.Eventually(t, 10*time.Second, "a fetch session of each follower and the consumer on every leader", func() bool {
		open = 0
		for _, n := range c.Nodes {
			open += metricValue(t, n, "chronik_fetch_sessions_open")
		}
		return open >= float64(3*len(leaders))
	}, func() string { return fmt.Sprintf("%v sessions open, %d leaders", open, len(leaders)) })

	if _, err := adm.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatalf("delete topic gone: %v", err)
	}
	c.Stop(2) // its partitions change leader
	produce("many", parts, 1)
	consume("many", 2*perRound)
}

// A session belongs to the principal that opened it, and READ on its topics
// is checked at every fetch: removing the ACL refuses the next incremental
// fetch's partition although the request names none.
func TestFetchSessionAuthorization(t *testing.T) {
	an := startACLNode(t, nil)
	if err := aclCreateTopic(t, an.admin(t, "admin"), "orders"); err != nil {
		t.Fatalf("create orders: %v", err)
	}
	readOrders := kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpRead)
	an.createACLs(t, readOrders)
	alice, bob := an.client(t, "alice"), an.client(t, "bob")

	fetch := func(cl *kgo.Client, id, epoch int32, name bool) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.SessionID, req.SessionEpoch = id, epoch
		if name {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "orders"
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		return direct[*kmsg.FetchResponse](t, cl, req)
	}
	resp := fetch(alice, 0, 0, true)
	id := resp.SessionID
	if id == 0 || resp.ErrorCode != 0 || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("alice's full fetch: session %d, error %d, topics %v", id, resp.ErrorCode, resp.Topics)
	}
	if resp := fetch(bob, id, 1, false); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("bob naming alice's session: error %d, want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
	fetch(bob, id, -1, false) // must not close it
	if resp := fetch(alice, id, 1, false); resp.ErrorCode != 0 || resp.SessionID != id {
		t.Fatalf("alice's incremental fetch after bob's attempts: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}

	res, err := an.admin(t, "admin").DeleteACLs(aclCtx(t),
		kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("delete alice's READ ACL: %v %v", err, res)
	}
	epoch := int32(2)
	testharness.Eventually(t, 10*time.Second, "alice's session fetch refused once her READ ACL is gone", func() bool {
		resp := fetch(alice, id, epoch, false)
		epoch++
		if resp.ErrorCode != 0 {
			t.Fatalf("incremental fetch: error %d", resp.ErrorCode)
		}
		return len(resp.Topics) == 1 && resp.Topics[0].Partitions[0].ErrorCode == kerr.TopicAuthorizationFailed.Code
	})
}
