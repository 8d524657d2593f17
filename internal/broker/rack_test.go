package broker_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestRacksAdvertisedAndHonouredAtCreation: four brokers in two racks
// advertise their rack in Metadata and DescribeCluster, and a topic created
// without an assignment puts each partition's two replicas in both racks.
func TestRacksAdvertisedAndHonouredAtCreation(t *testing.T) {
	racks := map[int32]string{1: "rack-a", 2: "rack-a", 3: "rack-b", 4: "rack-b"}
	c := inproc.NewCluster(t, 4, func(cfg *broker.Config) {
		cfg.Rack = racks[cfg.NodeID]
		cfg.AdminHandler = server.HandlerFor(cfg.Logger, "")
	})
	c.StartAll()
	adm := inproc.NodeAdmin(t, c.Nodes[0])
	ctx := testharness.Context(t, 20*time.Second)
	if _, err := adm.CreateTopic(ctx, 12, 2, nil, "racked"); err != nil {
		t.Fatal(err)
	}
	md := c.MetadataOf(1, "racked")
	if len(md.Brokers) != 4 {
		t.Fatalf("metadata lists %d brokers", len(md.Brokers))
	}
	for _, b := range md.Brokers {
		if b.Rack == nil || *b.Rack != racks[b.NodeID] {
			t.Fatalf("broker %d advertises rack %v, want %s", b.NodeID, b.Rack, racks[b.NodeID])
		}
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 12 {
		t.Fatalf("topic metadata: %+v", md.Topics)
	}
	for _, p := range md.Topics[0].Partitions {
		if len(p.Replicas) != 2 || racks[p.Replicas[0]] == racks[p.Replicas[1]] {
			t.Fatalf("partition %d: replicas %v not spread over both racks", p.Partition, p.Replicas)
		}
	}
	// Partitions added later are placed the same way.
	if _, err := adm.CreatePartitions(ctx, 6, "racked"); err != nil {
		t.Fatal(err)
	}
	var grown *kmsg.MetadataResponse
	testharness.Eventually(t, 10*time.Second, "18 partitions in node 2's metadata", func() bool {
		grown = c.MetadataOf(1, "racked")
		return len(grown.Topics) == 1 && len(grown.Topics[0].Partitions) == 18
	})
	for _, p := range grown.Topics[0].Partitions {
		if len(p.Replicas) != 2 || racks[p.Replicas[0]] == racks[p.Replicas[1]] {
			t.Fatalf("partition %d: replicas %v not spread over both racks", p.Partition, p.Replicas)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	resp, err := req.RequestWith(ctx, inproc.NodeClient(t, c.Nodes[2]))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 4 {
		t.Fatalf("DescribeCluster lists %d brokers", len(resp.Brokers))
	}
	for _, b := range resp.Brokers {
		if b.Rack == nil || *b.Rack != racks[b.NodeID] {
			t.Fatalf("DescribeCluster: broker %d rack %v, want %s", b.NodeID, b.Rack, racks[b.NodeID])
		}
	}
	// The admin API's broker list, which doctor and cluster status read.
	hresp, err := http.Get("http://" + c.Nodes[3].Addrs().Admin + "/v1/brokers")
	if err != nil {
		t.Fatal(err)
	}
	defer hresp.Body.Close()
	var answer struct {
		Data api.Brokers `json:"data"`
	}
	if err := json.NewDecoder(hresp.Body).Decode(&answer); err != nil || len(answer.Data.Brokers) != 4 {
		t.Fatalf("/v1/brokers: %v %+v", err, answer)
	}
	for _, b := range answer.Data.Brokers {
		if b.Rack != racks[b.ID] {
			t.Fatalf("/v1/brokers: broker %d rack %q, want %s", b.ID, b.Rack, racks[b.ID])
		}
	}
	nresp, err := http.Get("http://" + c.Nodes[2].Addrs().Admin + "/v1/node")
	if err != nil {
		t.Fatal(err)
	}
	defer nresp.Body.Close()
	var node struct {
		Data api.NodeInfo `json:"data"`
	}
	if err := json.NewDecoder(nresp.Body).Decode(&node); err != nil || node.Data.NodeID != 3 || node.Data.Rack != "rack-b" {
		t.Fatalf("/v1/node of node 3: %v %+v", err, node.Data)
	}
}
