package kafka

// DescribeCluster, versions 0-1: this node is the one broker and the
// controller. v1's EndpointType 2 (controllers) is answered like brokers,
// since every chronik node is both.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Backend) handleDescribeCluster(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := respond[*kmsg.DescribeClusterResponse](req)
	resp.EndpointType = req.EndpointType
	resp.ClusterID = b.Store.ClusterID()
	resp.ControllerID = b.NodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.NodeID, b.Host, b.Port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	return done(resp)
}
