package kafka

// OffsetFetch, versions 0-8.
//
// Returns committed offsets (group.Coordinator.OffsetFetch); v8 batches
// groups. RequireStable (v7+, KIP-447): a partition with an offset pending
// in an open transaction answers UNSTABLE_OFFSET_COMMIT (offset -1), so a
// consumer does not start from an offset its transaction may still change;
// without it the last committed offset.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetFetchAPI declares OffsetFetch (key 9): its served versions and handler.
func (b *Backend) offsetFetchAPI() served {
	return served{key: 9, API: API{Min: 0, Max: 8, Handle: b.handleOffsetFetch}}
}

func (b *Backend) handleOffsetFetch(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	return done(b.offsetFetch(ctx, c, req)) // authorize_groups.go
}
