package kafka

// DescribeClientQuotas, versions 0-1.
//
// The client quotas stored in the replicated metadata whose entity matches
// the filter, with Kafka's semantics (state.MatchClientQuotas): each
// component asks an entity type for an exact name (MatchType 0), its default
// (1) or any name (2, the default included); strict leaves out entities with
// parts the filter does not name; no components and not strict is every
// entity. A malformed filter is INVALID_REQUEST, an unknown entity type
// UNSUPPORTED_VERSION, as in Kafka. It needs DESCRIBE_CONFIGS on the
// cluster (else CLUSTER_AUTHORIZATION_FAILED), as in Kafka.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// describeClientQuotasAPI declares DescribeClientQuotas (key 48): its served versions and handler.
func (b *Backend) describeClientQuotasAPI() served {
	return served{key: 48, API: API{Min: 0, Max: 1, Handle: b.handleDescribeClientQuotas}}
}

func (b *Backend) handleDescribeClientQuotas(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := respond[*kmsg.DescribeClientQuotasResponse](req)
	if !b.authorizeCluster(c, acl.OpDescribeConfigs) {
		msg := "DESCRIBE_CONFIGS on the cluster is needed to describe client quotas"
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, &msg
		return done(resp)
	}
	comps := make([]state.QuotaFilterComponent, 0, len(req.Components))
	for _, rc := range req.Components {
		comps = append(comps, state.QuotaFilterComponent{Type: rc.EntityType, Match: int8(rc.MatchType), Name: rc.Match})
	}
	matched, err := b.Meta.State().ClientQuotas.MatchClientQuotas(comps, req.Strict)
	if err != nil {
		ke := kerr.InvalidRequest
		if errors.Is(err, state.ErrQuotaFilterUnsupported) {
			ke = kerr.UnsupportedVersion
		}
		msg := err.Error()
		resp.ErrorCode, resp.ErrorMessage = ke.Code, &msg
		return done(resp)
	}
	for _, cq := range matched {
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, p := range cq.Entity.Parts() {
			re := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			re.Type, re.Name = p.Type, p.Name
			e.Entity = append(e.Entity, re)
		}
		for _, key := range state.QuotaKeys() {
			if v, ok := cq.Values[key]; ok {
				rv := kmsg.NewDescribeClientQuotasResponseEntryValue()
				rv.Key, rv.Value = key, v
				e.Values = append(e.Values, rv)
			}
		}
		resp.Entries = append(resp.Entries, e)
	}
	return done(resp)
}
