package broker_test

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/metadata/raftnode"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestStorageFailureStopsLeader: when the leader's partition log fails to
// fsync (a failing disk), the leader stops itself instead of answering
// KAFKA_STORAGE_ERROR forever; a surviving pair takes over leadership, the
// idempotent acks=all stream goes on, and no acknowledged record is lost.
// Restarted on a working disk, the node recovers and rejoins the ISR.
func TestStorageFailureStopsLeader(t *testing.T) {
	var failing [3]atomic.Bool
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		id := cfg.NodeID
		broker.SetBeforeFsyncForTest(cfg, func() error {
			if failing[id-1].Load() {
				return fmt.Errorf("injected: %w", syscall.EIO)
			}
			return nil
		})
	})
	c.StartAll()
	leader := createRF3(t, c, "disk", nil)
	s := startStream(t, c.KafkaAddrs(), "disk")
	testharness.Eventually(t, 20*time.Second, "300 acks", func() bool { return s.count() >= 300 })

	failing[leader-1].Store(true)
	waitStoppedOnStorageFailure(t, c, leader, syscall.EIO)
	survivorsTakeOver(t, c, s, "disk", leader)

	failing[leader-1].Store(false) // the operator replaced the disk
	c.Restart(int(leader - 1))
	waitFullISR(t, c, "disk", 30*time.Second)
	checkExactlyOnce(t, c.KafkaAddrs(), "disk", s.acked)
}

// TestRaftStoreFailureStopsNode: a failed write of the raft store stops the
// node as a failed partition log does (before, raft stopped and the node
// served on with frozen metadata); the partitions it led move to the others.
func TestRaftStoreFailureStopsNode(t *testing.T) {
	var failing [3]atomic.Bool
	c := inproc.NewCluster(t, 3, func(cfg *broker.Config) {
		id := cfg.NodeID
		broker.SetBeforeSaveForTest(cfg, func() error {
			if failing[id-1].Load() {
				return fmt.Errorf("injected: %w", syscall.ENOSPC)
			}
			return nil
		})
	})
	c.StartAll()
	leader := createRF3(t, c, "meta", nil)
	s := startStream(t, c.KafkaAddrs(), "meta")
	testharness.Eventually(t, 20*time.Second, "300 acks", func() bool { return s.count() >= 300 })

	failing[leader-1].Store(true) // raft writes at every heartbeat round, produce or not
	err := waitStoppedOnStorageFailure(t, c, leader, syscall.ENOSPC)
	if !errors.Is(err, raftnode.ErrStorage) {
		t.Fatalf("Err() = %v, want raftnode.ErrStorage", err)
	}
	survivorsTakeOver(t, c, s, "meta", leader)
}

// waitStoppedOnStorageFailure waits until node id (1-based) stopped itself
// on a storage failure wrapping cause, checks that it reports so and that
// its listeners refuse connections, then closes it (nothing more to do) and
// returns its Err.
func waitStoppedOnStorageFailure(t *testing.T, c *inproc.Cluster, id int32, cause error) error {
	t.Helper()
	failed := c.Nodes[id-1]
	testharness.Eventually(t, 10*time.Second, fmt.Sprintf("node %d to stop on its storage failure", id), func() bool {
		select {
		case <-failed.Done():
			return true
		default:
			return false
		}
	})
	err := failed.Err()
	var se *broker.StorageError
	if !errors.As(err, &se) || !errors.Is(err, cause) || se.DataDir != c.Cfgs[id-1].DataDir {
		t.Fatalf("Err() = %v, want a *StorageError in %s wrapping %v", err, c.Cfgs[id-1].DataDir, cause)
	}
	if failed.Ready() {
		t.Fatal("a node stopped on a storage failure reports ready")
	}
	for _, addr := range []string{failed.Addrs().Kafka, failed.Addrs().Cluster, failed.Addrs().Admin} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Fatalf("%s still accepts connections after the storage failure", addr)
		}
	}
	c.Stop(int(id - 1)) // Close after the stop fails the test unless it returns nil
	return err
}

// survivorsTakeOver checks that a surviving replica leads topic after the
// stop of node gone, that the stream gets acks from it, and that no
// acknowledged record was lost.
func survivorsTakeOver(t *testing.T, c *inproc.Cluster, s *ackedStream, topic string, gone int32) {
	t.Helper()
	var p kmsg.MetadataResponseTopicPartition
	testharness.Eventually(t, 10*time.Second, "leadership on a surviving replica", func() bool {
		p = partitionOf(t, c, topic)
		return p.Leader > 0 && p.Leader != gone
	}, func() string { return fmt.Sprintf("leader %d ISR %v", p.Leader, p.ISR) })
	before := s.count()
	testharness.Eventually(t, 20*time.Second, "acks on the new leader", func() bool { return s.count() >= before+300 })
	s.finish()
	checkExactlyOnce(t, c.KafkaAddrs(), topic, s.acked)
}
