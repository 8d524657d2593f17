package kafka

// The classic consumer-group APIs. The coordinator (internal/broker/group)
// holds the semantics; these handlers run the calls that wait for other
// members (JoinGroup, SyncGroup) off the connection's read goroutine.
// __consumer_offsets is created by FindCoordinator, or by the first commit.
//
//	JoinGroup        11  v0-9   blocks until the rebalance completes
//	Heartbeat        12  v0-4
//	LeaveGroup       13  v0-5   v3+ batch of members
//	SyncGroup        14  v0-5   blocks until the leader's assignment arrives
//	DescribeGroups   15  v0-5
//	ListGroups       16  v0-4   v4 states filter
//	OffsetCommit      8  v0-8   answered after the offsets are fsynced
//	OffsetFetch       9  v0-8   v8 batch of groups
//	DeleteGroups     42  v0-2
//	OffsetDelete     47  v0

import (
	"context"
	"net"

	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Backend) handleJoinGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	clientID, host := clientOf(c)
	return nil, pending(func(ctx context.Context) *kmsg.JoinGroupResponse {
		return withVersion(req, b.Groups.JoinGroup(group.WithClient(ctx, clientID, host), req))
	}), nil
}

func (b *Backend) handleSyncGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	clientID, host := clientOf(c)
	return nil, pending(func(ctx context.Context) *kmsg.SyncGroupResponse {
		return withVersion(req, b.Groups.SyncGroup(group.WithClient(ctx, clientID, host), req))
	}), nil
}

func (b *Backend) handleHeartbeat(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	return done(withVersion(req, b.Groups.Heartbeat(ctx, req)))
}

func (b *Backend) handleLeaveGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	return done(withVersion(req, b.Groups.LeaveGroup(ctx, req)))
}

func (b *Backend) handleOffsetCommit(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	// Synchronous on purpose: commits from one connection reach the log in order.
	return done(withVersion(req, b.Groups.OffsetCommit(ctx, req)))
}

func (b *Backend) handleOffsetFetch(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	return done(withVersion(req, b.Groups.OffsetFetch(ctx, req)))
}

func (b *Backend) handleDescribeGroups(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	return done(withVersion(req, b.Groups.DescribeGroups(ctx, req)))
}

func (b *Backend) handleListGroups(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	return done(withVersion(req, b.Groups.ListGroups(ctx, req)))
}

func (b *Backend) handleDeleteGroups(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	return done(withVersion(req, b.Groups.DeleteGroups(ctx, req)))
}

func (b *Backend) handleOffsetDelete(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	return done(withVersion(req, b.Groups.OffsetDelete(ctx, req)))
}

// clientOf copies what the group coordinator shows of a member's client; the
// copy is taken on the read goroutine, before the Pending runs.
func clientOf(c *Conn) (clientID, host string) {
	if c.Remote != nil {
		host = c.Remote.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return c.ClientID, "/" + host
}

// withVersion makes sure the coordinator's response carries the request's version.
func withVersion[T kmsg.Response](req kmsg.Request, resp T) T {
	resp.SetVersion(req.GetVersion())
	return resp
}
