package kafka

// Heartbeat, versions 0-4.
//
// Keeps a member alive and tells it when to rejoin
// (group.Coordinator.Heartbeat).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// heartbeatAPI declares Heartbeat (key 12): its served versions and handler.
func (b *Backend) heartbeatAPI() served {
	return served{key: 12, API: API{Min: 0, Max: 4, Handle: b.handleHeartbeat}}
}

func (b *Backend) handleHeartbeat(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	if r := b.refuseGroup(c, acl.OpRead, req.Group, req); r != nil {
		return done(r) // authorize_groups.go
	}
	return done(withVersion(req, b.Groups.Heartbeat(ctx, req)))
}
