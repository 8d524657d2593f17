package kafka

// LeaveGroup, versions 0-5.
//
// Removes members from a group (group.Coordinator.LeaveGroup); v3+ names a
// batch of members.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaveGroupAPI declares LeaveGroup (key 13): its served versions and handler.
func (b *Backend) leaveGroupAPI() served {
	return served{key: 13, API: API{Min: 0, Max: 5, Handle: b.handleLeaveGroup}}
}

func (b *Backend) handleLeaveGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	if r := b.refuseGroup(c, acl.OpRead, req.Group, req); r != nil {
		return done(r) // authorize_groups.go
	}
	return done(withVersion(req, b.Groups.LeaveGroup(ctx, req)))
}
