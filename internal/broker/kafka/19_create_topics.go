package kafka

// CreateTopics, versions 0-7.
//
// Each topic is validated (name, partitions, replication factor, configs)
// and created as one metadata change with all its partitions, or refused with
// a code and a message: INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS,
// INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR (more than the live brokers),
// INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG. A name given twice in one request
// gets INVALID_REQUEST. A request adding more partitions, over all its
// topics, than --max-partitions-per-request, or a topic that would put a
// broker over --max-partitions-per-broker (or over what its open-files limit
// serves), gets POLICY_VIOLATION with a message naming the limit; the
// request-wide check runs before anything else, so even 100,000 partitions
// are refused at once. ValidateOnly checks without creating. The answer
// comes once the topic is committed and applied on this node, or at the
// request timeout with REQUEST_TIMED_OUT (NOT_CONTROLLER without a leader). v5+ responses
// carry the resulting partition count, replication factor and configs; v7 the
// topic id. With an authorizer each topic needs CREATE on the cluster or on
// the topic (TOPIC_AUTHORIZATION_FAILED), and its configs are answered only
// with DESCRIBE_CONFIGS on it (else ConfigErrorCode
// TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopicsAPI declares CreateTopics (key 19): its served versions and handler.
func (b *Backend) createTopicsAPI() served {
	return served{key: 19, API: API{Min: 0, Max: 7, Handle: b.handleCreateTopics}}
}

func (b *Backend) handleCreateTopics(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	return nil, pending(func(ctx context.Context) *kmsg.CreateTopicsResponse {
		ctx, cancel := withTimeout(ctx, req.TimeoutMillis)
		defer cancel()
		return b.createTopics(ctx, c, req)
	}), nil
}

func (b *Backend) createTopics(ctx context.Context, c *Conn, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := respond[*kmsg.CreateTopicsResponse](req)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	var denied map[string]bool
	if !b.authorizeQuiet(c, acl.OpCreate, acl.ResourceCluster, acl.ClusterName) {
		names := make([]string, len(req.Topics))
		for i, rt := range req.Topics {
			names[i] = rt.Topic
		}
		denied = b.deniedTopics(c, acl.OpCreate, names)
	}
	cts := make([]controller.CreateTopic, len(req.Topics))
	var total int64
	for i, rt := range req.Topics {
		cts[i] = createTopicRequest(rt, req.ValidateOnly)
		if !denied[rt.Topic] {
			total += b.Controller.TopicPartitions(cts[i], false)
		}
	}
	tooMany := b.Controller.CheckRequestPartitions("create topics", total)
	for i, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			m := "topic named more than once in the request"
			st.ErrorMessage = &m
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if denied[rt.Topic] {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			m := "CREATE on the cluster or on the topic is needed"
			st.ErrorMessage = &m
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if tooMany != nil {
			st.ErrorCode = code(tooMany)
			st.ErrorMessage = message(tooMany)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, err := b.Controller.CreateTopic(ctx, cts[i])
		if err != nil {
			st.ErrorCode = code(err)
			st.ErrorMessage = message(err)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st.TopicID = t.ID
		st.NumPartitions = int32(len(t.Partitions))
		st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
		if !b.authorizeQuiet(c, acl.OpDescribeConfigs, acl.ResourceTopic, rt.Topic) {
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		} else if eff, err := b.Controller.EffectiveConfig(t); err == nil {
			for _, e := range topicConfigEntries(eff, t.Configs, nil) {
				rc := kmsg.NewCreateTopicsResponseTopicConfig()
				rc.Name = e.Name
				rc.Value = e.Value
				rc.Source = int8(e.Source)
				st.Configs = append(st.Configs, rc)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// createTopicRequest is what the controller is asked for one topic.
func createTopicRequest(rt kmsg.CreateTopicsRequestTopic, validateOnly bool) controller.CreateTopic {
	ct := controller.CreateTopic{
		Name:              rt.Topic,
		Partitions:        rt.NumPartitions,
		ReplicationFactor: rt.ReplicationFactor,
		Configs:           map[string]string{},
		ValidateOnly:      validateOnly,
	}
	if len(rt.ReplicaAssignment) > 0 {
		ct.Assignment = map[int32][]int32{}
		for _, a := range rt.ReplicaAssignment {
			ct.Assignment[a.Partition] = a.Replicas
		}
	}
	for _, cfg := range rt.Configs {
		if cfg.Value != nil {
			ct.Configs[cfg.Name] = *cfg.Value
		}
	}
	return ct
}
