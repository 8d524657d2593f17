package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/txn"
)

// InterbrokerRequestForTest sends req to broker node with the node's
// inter-broker client (the markers' one).
func (n *Node) InterbrokerRequestForTest(ctx context.Context, node int32, req kmsg.Request) (kmsg.Response, error) {
	return n.inter.markers.Request(ctx, node, req)
}

// WriteTxnMarkersForTest writes markers with the node's marker writer, as
// its transaction coordinator does.
func (n *Node) WriteTxnMarkersForTest(ctx context.Context, markers []txn.Marker) []error {
	return n.txnMarkerWriter().WriteMarkers(ctx, markers)
}

// VerifyTxnPartitionForTest asks the coordinator of txnID with the node's
// verifier, as a partition leader does for a transaction's first batch.
func (n *Node) VerifyTxnPartitionForTest(ctx context.Context, txnID string, pid int64, epoch int16, topic string, partition int32) error {
	return n.txnVerifier().VerifyTxnPartition(ctx, txnID, pid, epoch, topic, partition)
}
