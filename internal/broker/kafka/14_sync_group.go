package kafka

// SyncGroup, versions 0-5.
//
// Hands the leader's assignment to each member (group.Coordinator.SyncGroup).
// The answer waits until the leader's assignment arrives, off the
// connection's read goroutine.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// syncGroupAPI declares SyncGroup (key 14): its served versions and handler.
func (b *Backend) syncGroupAPI() served {
	return served{key: 14, API: API{Min: 0, Max: 5, Handle: b.handleSyncGroup}}
}

func (b *Backend) handleSyncGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	if r := b.refuseGroup(c, acl.OpRead, req.Group, req); r != nil {
		return done(r) // authorize_groups.go
	}
	clientID, host := clientOf(c)
	return nil, pending(func(ctx context.Context) *kmsg.SyncGroupResponse {
		return withVersion(req, b.Groups.SyncGroup(group.WithClient(ctx, clientID, host), req))
	}), nil
}
