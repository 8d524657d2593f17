package kafka

// DescribeGroups, versions 0-5.
//
// Describes groups, their state and members
// (group.Coordinator.DescribeGroups).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeGroupsAPI declares DescribeGroups (key 15): its served versions and handler.
func (b *Backend) describeGroupsAPI() served {
	return served{key: 15, API: API{Min: 0, Max: 5, Handle: b.handleDescribeGroups}}
}

func (b *Backend) handleDescribeGroups(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	return done(b.describeGroups(ctx, c, req)) // authorize_groups.go
}
