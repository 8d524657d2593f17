package kafka

// DescribeCluster, versions 0-1.
//
// The live brokers and the controller (the raft leader). v1's EndpointType 2 (controllers) is answered like brokers,
// since every chronik node is both. As in Kafka it needs no permission; the
// cluster's authorized operations, when asked, need DESCRIBE on it (else 0).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeClusterAPI declares DescribeCluster (key 60): its served versions and handler.
func (b *Backend) describeClusterAPI() served {
	return served{key: 60, API: API{Min: 0, Max: 1, Handle: b.handleDescribeCluster}}
}

func (b *Backend) handleDescribeCluster(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := respond[*kmsg.DescribeClusterResponse](req)
	resp.EndpointType = req.EndpointType
	s := b.Meta.State()
	resp.ClusterID = s.ClusterID
	resp.ControllerID = b.controllerID()
	for _, lb := range liveBrokers(s) {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID = lb.ID
		br.Rack = rackOf(lb)
		var ok bool
		if br.Host, br.Port, ok = listenerAddr(lb, c.Listener); !ok {
			continue // brokers without the client's listener are left out
		}
		resp.Brokers = append(resp.Brokers, br)
	}
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.clusterAuthorizedOps(c)
	}
	return done(resp)
}
