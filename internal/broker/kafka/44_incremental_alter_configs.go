package kafka

// IncrementalAlterConfigs, versions 0-1.
//
// Topic configs (see topicconfig.Names) can be SET or DELETEd; APPEND and
// SUBTRACT apply to the list configs (cleanup.policy), on the override or
// else the default, and to no other (INVALID_REQUEST, as Kafka). A resource's
// operations apply all or nothing, and take effect on its partitions at once.
// Broker configs are static (flags, environment, config file): INVALID_REQUEST.
// With an authorizer a topic needs ALTER_CONFIGS on it
// (TOPIC_AUTHORIZATION_FAILED), a broker ALTER_CONFIGS on the cluster
// (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterConfigsTimeoutMs bounds a change: the request carries no timeout.
const alterConfigsTimeoutMs = 30000

// incrementalAlterConfigsAPI declares IncrementalAlterConfigs (key 44): its served versions and handler.
func (b *Backend) incrementalAlterConfigsAPI() served {
	return served{key: 44, API: API{Min: 0, Max: 1, Handle: b.handleIncrementalAlterConfigs}}
}

func (b *Backend) handleIncrementalAlterConfigs(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	return nil, pending(func(ctx context.Context) *kmsg.IncrementalAlterConfigsResponse {
		ctx, cancel := withTimeout(ctx, alterConfigsTimeoutMs)
		defer cancel()
		return b.alterConfigs(ctx, c, req)
	}), nil
}

func (b *Backend) alterConfigs(ctx context.Context, c *Conn, req *kmsg.IncrementalAlterConfigsRequest) *kmsg.IncrementalAlterConfigsResponse {
	resp := respond[*kmsg.IncrementalAlterConfigsResponse](req)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if refused := b.configRefusal(c, acl.OpAlterConfigs, rr.ResourceType, rr.ResourceName); refused != nil {
			sr.ErrorCode = refused.Code
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			ops := make([]controller.ConfigOp, 0, len(rr.Configs))
			for _, cfg := range rr.Configs {
				ops = append(ops, controller.ConfigOp{Name: cfg.Name, Op: int8(cfg.Op), Value: cfg.Value})
			}
			err = b.Controller.AlterTopicConfigs(ctx, rr.ResourceName, ops, req.ValidateOnly)
		case kmsg.ConfigResourceTypeBroker:
			err = &controller.Error{Code: kerr.InvalidRequest, Message: "broker configs are static in chronik: set them with flags, CHRONIK_* variables or the config file"}
		default:
			err = &controller.Error{Code: kerr.InvalidRequest, Message: "unsupported resource type"}
		}
		if err != nil {
			sr.ErrorCode = code(err)
			sr.ErrorMessage = message(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}
