package kafka

// AlterClientQuotas, versions 0-1.
//
// Sets and removes client quota values (producer_byte_rate,
// consumer_byte_rate, request_percentage) of user, client-id and (user,
// client-id) entities, a null name meaning the default. Each entry is
// answered on its own: an invalid entity, key or value (not positive, or a
// fractional byte rate), or an entity named twice, is INVALID_REQUEST and
// changes nothing; the valid entries commit together in one raft command
// (controller.AlterClientQuotas). ip entities and controller_mutation_rate
// are refused as unsupported. ValidateOnly checks without committing. Every
// entry needs ALTER_CONFIGS on the cluster (else CLUSTER_AUTHORIZATION_FAILED),
// as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// alterClientQuotasTimeoutMs bounds the commit: the request carries no
// timeout.
const alterClientQuotasTimeoutMs = 30000

// alterClientQuotasAPI declares AlterClientQuotas (key 49): its served versions and handler.
func (b *Backend) alterClientQuotasAPI() served {
	return served{key: 49, API: API{Min: 0, Max: 1, Handle: b.handleAlterClientQuotas}}
}

func (b *Backend) handleAlterClientQuotas(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.AlterClientQuotasRequest)
	principal := c.Principal()
	allowed := b.authorizeCluster(c, acl.OpAlterConfigs)
	return nil, pending(func(ctx context.Context) *kmsg.AlterClientQuotasResponse {
		resp := respond[*kmsg.AlterClientQuotasResponse](req)
		alts := make([]state.QuotaAlteration, len(req.Entries))
		errs := make([]error, len(req.Entries))
		var valid []int
		for i, re := range req.Entries {
			if !allowed {
				errs[i] = &controller.Error{Code: kerr.ClusterAuthorizationFailed, Message: "ALTER_CONFIGS on the cluster is needed to alter client quotas"}
				continue
			}
			parts := make([]state.QuotaEntityPart, 0, len(re.Entity))
			for _, p := range re.Entity {
				parts = append(parts, state.QuotaEntityPart{Type: p.Type, Name: p.Name})
			}
			entity, err := state.QuotaEntityFromParts(parts)
			if err != nil {
				errs[i] = &controller.Error{Code: kerr.InvalidRequest, Message: state.Reason(err)}
				continue
			}
			alts[i].Entity = entity
			for _, op := range re.Ops {
				alts[i].Ops = append(alts[i].Ops, state.QuotaOp{Key: op.Key, Value: op.Value, Remove: op.Remove})
			}
			valid = append(valid, i)
		}
		if len(valid) > 0 {
			ctx, cancel := withTimeout(ctx, alterClientQuotasTimeoutMs)
			defer cancel()
			batch := make([]state.QuotaAlteration, len(valid))
			for j, i := range valid {
				batch[j] = alts[i]
			}
			for j, err := range b.Controller.AlterClientQuotas(ctx, batch, req.ValidateOnly) {
				errs[valid[j]] = err
			}
		}
		for i, re := range req.Entries {
			e := kmsg.NewAlterClientQuotasResponseEntry()
			for _, p := range re.Entity {
				ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ee.Type, ee.Name = p.Type, p.Name
				e.Entity = append(e.Entity, ee)
			}
			e.ErrorCode, e.ErrorMessage = code(errs[i]), message(errs[i])
			if errs[i] == nil && !req.ValidateOnly {
				b.Logger.Info("client quotas altered", "principal", principal.String(), "client_id", c.ClientID,
					"entity", alts[i].Entity.Key(), "ops", len(alts[i].Ops))
			}
			resp.Entries = append(resp.Entries, e)
		}
		return resp
	}), nil
}
