package kafka

// The classic consumer-group APIs. The coordinator (internal/broker/group)
// holds the semantics; these handlers make sure __consumer_offsets exists,
// and run the calls that wait for other members (JoinGroup, SyncGroup) off
// the connection's read goroutine.
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
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupsReady makes sure __consumer_offsets exists; false means answer
// COORDINATOR_NOT_AVAILABLE (retriable).
func (b *Backend) groupsReady() bool {
	if err := b.ensureOffsetsTopic(); err != nil {
		b.Logger.Error("create offsets topic", "err", err)
		return false
	}
	return true
}

func (b *Backend) handleJoinGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	if !b.groupsReady() {
		resp := respond[*kmsg.JoinGroupResponse](req)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return done(resp)
	}
	clientID, host := clientOf(c)
	return nil, pending(func(ctx context.Context) *kmsg.JoinGroupResponse {
		return withVersion(req, b.Groups.JoinGroup(group.WithClient(ctx, clientID, host), req))
	}), nil
}

func (b *Backend) handleSyncGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	if !b.groupsReady() {
		resp := respond[*kmsg.SyncGroupResponse](req)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return done(resp)
	}
	clientID, host := clientOf(c)
	return nil, pending(func(ctx context.Context) *kmsg.SyncGroupResponse {
		return withVersion(req, b.Groups.SyncGroup(group.WithClient(ctx, clientID, host), req))
	}), nil
}

func (b *Backend) handleHeartbeat(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	if !b.groupsReady() {
		resp := respond[*kmsg.HeartbeatResponse](req)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return done(resp)
	}
	return done(withVersion(req, b.Groups.Heartbeat(ctx, req)))
}

func (b *Backend) handleLeaveGroup(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	if !b.groupsReady() {
		resp := respond[*kmsg.LeaveGroupResponse](req)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return done(resp)
	}
	return done(withVersion(req, b.Groups.LeaveGroup(ctx, req)))
}

func (b *Backend) handleOffsetCommit(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	if !b.groupsReady() {
		resp := respond[*kmsg.OffsetCommitResponse](req)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return done(resp)
	}
	// Synchronous on purpose: commits from one connection reach the log in order.
	return done(withVersion(req, b.Groups.OffsetCommit(ctx, req)))
}

func (b *Backend) handleOffsetFetch(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	if !b.groupsReady() {
		resp := respond[*kmsg.OffsetFetchResponse](req)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group = g.Group
			rg.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return done(resp)
	}
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
	if !b.groupsReady() {
		resp := respond[*kmsg.DeleteGroupsResponse](req)
		for _, g := range req.Groups {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group = g
			rg.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return done(resp)
	}
	return done(withVersion(req, b.Groups.DeleteGroups(ctx, req)))
}

func (b *Backend) handleOffsetDelete(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	if !b.groupsReady() {
		resp := respond[*kmsg.OffsetDeleteResponse](req)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return done(resp)
	}
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
