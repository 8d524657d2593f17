package broker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestRemovedNodeStops: a node removed from the cluster stops on its own,
// through the storage-failure halt, as soon as it sees itself leave the
// broker list: Err is a *RemovedError, it is not ready, and its listeners
// refuse connections. The other two carry on.
func TestRemovedNodeStops(t *testing.T) {
	c := inproc.NewCluster(t, 3, nil)
	c.StartAll()
	var ctrl *broker.Node
	testharness.Eventually(t, 10*time.Second, "a controller", func() bool {
		id := c.Nodes[0].ControllerID()
		if id < 1 {
			return false
		}
		ctrl = c.Nodes[id-1]
		return true
	})
	gone := ctrl.NodeID()%3 + 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	removeNode(t, c, broker.RemoveNodeRequest{ID: gone}, 30*time.Second)
	removed := c.Nodes[gone-1]
	testharness.Eventually(t, 10*time.Second, fmt.Sprintf("node %d to stop after its removal", gone), func() bool {
		select {
		case <-removed.Done():
			return true
		default:
			return false
		}
	})
	err := removed.Err()
	var re *broker.RemovedError
	if !errors.As(err, &re) || re.NodeID != gone || re.DataDir != c.Cfgs[gone-1].DataDir {
		t.Fatalf("Err() = %v, want a *RemovedError of node %d", err, gone)
	}
	var se *broker.StorageError
	if errors.As(err, &se) {
		t.Fatalf("a removal reported as a storage failure: %v", err)
	}
	if removed.Ready() {
		t.Fatal("a removed node reports ready")
	}
	for _, addr := range []string{removed.Addrs().Kafka, removed.Addrs().Cluster, removed.Addrs().Admin} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Fatalf("%s still accepts connections after the removal", addr)
		}
	}
	c.Stop(int(gone - 1))
	// The two left still commit metadata.
	resp, err := inproc.NodeAdmin(t, ctrl).CreateTopic(ctx, 1, 2, nil, "after")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create a topic after the removal: %v", err)
	}
}
