package kafka

// Authorization of the group APIs, as Kafka's KafkaApis checks them:
//
//	JoinGroup, SyncGroup, Heartbeat, LeaveGroup   READ on the group
//	OffsetCommit    READ on the group, READ on each topic
//	OffsetFetch     DESCRIBE on the group, DESCRIBE on each topic (topics
//	                of an all-topics fetch the principal may not describe
//	                are left out)
//	OffsetDelete    DELETE on the group, READ on each topic
//	DescribeGroups  DESCRIBE on each group
//	ListGroups      the groups the principal may DESCRIBE, or all with
//	                DESCRIBE on the cluster
//	DeleteGroups    DELETE on each group
//
// A refused group is GROUP_AUTHORIZATION_FAILED, a refused topic
// TOPIC_AUTHORIZATION_FAILED; refused topics and groups are never handed
// to the coordinator.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// refuseGroup answers req (a single-group request) GROUP_AUTHORIZATION_FAILED
// unless c may do op on the group; nil when it may.
func (b *Backend) refuseGroup(c *Conn, op acl.Operation, group string, req kmsg.Request) kmsg.Response {
	if b.authorize(c, op, acl.ResourceGroup, group) {
		return nil
	}
	denied := kerr.GroupAuthorizationFailed.Code
	switch r := respond[kmsg.Response](req).(type) {
	case *kmsg.JoinGroupResponse:
		r.ErrorCode, r.Generation = denied, -1
		return r
	case *kmsg.SyncGroupResponse:
		r.ErrorCode = denied
		return r
	case *kmsg.HeartbeatResponse:
		r.ErrorCode = denied
		return r
	case *kmsg.LeaveGroupResponse:
		r.ErrorCode = denied
		return r
	case *kmsg.OffsetDeleteResponse:
		r.ErrorCode = denied
		return r
	case *kmsg.OffsetCommitResponse:
		for _, rt := range req.(*kmsg.OffsetCommitRequest).Topics {
			r.Topics = append(r.Topics, offsetCommitRefusal(rt, denied))
		}
		return r
	default:
		panic("refuseGroup: no refusal for " + kmsg.NameForKey(req.Key()))
	}
}

// offsetCommit commits the partitions of the topics c may READ (after READ
// on the group) and answers the others TOPIC_AUTHORIZATION_FAILED.
func (b *Backend) offsetCommit(ctx context.Context, c *Conn, req *kmsg.OffsetCommitRequest) kmsg.Response {
	if r := b.refuseGroup(c, acl.OpRead, req.Group, req); r != nil {
		return r
	}
	allowed, refused := splitTopics(b, c, acl.OpRead, req.Topics, func(rt kmsg.OffsetCommitRequestTopic) string { return rt.Topic })
	if refused == nil {
		return withVersion(req, b.Groups.OffsetCommit(ctx, req))
	}
	resp := respond[*kmsg.OffsetCommitResponse](req)
	if len(allowed) > 0 {
		part := *req
		part.Topics = allowed
		resp = withVersion(req, b.Groups.OffsetCommit(ctx, &part))
	}
	for _, rt := range refused {
		resp.Topics = append(resp.Topics, offsetCommitRefusal(rt, kerr.TopicAuthorizationFailed.Code))
	}
	return resp
}

// offsetCommitRefusal answers every partition of rt with code.
func offsetCommitRefusal(rt kmsg.OffsetCommitRequestTopic, code int16) kmsg.OffsetCommitResponseTopic {
	st := kmsg.NewOffsetCommitResponseTopic()
	st.Topic = rt.Topic
	for _, rp := range rt.Partitions {
		sp := kmsg.NewOffsetCommitResponseTopicPartition()
		sp.Partition, sp.ErrorCode = rp.Partition, code
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}

// splitTopics parts the topics of a request (named by name) into those c may
// do op on and those it may not, each in request order. refused is nil when
// c may do op on every topic (or nothing is authorized): the request goes
// on whole.
func splitTopics[T any](b *Backend, c *Conn, op acl.Operation, topics []T, name func(T) string) (allowed, refused []T) {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = name(t)
	}
	denied := b.deniedTopics(c, op, names)
	if denied == nil {
		return topics, nil
	}
	for _, t := range topics {
		if denied[name(t)] {
			refused = append(refused, t)
		} else {
			allowed = append(allowed, t)
		}
	}
	return allowed, refused
}

// offsetFetch answers the offsets of the groups c may DESCRIBE, without
// the topics it may not DESCRIBE: named ones are answered
// TOPIC_AUTHORIZATION_FAILED, unnamed ones (all topics) left out.
func (b *Backend) offsetFetch(ctx context.Context, c *Conn, req *kmsg.OffsetFetchRequest) kmsg.Response {
	if !b.authorizing(c) {
		return withVersion(req, b.Groups.OffsetFetch(ctx, req))
	}
	topicDenied := func(name string) bool { return !b.authorizeQuiet(c, acl.OpDescribe, acl.ResourceTopic, name) }
	if req.GetVersion() < 8 {
		if !b.authorize(c, acl.OpDescribe, acl.ResourceGroup, req.Group) {
			resp := respond[*kmsg.OffsetFetchResponse](req)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code // v2+; older clients read the partitions'
			for _, rt := range req.Topics {
				st := kmsg.NewOffsetFetchResponseTopic()
				st.Topic = rt.Topic
				for _, p := range rt.Partitions {
					sp := kmsg.NewOffsetFetchResponseTopicPartition()
					sp.Partition, sp.Offset, sp.ErrorCode = p, -1, kerr.GroupAuthorizationFailed.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp
		}
		resp := withVersion(req, b.Groups.OffsetFetch(ctx, req))
		kept := resp.Topics[:0]
		for _, st := range resp.Topics {
			if topicDenied(st.Topic) {
				if req.Topics == nil {
					continue
				}
				for i := range st.Partitions {
					sp := &st.Partitions[i]
					sp.Offset, sp.LeaderEpoch, sp.Metadata = -1, -1, nil
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, st)
		}
		resp.Topics = kept
		return resp
	}
	resp := withVersion(req, b.Groups.OffsetFetch(ctx, req))
	for gi := range resp.Groups {
		gr := &resp.Groups[gi]
		if !b.authorize(c, acl.OpDescribe, acl.ResourceGroup, gr.Group) {
			*gr = kmsg.NewOffsetFetchResponseGroup()
			gr.Group, gr.ErrorCode = resp.Groups[gi].Group, kerr.GroupAuthorizationFailed.Code
			continue
		}
		all := gi < len(req.Groups) && req.Groups[gi].Topics == nil
		kept := gr.Topics[:0]
		for _, st := range gr.Topics {
			if st.Topic != "" && topicDenied(st.Topic) {
				if all {
					continue
				}
				for i := range st.Partitions {
					sp := &st.Partitions[i]
					sp.Offset, sp.LeaderEpoch, sp.Metadata = -1, -1, nil
					sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, st)
		}
		gr.Topics = kept
	}
	return resp
}

// offsetDelete deletes the offsets of the topics c may READ (after DELETE
// on the group) and answers the others TOPIC_AUTHORIZATION_FAILED.
func (b *Backend) offsetDelete(ctx context.Context, c *Conn, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	if r := b.refuseGroup(c, acl.OpDelete, req.Group, req); r != nil {
		return r
	}
	allowed, refused := splitTopics(b, c, acl.OpRead, req.Topics, func(rt kmsg.OffsetDeleteRequestTopic) string { return rt.Topic })
	if refused == nil {
		return withVersion(req, b.Groups.OffsetDelete(ctx, req))
	}
	resp := respond[*kmsg.OffsetDeleteResponse](req)
	if len(allowed) > 0 {
		part := *req
		part.Topics = allowed
		resp = withVersion(req, b.Groups.OffsetDelete(ctx, &part))
	}
	for _, rt := range refused {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// describeGroups describes the groups c may DESCRIBE and answers the
// others GROUP_AUTHORIZATION_FAILED; authorized operations (v3+) when asked.
func (b *Backend) describeGroups(ctx context.Context, c *Conn, req *kmsg.DescribeGroupsRequest) kmsg.Response {
	if !b.authorizing(c) {
		return withVersion(req, b.Groups.DescribeGroups(ctx, req))
	}
	allowed := *req
	allowed.Groups = nil
	for _, g := range req.Groups {
		if b.authorize(c, acl.OpDescribe, acl.ResourceGroup, g) {
			allowed.Groups = append(allowed.Groups, g)
		}
	}
	described := map[string]kmsg.DescribeGroupsResponseGroup{}
	resp := respond[*kmsg.DescribeGroupsResponse](req)
	if len(allowed.Groups) > 0 {
		r := b.Groups.DescribeGroups(ctx, &allowed)
		resp.ThrottleMillis = r.ThrottleMillis
		for _, g := range r.Groups {
			described[g.Group] = g
		}
	}
	for _, g := range req.Groups {
		d, ok := described[g]
		if !ok {
			d = kmsg.NewDescribeGroupsResponseGroup()
			d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		} else if req.IncludeAuthorizedOperations {
			d.AuthorizedOperations = b.authorizedOps(c, acl.ResourceGroup, g)
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// listGroups lists every group to a principal with DESCRIBE on the
// cluster, else only the groups it may DESCRIBE.
func (b *Backend) listGroups(ctx context.Context, c *Conn, req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := withVersion(req, b.Groups.ListGroups(ctx, req))
	if !b.authorizing(c) || b.authorizeQuiet(c, acl.OpDescribe, acl.ResourceCluster, acl.ClusterName) {
		return resp
	}
	kept := resp.Groups[:0]
	for _, g := range resp.Groups {
		if b.authorizeQuiet(c, acl.OpDescribe, acl.ResourceGroup, g.Group) {
			kept = append(kept, g)
		}
	}
	resp.Groups = kept
	return resp
}

// deleteGroups deletes the groups c may DELETE and answers the others
// GROUP_AUTHORIZATION_FAILED.
func (b *Backend) deleteGroups(ctx context.Context, c *Conn, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	if !b.authorizing(c) {
		return withVersion(req, b.Groups.DeleteGroups(ctx, req))
	}
	allowed := *req
	allowed.Groups = nil
	var refused []kmsg.DeleteGroupsResponseGroup
	for _, g := range req.Groups {
		if b.authorize(c, acl.OpDelete, acl.ResourceGroup, g) {
			allowed.Groups = append(allowed.Groups, g)
			continue
		}
		r := kmsg.NewDeleteGroupsResponseGroup()
		r.Group, r.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		refused = append(refused, r)
	}
	resp := respond[*kmsg.DeleteGroupsResponse](req)
	if len(allowed.Groups) > 0 {
		resp = withVersion(req, b.Groups.DeleteGroups(ctx, &allowed))
	}
	resp.Groups = append(resp.Groups, refused...)
	return resp
}
