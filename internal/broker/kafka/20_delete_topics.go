package kafka

// DeleteTopics, versions 0-6.
//
// v6 may name topics by id. Deletion removes the topic from metadata, then its partition data.
// Unknown topics get UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID by id);
// internal topics are refused with INVALID_TOPIC_EXCEPTION. With an
// authorizer each topic needs DELETE (TOPIC_AUTHORIZATION_FAILED, asked
// before whether it exists); one named by id also DESCRIBE, else it is
// answered without its name.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteTopicsAPI declares DeleteTopics (key 20): its served versions and handler.
func (b *Backend) deleteTopicsAPI() served {
	return served{key: 20, API: API{Min: 0, Max: 6, Handle: b.handleDeleteTopics}}
}

func (b *Backend) handleDeleteTopics(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	return nil, pending(func(ctx context.Context) *kmsg.DeleteTopicsResponse {
		ctx, cancel := withTimeout(ctx, req.TimeoutMillis)
		defer cancel()
		return b.deleteTopics(ctx, c, req)
	}), nil
}

func (b *Backend) deleteTopics(ctx context.Context, c *Conn, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := respond[*kmsg.DeleteTopicsResponse](req)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.GetVersion() >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		name := ""
		switch {
		case tg.name != nil:
			name = *tg.name
		default:
			t, ok := b.Meta.State().TopicByID(tg.id)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			name = t.Name
			st.Topic = &name
			if !b.authorize(c, acl.OpDescribe, acl.ResourceTopic, name) {
				st.Topic, st.ErrorCode = nil, kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
		}
		if !b.authorize(c, acl.OpDelete, acl.ResourceTopic, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if t, ok := b.Meta.State().Topics[name]; ok {
			st.TopicID = t.ID
		}
		if err := b.Controller.DeleteTopic(ctx, name); err != nil {
			st.ErrorCode = code(err)
			st.ErrorMessage = message(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
