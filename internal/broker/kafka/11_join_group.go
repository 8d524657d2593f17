package kafka

// JoinGroup, versions 0-9.
//
// Joins a member to a group (group.Coordinator.JoinGroup). The answer waits
// until the rebalance completes, off the connection's read goroutine.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinGroupAPI declares JoinGroup (key 11): its served versions and handler.
func (b *Backend) joinGroupAPI() served {
	return served{key: 11, API: API{Min: 0, Max: 9, Handle: b.handleJoinGroup}}
}

func (b *Backend) handleJoinGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	if r := b.refuseGroup(c, acl.OpRead, req.Group, req); r != nil {
		return done(r) // authorize_groups.go
	}
	clientID, host := clientOf(c)
	return nil, pending(func(ctx context.Context) *kmsg.JoinGroupResponse {
		return withVersion(req, b.Groups.JoinGroup(group.WithClient(ctx, clientID, host), req))
	}), nil
}
