package kafka

// OffsetDelete, versions 0-0.
//
// Deletes committed offsets of some partitions
// (group.Coordinator.OffsetDelete).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetDeleteAPI declares OffsetDelete (key 47): its served versions and handler.
func (b *Backend) offsetDeleteAPI() served {
	return served{key: 47, API: API{Min: 0, Max: 0, Handle: b.handleOffsetDelete}}
}

func (b *Backend) handleOffsetDelete(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	return done(b.offsetDelete(ctx, c, req)) // authorize_groups.go
}
