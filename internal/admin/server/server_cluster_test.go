package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// serveNode runs a real single-node chronik in a temp dir and serves its
// admin API (with token) on a test server.
func serveNode(t *testing.T, token string) (*broker.Node, *httptest.Server) {
	t.Helper()
	cfg := inproc.Config(t)
	cfg.AdminAddr = ""
	n := inproc.StartNode(t, cfg)
	srv := httptest.NewServer(HandlerFor(nil, token)(n))
	t.Cleanup(srv.Close)
	return n, srv
}

func TestClusterEndpointsOnARealNode(t *testing.T) {
	_, srv := serveNode(t, "s3cret")
	httpc := admintest.NewHTTPClient(t)
	ctx := t.Context()
	anon := client.New(srv.URL, httpc)
	c := anon.WithToken("s3cret")

	// Mutations need the token; reads do not.
	_, err := anon.CreateTopic(ctx, api.CreateTopicRequest{Name: "orders", Partitions: 2, ReplicationFactor: 1})
	var re *client.RequestError
	if !errors.As(err, &re) || re.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "CHRONIK_ADMIN_TOKEN") {
		t.Fatalf("create without token: %v", err)
	}
	if _, err := anon.WithToken("wrong").CreateTopic(ctx, api.CreateTopicRequest{Name: "orders"}); !errors.As(err, &re) || re.Status != 401 {
		t.Fatalf("create with a wrong token: %v", err)
	}
	created, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "orders", Partitions: 2, ReplicationFactor: 1,
		Configs: map[string]string{"min.insync.replicas": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Data.Partitions) != 2 || created.Data.Partitions[0].Leader != 1 || len(created.Data.Partitions[0].ISR) != 1 {
		t.Fatalf("created %+v", created.Data)
	}
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "orders"}); !errors.As(err, &re) || re.Status != http.StatusConflict || re.Code != api.CodeConflict {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "bad/name"}); !errors.As(err, &re) || re.Status != http.StatusBadRequest {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "big", ReplicationFactor: 3}); !errors.As(err, &re) || re.Status != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "replication factor 3") {
		t.Fatalf("RF above the brokers: %v", err)
	}

	parts, err := anon.Partitions(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Data.Partitions) != 2 {
		t.Fatalf("partitions %+v", parts.Data)
	}
	p := parts.Data.Partitions[0]
	if p.Role != api.ReplicaLeader || !p.Running || p.MinISR != 1 || p.LagTimeMaxSeconds != 10 || p.HighWatermark != 0 || p.Followers != nil {
		t.Fatalf("partition 0: %+v", p)
	}
	all, err := anon.Partitions(ctx)
	if err != nil || len(all.Data.Partitions) != 2 {
		t.Fatalf("all partitions: %+v %v", all.Data, err)
	}

	brokers, err := anon.Brokers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := brokers.Data
	if b.ControllerID != 1 || !b.Controller || len(b.Brokers) != 1 || b.Brokers[0].Fenced ||
		b.Brokers[0].LastHeartbeatSeconds == nil {
		t.Fatalf("brokers %+v", b)
	}
	rec, err := anon.Reconcile(ctx)
	if err != nil || !rec.Data.CaughtUp || len(rec.Data.Expected) != 2 || len(rec.Data.Missing) != 0 || len(rec.Data.Extra) != 0 {
		t.Fatalf("reconcile %+v %v", rec.Data, err)
	}

	el, err := c.ElectLeaders(ctx, api.ElectLeadersRequest{Partitions: []api.TopicPartition{{Topic: "orders", Partition: 0}, {Topic: "nope", Partition: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := el.Data.Results; len(r) != 2 || r[0].Error != "ELECTION_NOT_NEEDED" || r[1].Error != "UNKNOWN_TOPIC_OR_PARTITION" {
		t.Fatalf("elections %+v", el.Data)
	}
	if _, err := c.ElectLeaders(ctx, api.ElectLeadersRequest{Type: "sideways"}); !errors.As(err, &re) || re.Status != 400 {
		t.Fatalf("bad election type: %v", err)
	}

	if err := c.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic(ctx, "orders"); !errors.As(err, &re) || re.Status != http.StatusNotFound {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestMutationBadInput(t *testing.T) {
	_, srv := serveNode(t, "")
	httpc := admintest.NewHTTPClient(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/v1/topics", `{"name":`, 400},
		{"POST", "/v1/topics", `{"name":"x","surprise":1}`, 400},
		{"GET", "/v1/topics", ``, 405},
		{"PUT", "/v1/elect-leaders", ``, 405},
		{"POST", "/v1/partitions", ``, 405},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %q: %d %s, want %d", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.status)
		}
	}
}
