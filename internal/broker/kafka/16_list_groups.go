package kafka

// ListGroups, versions 0-4.
//
// Lists the groups this broker coordinates (group.Coordinator.ListGroups);
// v4 filters by state.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// listGroupsAPI declares ListGroups (key 16): its served versions and handler.
func (b *Backend) listGroupsAPI() served {
	return served{key: 16, API: API{Min: 0, Max: 4, Handle: b.handleListGroups}}
}

func (b *Backend) handleListGroups(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	return done(b.listGroups(ctx, c, req)) // authorize_groups.go
}
