package kafka

// DeleteGroups, versions 0-2.
//
// Deletes empty groups and their offsets (group.Coordinator.DeleteGroups).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteGroupsAPI declares DeleteGroups (key 42): its served versions and handler.
func (b *Backend) deleteGroupsAPI() served {
	return served{key: 42, API: API{Min: 0, Max: 2, Handle: b.handleDeleteGroups}}
}

func (b *Backend) handleDeleteGroups(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	return done(b.deleteGroups(ctx, c, req)) // authorize_groups.go
}
