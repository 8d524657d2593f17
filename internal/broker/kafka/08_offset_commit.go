package kafka

// OffsetCommit, versions 0-8.
//
// Stores a group's offsets (group.Coordinator.OffsetCommit), answered only
// after they are fsynced. It runs synchronously, on the read goroutine, so
// commits from one connection reach the offsets log in order.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetCommitAPI declares OffsetCommit (key 8): its served versions and handler.
func (b *Backend) offsetCommitAPI() served {
	return served{key: 8, API: API{Min: 0, Max: 8, Handle: b.handleOffsetCommit}}
}

func (b *Backend) handleOffsetCommit(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	// Synchronous on purpose: commits from one connection reach the log in order.
	return done(b.offsetCommit(ctx, c, req)) // authorize_groups.go
}
