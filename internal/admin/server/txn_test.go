package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/txn"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// The adapter turns a replica's transactions into the API's: the LSO, and
// each open transaction with its age on the node's clock.
func TestPartitionTxnsAdapter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var p api.PartitionInfo
	partitionTxns(&p, broker.PartitionTxns{LastStableOffset: 40, Ongoing: []replica.OngoingTxn{
		{ProducerID: 7, ProducerEpoch: 1, FirstOffset: 40, LastOffset: 44, Started: now.Add(-90 * time.Second)},
		{ProducerID: 9, ProducerEpoch: 0, FirstOffset: 50, LastOffset: 50}, // start unknown
		{ProducerID: 11, ProducerEpoch: 3, FirstOffset: 52, LastOffset: 60, Started: now.Add(time.Second)},
	}}, now)
	want := []api.OngoingTransaction{
		{ProducerID: 7, ProducerEpoch: 1, FirstOffset: 40, LastOffset: 44, AgeSeconds: 90},
		{ProducerID: 9, ProducerEpoch: 0, FirstOffset: 50, LastOffset: 50, AgeSeconds: 0},
		{ProducerID: 11, ProducerEpoch: 3, FirstOffset: 52, LastOffset: 60, AgeSeconds: 0}, // a clock step back is no negative age
	}
	if p.LastStableOffset == nil || *p.LastStableOffset != 40 || !reflect.DeepEqual(p.OngoingTransactions, want) {
		t.Fatalf("got lso %v, %+v", p.LastStableOffset, p.OngoingTransactions)
	}
	var none api.PartitionInfo
	partitionTxns(&none, broker.PartitionTxns{LastStableOffset: 12}, now)
	if none.LastStableOffset == nil || *none.LastStableOffset != 12 || none.OngoingTransactions != nil {
		t.Fatalf("no transactions: %+v", none)
	}
}

// The node's coordinator summary: ids by state, the open ones oldest first
// and at most api.MaxListedOpenTxns of them, completed ones not aging.
func TestTxnNodeInfoAdapter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	list := []txn.TxnSummary{
		{TransactionalID: "a", ProducerID: 1, State: txn.StateOngoing, StartTime: now.Add(-10 * time.Second), Partitions: 2},
		{TransactionalID: "b", ProducerID: 2, ProducerEpoch: 4, State: txn.StatePrepareCommit, StartTime: now.Add(-time.Minute), Partitions: 1},
		{TransactionalID: "c", ProducerID: 3, State: txn.StateCompleteCommit, StartTime: now.Add(-time.Hour)},
		{TransactionalID: "d", ProducerID: 4, State: txn.StateEmpty},
	}
	for i := range api.MaxListedOpenTxns {
		list = append(list, txn.TxnSummary{TransactionalID: fmt.Sprintf("x%d", i), ProducerID: int64(100 + i), State: txn.StateOngoing, StartTime: now})
	}
	got := txnNodeInfo(2*time.Minute, list, now)
	c := got.Coordinator
	if got.MaxTimeoutSeconds != 120 || c.TransactionalIDs != 4+api.MaxListedOpenTxns || c.OpenTotal != 2+api.MaxListedOpenTxns ||
		len(c.Open) != api.MaxListedOpenTxns || !reflect.DeepEqual(c.ByState, map[string]int{"Ongoing": 1 + api.MaxListedOpenTxns, "PrepareCommit": 1, "CompleteCommit": 1, "Empty": 1}) {
		t.Fatalf("coordinator info %+v", got)
	}
	if want := (api.CoordinatedTxn{TransactionalID: "b", ProducerID: 2, ProducerEpoch: 4, State: "PrepareCommit", OpenSeconds: 60, Partitions: 1}); c.Open[0] != want ||
		c.Open[1].TransactionalID != "a" || c.Open[1].OpenSeconds != 10 {
		t.Fatalf("oldest open %+v", c.Open[:2])
	}
	if none := txnNodeInfo(time.Minute, nil, now); none.Coordinator.TransactionalIDs != 0 || none.Coordinator.Open == nil || none.Coordinator.ByState == nil {
		t.Fatalf("nothing coordinated: %+v", none.Coordinator)
	}
}

// POST /v1/transactions/abort on a real two-node cluster: the token is
// required, lying or malformed requests are refused, a node that does not
// lead the partition refuses naming the leader, and the leader writes the
// marker with the replica's fencing (older producer or coordinator epoch).
func TestAbortTransactionEndpoint(t *testing.T) {
	c := inproc.NewCluster(t, 2, func(cfg *broker.Config) { cfg.TransactionMaxTimeout = 2 * time.Minute })
	c.StartAll()
	srvs := map[int32]*httptest.Server{}
	for _, n := range c.Nodes {
		srv := httptest.NewServer(HandlerFor(nil, "secret")(n))
		t.Cleanup(srv.Close)
		srvs[n.NodeID()] = srv
	}
	ctx := t.Context()
	adm := kadm.NewClient(c.Client(0))
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "pay"); err != nil {
		t.Fatal(err)
	}
	c.WaitTopic("pay", 4)
	// A partition each node leads.
	led := map[int32]int32{}
	testharness.Eventually(t, 10*time.Second, "a partition led by each node", func() bool {
		for _, p := range c.MetadataOf(0, "pay").Topics[0].Partitions {
			if _, ok := led[p.Leader]; !ok && p.Leader > 0 {
				led[p.Leader] = p.Partition
			}
		}
		return len(led) == 2
	})
	leaderP := led[1]
	httpc := admintest.NewHTTPClient(t)
	one := client.New(srvs[1].URL, httpc)
	testharness.Eventually(t, 10*time.Second, "node 1's replica of the partition leads", func() bool {
		parts, err := one.Partitions(ctx, "pay")
		if err != nil {
			return false
		}
		for _, p := range parts.Data.Partitions {
			if p.Partition == leaderP && p.Role == api.ReplicaLeader && p.Running {
				return true
			}
		}
		return false
	})
	i64, i16, i32 := func(v int64) *int64 { return &v }, func(v int16) *int16 { return &v }, func(v int32) *int32 { return &v }
	explicit := func(p int32, pid int64, epoch int16, ce int32) api.AbortTransactionRequest {
		return api.AbortTransactionRequest{Topic: "pay", Partition: p, ProducerID: i64(pid), ProducerEpoch: i16(epoch), CoordinatorEpoch: i32(ce)}
	}

	// The node reports its --transaction-max-timeout for the doctor.
	if node, err := one.Node(ctx); err != nil || node.Data.Transactions == nil || node.Data.Transactions.MaxTimeoutSeconds != 120 ||
		node.Data.Transactions.Coordinator == nil {
		t.Fatalf("node info %+v: %v", node.Data.Transactions, err)
	}

	var re *client.RequestError
	if _, err := one.AbortTransaction(ctx, explicit(leaderP, 77, 3, 5)); !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
		t.Fatalf("without the token: %v", err)
	}
	one = one.WithToken("secret")
	for _, tc := range []struct {
		name   string
		req    api.AbortTransactionRequest
		status int
		code   string
		says   string
	}{
		{"no topic", api.AbortTransactionRequest{Partition: 0, StartOffset: i64(0)}, 400, api.CodeBadRequest, "topic is required"},
		{"neither form", api.AbortTransactionRequest{Topic: "pay", Partition: leaderP}, 400, api.CodeBadRequest, "give start_offset"},
		{"both forms", api.AbortTransactionRequest{Topic: "pay", Partition: leaderP, StartOffset: i64(0), ProducerID: i64(1)}, 400, api.CodeBadRequest, "not both"},
		{"half the producer", api.AbortTransactionRequest{Topic: "pay", Partition: leaderP, ProducerID: i64(1)}, 400, api.CodeBadRequest, "all of"},
		{"negative producer id", explicit(leaderP, -1, 0, 0), 400, api.CodeBadRequest, "producer_id"},
		{"negative epoch", explicit(leaderP, 5, -2, 0), 400, api.CodeBadRequest, "producer_epoch"},
		{"unknown topic", api.AbortTransactionRequest{Topic: "nope", Partition: 0, StartOffset: i64(0)}, 404, api.CodeNotFound, "unknown topic"},
		{"unknown partition", api.AbortTransactionRequest{Topic: "pay", Partition: 9, StartOffset: i64(0)}, 404, api.CodeNotFound, "unknown topic"},
		{"not the leader", explicit(led[2], 77, 3, 5), 409, api.CodeNotLeader, "its leader is node 2"},
		{"no transaction at that offset", api.AbortTransactionRequest{Topic: "pay", Partition: leaderP, StartOffset: i64(0)}, 404, api.CodeNotFound, "no transaction open from offset 0"},
	} {
		_, err := one.AbortTransaction(ctx, tc.req)
		if !errors.As(err, &re) || re.Status != tc.status || re.Code != tc.code || !strings.Contains(re.Message, tc.says) {
			t.Errorf("%s: %v, want %d %s saying %q", tc.name, err, tc.status, tc.code, tc.says)
		}
	}
	for _, body := range []string{`{"topic":"pay","partition":0,"start_offset":0,"surprise":1}`, `{"topic":"pay","partition":"0"}`} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srvs[1].URL+"/v1/transactions/abort", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %s: %d, want 400", body, resp.StatusCode)
		}
	}
	status, _, _ := do(t, httpc, http.MethodGet, srvs[1].URL+"/v1/transactions/abort")
	if status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", status)
	}

	// The leader writes the marker; it records the producer's epochs, so a
	// marker with an older producer or coordinator epoch is fenced.
	env, err := one.AbortTransaction(ctx, explicit(leaderP, 77, 3, 5))
	if err != nil {
		t.Fatal(err)
	}
	if r := env.Data; env.NodeID != 1 || r.ProducerID != 77 || r.ProducerEpoch != 3 || r.CoordinatorEpoch != 5 || r.LastStableOffset != 1 {
		t.Fatalf("abort answered %+v", env)
	}
	for _, tc := range []struct {
		req  api.AbortTransactionRequest
		says string
	}{
		{explicit(leaderP, 77, 2, 5), "INVALID_PRODUCER_EPOCH"},
		{explicit(leaderP, 77, 3, 4), "TRANSACTION_COORDINATOR_FENCED"},
	} {
		_, err := one.AbortTransaction(ctx, tc.req)
		if !errors.As(err, &re) || re.Status != http.StatusConflict || re.Code != api.CodeKafkaError || !strings.HasPrefix(re.Message, tc.says) {
			t.Errorf("%+v: %v, want 409 kafka_error %s", tc.req, err, tc.says)
		}
	}
	parts, err := one.Partitions(ctx, "pay")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts.Data.Partitions {
		if p.Partition == leaderP && (p.LastStableOffset == nil || *p.LastStableOffset != p.HighWatermark || len(p.OngoingTransactions) != 0) {
			t.Errorf("after the marker: %+v", p)
		}
	}
}
