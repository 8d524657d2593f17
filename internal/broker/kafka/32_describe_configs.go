package kafka

// DescribeConfigs, versions 0-4.
//
// Topics (resource type 2) show every supported topic config with its
// effective value; overrides have source DYNAMIC_TOPIC_CONFIG, the rest
// DEFAULT_CONFIG. Brokers (type 4, name = node id or empty) show the node's
// static settings, read-only. Other resource types get INVALID_REQUEST.
// ConfigNames filters; synonyms (v1+) and documentation (v3+) on request.
// With an authorizer a topic needs DESCRIBE_CONFIGS on it
// (TOPIC_AUTHORIZATION_FAILED), a broker DESCRIBE_CONFIGS on the cluster
// (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"sort"
	"strconv"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type configEntry struct {
	Name     string
	Value    *string
	Source   kmsg.ConfigSource
	Type     kmsg.ConfigType
	ReadOnly bool
	Doc      string
}

// topicConfigTypes are the topic configs that are not longs.
var topicConfigTypes = map[string]kmsg.ConfigType{
	"min.insync.replicas":            kmsg.ConfigTypeInt,
	"max.message.bytes":              kmsg.ConfigTypeInt,
	"cleanup.policy":                 kmsg.ConfigTypeList,
	"min.cleanable.dirty.ratio":      kmsg.ConfigTypeDouble,
	"unclean.leader.election.enable": kmsg.ConfigTypeBoolean,
}

// topicConfigEntries lists a topic's effective configs, filtered by names
// when names is not nil.
func topicConfigEntries(eff topicconfig.Config, overrides map[string]string, names []string) []configEntry {
	keys := topicconfig.Names()
	if names != nil {
		keys = nil
		for _, n := range names {
			if topicconfig.IsKey(n) {
				keys = append(keys, n)
			}
		}
	}
	out := make([]configEntry, 0, len(keys))
	for _, k := range keys {
		v := eff.Value(k)
		e := configEntry{Name: k, Value: &v, Source: kmsg.ConfigSourceDefaultConfig, Type: kmsg.ConfigTypeLong, Doc: topicconfig.Doc(k)}
		if t, ok := topicConfigTypes[k]; ok {
			e.Type = t
		}
		if _, ok := overrides[k]; ok {
			e.Source = kmsg.ConfigSourceDynamicTopicConfig
		}
		out = append(out, e)
	}
	return out
}

func (b *Backend) brokerConfigEntries(names []string) []configEntry {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []configEntry
	for _, c := range b.BrokerConfigs {
		if names != nil && !want[c.Name] {
			continue
		}
		v := c.Value
		src := kmsg.ConfigSourceStaticBrokerConfig
		if c.IsDefault {
			src = kmsg.ConfigSourceDefaultConfig
		}
		out = append(out, configEntry{Name: c.Name, Value: &v, Source: src, Type: kmsg.ConfigTypeString, ReadOnly: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// describeConfigsAPI declares DescribeConfigs (key 32): its served versions and handler.
func (b *Backend) describeConfigsAPI() served {
	return served{key: 32, API: API{Min: 0, Max: 4, Handle: b.handleDescribeConfigs}}
}

func (b *Backend) handleDescribeConfigs(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := respond[*kmsg.DescribeConfigsResponse](req)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []configEntry
		if err := b.configRefusal(c, acl.OpDescribeConfigs, rr.ResourceType, rr.ResourceName); err != nil {
			sr.ErrorCode = err.Code
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := b.Meta.State().Topics[rr.ResourceName]
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			eff, err := b.Controller.EffectiveConfig(t)
			if err != nil {
				sr.ErrorCode = kerr.InvalidConfig.Code
				sr.ErrorMessage = message(err)
				break
			}
			entries = topicConfigEntries(eff, t.Configs, rr.ConfigNames)
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(b.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				m := "unknown broker " + rr.ResourceName
				sr.ErrorMessage = &m
				break
			}
			entries = b.brokerConfigEntries(rr.ConfigNames)
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			m := "unsupported resource type " + strconv.Itoa(int(rr.ResourceType))
			sr.ErrorMessage = &m
		}
		for _, e := range entries {
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name, rc.Value, rc.ReadOnly = e.Name, e.Value, e.ReadOnly
			rc.Source = e.Source
			rc.IsDefault = e.Source == kmsg.ConfigSourceDefaultConfig
			rc.ConfigType = e.Type
			if req.IncludeDocumentation && e.Doc != "" {
				d := e.Doc
				rc.Documentation = &d
			}
			if req.IncludeSynonyms {
				syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				syn.Name, syn.Value, syn.Source = e.Name, e.Value, e.Source
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn)
			}
			sr.Configs = append(sr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return done(resp)
}
