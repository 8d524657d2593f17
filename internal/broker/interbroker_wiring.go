package broker

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/interbroker"
	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/txn"
)

// The node's side of package interbroker: requests this broker sends to
// others over the cluster listener (transaction markers to partition
// leaders, transaction verifications to coordinators).

// interbrokerClients are the node's inter-broker clients: markers wait for
// replication and get a connection of their own, so a verification (which
// a producer's first transactional batch waits for) never queues behind one.
type interbrokerClients struct {
	markers *interbroker.Client
	verify  *interbroker.Client
	local   *localPeer
}

// newInterbroker creates the clients; they dial on first use. Requests to
// this node itself go through an in-memory connection served by the Kafka
// server like a peer's, so the handlers' broker-only checks and hooks are
// the same for every partition.
func (n *Node) newInterbroker() {
	n.inter.local = newLocalPeer(n)
	dial := func(ctx context.Context, node int32) (net.Conn, error) {
		if node == n.cfg.NodeID {
			return n.inter.local.dial()
		}
		return n.dialReplica(ctx, node)
	}
	idle := n.cfg.ConnectionsMaxIdle * 9 / 10 // before the peer's idle timeout closes it
	n.inter.markers = interbroker.New(interbroker.Config{
		NodeID: n.cfg.NodeID, Dial: dial, Name: "txn markers", IdleTimeout: idle, Logger: n.logger,
	})
	n.inter.verify = interbroker.New(interbroker.Config{
		NodeID: n.cfg.NodeID, Dial: dial, Name: "txn verify", IdleTimeout: idle, Logger: n.logger,
	})
}

// txnMarkerWriter is the transaction coordinator's way to its partitions'
// leaders.
func (n *Node) txnMarkerWriter() txn.MarkerWriter {
	return &interbroker.MarkerWriter{Client: n.inter.markers, Meta: n.raft, Logger: n.logger}
}

// txnVerifier asks transaction coordinators about partitions of a
// producer's transaction (KIP-890 part 1).
func (n *Node) txnVerifier() *interbroker.Verifier {
	return &interbroker.Verifier{Client: n.inter.verify, Meta: n.raft, Topic: controller.TransactionStateTopic, PartitionFor: txn.PartitionFor}
}

// onTxnMarker tells the group coordinator about a marker committed on a
// partition of __consumer_offsets: it applies or drops the producer's
// pending offsets.
func (n *Node) onTxnMarker(topic string, partition int32, producerID int64, commit bool, markerOffset int64) {
	if topic == controller.OffsetsTopic {
		n.groups.CompleteTxn(partition, producerID, commit, markerOffset)
	}
}

// closeInterbroker fails requests in flight to peers and closes the
// connections, then waits for this node's served side of its own.
func (n *Node) closeInterbroker() {
	if n.inter.markers != nil {
		n.inter.markers.Close()
		n.inter.verify.Close()
		n.inter.local.close()
	}
}

// localPeer serves this node's requests to itself: one end of a pipe is
// the client's connection, the other is served by the Kafka server as a
// cluster connection from this broker.
type localPeer struct {
	n      *Node
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func newLocalPeer(n *Node) *localPeer {
	ctx, cancel := context.WithCancel(context.Background())
	return &localPeer{n: n, ctx: ctx, cancel: cancel}
}

func (l *localPeer) dial() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("dial this node: stopping")
	}
	if !l.n.registered.Load() {
		return nil, errors.New("dial this node: this broker is not registered yet")
	}
	client, server := net.Pipe()
	peer := kafka.ReplicaPeer{ID: l.n.cfg.NodeID, Incarnation: l.n.incarnation.Load()}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := l.n.kafka.ServeConn(l.ctx, server, peer); err != nil {
			l.n.logger.Debug("local inter-broker connection not served", "err", err)
		}
	}()
	return client, nil
}

// close ends the served connections and waits for them.
func (l *localPeer) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
}
