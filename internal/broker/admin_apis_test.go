package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// apiDirect sends req to the node itself (the client's seed broker), bypassing
// the client's sharding and coordinator routing, so that the broker's answer
// is seen exactly as it was sent.
func apiDirect[T kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) T {
	t.Helper()
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		t.Fatal("client has no seed broker")
	}
	resp, err := seeds[0].Request(testharness.Context(t, 20*time.Second), req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(T)
}

func apiStr(s string) *string { return &s }

func apiDeref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// apiErrName renders a Kafka error code for failure messages.
func apiErrName(code int16) string {
	if code == 0 {
		return "no error"
	}
	return kerr.ErrorForCode(code).Error()
}

func apiWantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantC := int16(0)
	if want != nil {
		wantC = want.Code
	}
	if got != wantC {
		t.Fatalf("%s: got %s, want %s", what, apiErrName(got), apiErrName(wantC))
	}
}

func apiTopicReq(name string, partitions int32, rf int16, configs map[string]string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, apiStr(v)
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

func apiCreateTopics(t *testing.T, cl *kgo.Client, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsResponse {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = validateOnly
	req.Topics = topics
	resp := apiDirect[*kmsg.CreateTopicsResponse](t, cl, req)
	if len(resp.Topics) != len(topics) {
		t.Fatalf("CreateTopics answered %d topics, asked %d", len(resp.Topics), len(topics))
	}
	return resp
}

// apiMetadata asks for the named topics, or for all of them when none are named.
func apiMetadata(t *testing.T, cl *kgo.Client, allowAutoCreate bool, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = allowAutoCreate
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = apiStr(name)
		req.Topics = append(req.Topics, rt)
	}
	return apiDirect[*kmsg.MetadataResponse](t, cl, req)
}

func apiMetadataTopic(resp *kmsg.MetadataResponse, name string) (kmsg.MetadataResponseTopic, bool) {
	for _, tp := range resp.Topics {
		if tp.Topic != nil && *tp.Topic == name {
			return tp, true
		}
	}
	return kmsg.MetadataResponseTopic{}, false
}

// apiTopicExists asks Metadata without auto-creation.
func apiTopicExists(t *testing.T, cl *kgo.Client, name string) bool {
	t.Helper()
	tp, ok := apiMetadataTopic(apiMetadata(t, cl, false, name), name)
	if !ok {
		t.Fatalf("metadata for %s: topic missing from the answer", name)
	}
	switch tp.ErrorCode {
	case 0:
		return true
	case kerr.UnknownTopicOrPartition.Code:
		return false
	}
	t.Fatalf("metadata for %s: %s", name, apiErrName(tp.ErrorCode))
	return false
}

// apiPartitionDirs lists the topic's partition directories on disk.
func apiPartitionDirs(t *testing.T, dataDir, topic string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dataDir, "logs", topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

type apiConfig struct {
	value     string
	source    kmsg.ConfigSource
	isDefault bool
	readOnly  bool
	doc       string
	typ       kmsg.ConfigType
}

func apiDescribeConfigs(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name string, names ...string) (kmsg.DescribeConfigsResponseResource, map[string]apiConfig) {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, names
	req.Resources = append(req.Resources, rr)
	resp := apiDirect[*kmsg.DescribeConfigsResponse](t, cl, req)
	if len(resp.Resources) != 1 {
		t.Fatalf("DescribeConfigs answered %d resources, asked 1", len(resp.Resources))
	}
	res := resp.Resources[0]
	out := map[string]apiConfig{}
	for _, c := range res.Configs {
		if _, dup := out[c.Name]; dup {
			t.Fatalf("DescribeConfigs lists %s twice", c.Name)
		}
		doc := ""
		if c.Documentation != nil {
			doc = *c.Documentation
		}
		out[c.Name] = apiConfig{value: apiDeref(c.Value), source: c.Source, isDefault: c.IsDefault, readOnly: c.ReadOnly, doc: doc, typ: c.ConfigType}
	}
	return res, out
}

func apiTopicConfigs(t *testing.T, cl *kgo.Client, topic string) map[string]apiConfig {
	t.Helper()
	res, cfgs := apiDescribeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, topic)
	apiWantCode(t, "describe configs of "+topic, res.ErrorCode, nil)
	return cfgs
}

type apiConfigOp struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

func apiSet(name, value string) apiConfigOp {
	return apiConfigOp{name, kmsg.IncrementalAlterConfigOpSet, &value}
}

func apiDel(name string) apiConfigOp {
	return apiConfigOp{name: name, op: kmsg.IncrementalAlterConfigOpDelete}
}

func apiAlterConfigs(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name string, validateOnly bool, ops ...apiConfigOp) kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	for _, o := range ops {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = o.name, o.op, o.value
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp := apiDirect[*kmsg.IncrementalAlterConfigsResponse](t, cl, req)
	if len(resp.Resources) != 1 {
		t.Fatalf("IncrementalAlterConfigs answered %d resources, asked 1", len(resp.Resources))
	}
	return resp.Resources[0]
}

// apiTopicDefaults is what a topic without overrides shows for each
// supported topic config on a node started with cfg.
func apiTopicDefaults(cfg broker.Config) map[string]string {
	return map[string]string{
		"retention.ms":                   strconv.FormatInt(cfg.RetentionMs, 10),
		"retention.bytes":                strconv.FormatInt(cfg.RetentionBytes, 10),
		"segment.bytes":                  strconv.FormatInt(cfg.SegmentBytes, 10),
		"segment.ms":                     strconv.FormatInt(cfg.SegmentMs, 10),
		"min.insync.replicas":            strconv.Itoa(int(cfg.MinInsyncReplicas)),
		"max.message.bytes":              strconv.Itoa(int(cfg.MaxMessageBytes)),
		"cleanup.policy":                 "delete",
		"min.cleanable.dirty.ratio":      "0.5",
		"min.compaction.lag.ms":          "0",
		"max.compaction.lag.ms":          "9223372036854775807",
		"delete.retention.ms":            "86400000",
		"replica.lag.time.max.ms":        strconv.FormatInt(cfg.ReplicaLagTimeMax.Milliseconds(), 10),
		"unclean.leader.election.enable": "false",
	}
}

type apiFetchPart struct {
	topic     string
	partition int32
	offset    int64
	maxBytes  int32 // partition max bytes
	epoch     int32 // current leader epoch, -1 unknown
}

func apiFetch(t *testing.T, cl *kgo.Client, maxWait time.Duration, minBytes, maxBytes int32, parts ...apiFetchPart) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = int32(maxWait.Milliseconds())
	req.MinBytes, req.MaxBytes = minBytes, maxBytes
	for _, p := range parts {
		i := slices.IndexFunc(req.Topics, func(rt kmsg.FetchRequestTopic) bool { return rt.Topic == p.topic })
		if i < 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = p.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p.partition, p.offset, p.maxBytes, p.epoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp := apiDirect[*kmsg.FetchResponse](t, cl, req)
	apiWantCode(t, "fetch", resp.ErrorCode, nil)
	return resp
}

func apiFetchedPartition(t *testing.T, resp *kmsg.FetchResponse, topic string, partition int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	for _, rt := range resp.Topics {
		if rt.Topic != topic {
			continue
		}
		for _, rp := range rt.Partitions {
			if rp.Partition == partition {
				return rp
			}
		}
	}
	t.Fatalf("fetch response has no %s[%d]", topic, partition)
	return kmsg.FetchResponseTopicPartition{}
}

// apiBatches splits fetched record bytes into whole, valid batches.
func apiBatches(t *testing.T, recs []byte) []batch.Header {
	t.Helper()
	bs, err := batch.Split(recs)
	if err != nil {
		t.Fatalf("fetched records do not split into batches: %v", err)
	}
	var hs []batch.Header
	for _, b := range bs {
		h, err := batch.Validate(b)
		if err != nil {
			t.Fatalf("fetched batch is not whole and valid: %v", err)
		}
		hs = append(hs, h)
	}
	return hs
}

func apiListOffset(t *testing.T, cl *kgo.Client, topic string, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := apiDirect[*kmsg.ListOffsetsResponse](t, cl, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets answered %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

// TestCreateTopics covers CreateTopics' defaults, refusals and validate-only
// mode over the wire.
func TestCreateTopics(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AutoCreateTopics = false
	cfg.DefaultPartitions = 3
	cfg.RetentionMs = 3600000
	cfg.SegmentBytes = 1 << 20
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	defaults := apiTopicDefaults(cfg)

	t.Run("broker defaults for -1", func(t *testing.T) {
		resp := apiCreateTopics(t, cl, false, apiTopicReq("c-defaults", -1, -1, nil))
		if resp.Version < 5 {
			t.Fatalf("CreateTopics negotiated v%d; this test needs v5+", resp.Version)
		}
		st := resp.Topics[0]
		apiWantCode(t, "create with -1/-1", st.ErrorCode, nil)
		if st.NumPartitions != 3 || st.ReplicationFactor != 1 {
			t.Fatalf("created with %d partitions, RF %d; want the broker defaults 3 and 1", st.NumPartitions, st.ReplicationFactor)
		}
		if resp.Version >= 7 && st.TopicID == ([16]byte{}) {
			t.Fatal("v7 response carries no topic id")
		}
		got := map[string]string{}
		for _, c := range st.Configs {
			got[c.Name] = apiDeref(c.Value)
			if c.Source != int8(kmsg.ConfigSourceDefaultConfig) {
				t.Errorf("config %s: source %d, want DEFAULT_CONFIG", c.Name, c.Source)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(defaults) {
			t.Fatalf("response configs %v, want %v", got, defaults)
		}
		md, ok := apiMetadataTopic(apiMetadata(t, cl, false, "c-defaults"), "c-defaults")
		if !ok || md.ErrorCode != 0 || len(md.Partitions) != 3 {
			t.Fatalf("metadata after create: %+v", md)
		}
		if resp.Version >= 7 && md.TopicID != st.TopicID {
			t.Fatalf("metadata topic id %x, create answered %x", md.TopicID, st.TopicID)
		}
		if dirs := apiPartitionDirs(t, cfg.DataDir, "c-defaults"); len(dirs) != 3 {
			t.Fatalf("partition directories on disk: %v, want 3", dirs)
		}
	})

	t.Run("overrides in the response", func(t *testing.T) {
		resp := apiCreateTopics(t, cl, false, apiTopicReq("c-overrides", 2, 1, map[string]string{"retention.ms": "1000", "max.message.bytes": "4096"}))
		st := resp.Topics[0]
		apiWantCode(t, "create with configs", st.ErrorCode, nil)
		if st.NumPartitions != 2 || st.ReplicationFactor != 1 {
			t.Fatalf("created with %d partitions, RF %d; want 2 and 1", st.NumPartitions, st.ReplicationFactor)
		}
		for _, c := range st.Configs {
			wantValue, wantSource := defaults[c.Name], kmsg.ConfigSourceDefaultConfig
			switch c.Name {
			case "retention.ms":
				wantValue, wantSource = "1000", kmsg.ConfigSourceDynamicTopicConfig
			case "max.message.bytes":
				wantValue, wantSource = "4096", kmsg.ConfigSourceDynamicTopicConfig
			}
			if apiDeref(c.Value) != wantValue || c.Source != int8(wantSource) {
				t.Errorf("config %s = %s (source %d), want %s (source %d)", c.Name, apiDeref(c.Value), c.Source, wantValue, wantSource)
			}
		}
		if len(st.Configs) != len(defaults) {
			t.Errorf("response lists %d configs, want %d", len(st.Configs), len(defaults))
		}
	})

	t.Run("replication factor above live brokers", func(t *testing.T) {
		st := apiCreateTopics(t, cl, false, apiTopicReq("c-rf3", 1, 3, nil)).Topics[0]
		apiWantCode(t, "RF 3 on one node", st.ErrorCode, kerr.InvalidReplicationFactor)
		if st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, "3") {
			t.Fatalf("error message %q should explain the replication factor", apiDeref(st.ErrorMessage))
		}
		if apiTopicExists(t, cl, "c-rf3") {
			t.Fatal("refused topic exists")
		}
	})

	t.Run("bad partition count", func(t *testing.T) {
		st := apiCreateTopics(t, cl, false, apiTopicReq("c-zero", 0, 1, nil)).Topics[0]
		apiWantCode(t, "0 partitions", st.ErrorCode, kerr.InvalidPartitions)
	})

	t.Run("already exists", func(t *testing.T) {
		before, _ := apiMetadataTopic(apiMetadata(t, cl, false, "c-defaults"), "c-defaults")
		st := apiCreateTopics(t, cl, false, apiTopicReq("c-defaults", 1, 1, nil)).Topics[0]
		apiWantCode(t, "create existing topic", st.ErrorCode, kerr.TopicAlreadyExists)
		if st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, "c-defaults") {
			t.Errorf("error message %q should name the topic", apiDeref(st.ErrorMessage))
		}
		after, _ := apiMetadataTopic(apiMetadata(t, cl, false, "c-defaults"), "c-defaults")
		if after.TopicID != before.TopicID || len(after.Partitions) != len(before.Partitions) {
			t.Fatal("the refused create changed the existing topic")
		}
	})

	t.Run("named twice in one request", func(t *testing.T) {
		resp := apiCreateTopics(t, cl, false, apiTopicReq("c-twice", 1, 1, nil), apiTopicReq("c-twice", 2, 1, nil))
		for i, st := range resp.Topics {
			apiWantCode(t, fmt.Sprintf("entry %d", i), st.ErrorCode, kerr.InvalidRequest)
		}
		if apiTopicExists(t, cl, "c-twice") {
			t.Fatal("topic named twice was created")
		}
	})

	t.Run("invalid configs", func(t *testing.T) {
		for _, tc := range []struct{ topic, key, value string }{
			{"c-unknown-key", "no.such.config", "1"},
			{"c-bad-value", "retention.ms", "soon"},
			{"c-below-min", "segment.bytes", "10"},
			{"c-policy", "cleanup.policy", "compaction"},
			{"c-lags", "max.compaction.lag.ms", "0"},
		} {
			st := apiCreateTopics(t, cl, false, apiTopicReq(tc.topic, 1, 1, map[string]string{tc.key: tc.value})).Topics[0]
			apiWantCode(t, fmt.Sprintf("%s=%s", tc.key, tc.value), st.ErrorCode, kerr.InvalidConfig)
			if st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, tc.key) {
				t.Errorf("%s=%s: message %q should name the key", tc.key, tc.value, apiDeref(st.ErrorMessage))
			}
			if apiTopicExists(t, cl, tc.topic) {
				t.Errorf("topic %s was created despite its invalid config", tc.topic)
			}
			if dirs := apiPartitionDirs(t, cfg.DataDir, tc.topic); len(dirs) != 0 {
				t.Errorf("refused topic has directories %v", dirs)
			}
		}
	})

	t.Run("validate only", func(t *testing.T) {
		st := apiCreateTopics(t, cl, true, apiTopicReq("c-validate", 4, 1, map[string]string{"retention.ms": "1000"})).Topics[0]
		apiWantCode(t, "validate-only create", st.ErrorCode, nil)
		if st.NumPartitions != 4 || st.ReplicationFactor != 1 {
			t.Errorf("validate-only answered %d partitions, RF %d; want 4 and 1", st.NumPartitions, st.ReplicationFactor)
		}
		if apiTopicExists(t, cl, "c-validate") {
			t.Fatal("validate-only created the topic")
		}
		if dirs := apiPartitionDirs(t, cfg.DataDir, "c-validate"); len(dirs) != 0 {
			t.Fatalf("validate-only created directories %v", dirs)
		}
		bad := apiCreateTopics(t, cl, true, apiTopicReq("c-validate", 1, 3, nil)).Topics[0]
		apiWantCode(t, "validate-only with RF 3", bad.ErrorCode, kerr.InvalidReplicationFactor)
		// The name is still free.
		real := apiCreateTopics(t, cl, false, apiTopicReq("c-validate", 4, 1, nil)).Topics[0]
		apiWantCode(t, "create after validate-only", real.ErrorCode, nil)
	})
}

// TestDeleteTopics deletes by name and by id, refuses unknown and internal
// topics, removes the data from disk, and lets the name be reused from scratch.
func TestDeleteTopics(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AutoCreateTopics = false
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	adm := inproc.NodeAdmin(t, n)

	deleteTopics := func(topics ...kmsg.DeleteTopicsRequestTopic) *kmsg.DeleteTopicsResponse {
		t.Helper()
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Topics = topics
		for _, tp := range topics {
			if tp.Topic != nil {
				req.TopicNames = append(req.TopicNames, *tp.Topic)
			}
		}
		resp := apiDirect[*kmsg.DeleteTopicsResponse](t, cl, req)
		if len(resp.Topics) != len(topics) {
			t.Fatalf("DeleteTopics answered %d topics, asked %d", len(resp.Topics), len(topics))
		}
		return resp
	}
	byName := func(name string) kmsg.DeleteTopicsRequestTopic {
		tp := kmsg.NewDeleteTopicsRequestTopic()
		tp.Topic = apiStr(name)
		return tp
	}

	createTopic(t, adm, "doomed", 2, nil)
	oldID, _ := apiMetadataTopic(apiMetadata(t, cl, false, "doomed"), "doomed")
	for p := int32(0); p < 2; p++ {
		if r := rawProduce(t, cl, "doomed", p, buildBatch(5, 20)); r.ErrorCode != 0 {
			t.Fatalf("produce to doomed[%d]: %s", p, apiErrName(r.ErrorCode))
		}
	}
	if dirs := apiPartitionDirs(t, cfg.DataDir, "doomed"); len(dirs) != 2 {
		t.Fatalf("partition directories before delete: %v", dirs)
	}

	t.Run("by name", func(t *testing.T) {
		st := deleteTopics(byName("doomed")).Topics[0]
		apiWantCode(t, "delete doomed", st.ErrorCode, nil)
		if apiDeref(st.Topic) != "doomed" {
			t.Errorf("response names %q", apiDeref(st.Topic))
		}
		if apiTopicExists(t, cl, "doomed") {
			t.Fatal("deleted topic still in metadata")
		}
		if dirs := apiPartitionDirs(t, cfg.DataDir, "doomed"); len(dirs) != 0 {
			t.Fatalf("partition directories left on disk: %v", dirs)
		}
		if r := rawProduce(t, cl, "doomed", 0, buildBatch(1, 1)); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("produce to deleted topic: %s, want UNKNOWN_TOPIC_OR_PARTITION", apiErrName(r.ErrorCode))
		}
	})

	t.Run("unknown", func(t *testing.T) {
		st := deleteTopics(byName("never-was")).Topics[0]
		apiWantCode(t, "delete unknown topic", st.ErrorCode, kerr.UnknownTopicOrPartition)
	})

	t.Run("by id", func(t *testing.T) {
		createTopic(t, adm, "by-id", 1, nil)
		md, _ := apiMetadataTopic(apiMetadata(t, cl, false, "by-id"), "by-id")
		tp := kmsg.NewDeleteTopicsRequestTopic()
		tp.TopicID = md.TopicID
		resp := deleteTopics(tp)
		if resp.Version < 6 {
			t.Fatalf("DeleteTopics negotiated v%d; deleting by id needs v6", resp.Version)
		}
		st := resp.Topics[0]
		apiWantCode(t, "delete by id", st.ErrorCode, nil)
		if apiDeref(st.Topic) != "by-id" || st.TopicID != md.TopicID {
			t.Errorf("response names %q / %x, want by-id / %x", apiDeref(st.Topic), st.TopicID, md.TopicID)
		}
		if apiTopicExists(t, cl, "by-id") {
			t.Fatal("topic deleted by id still in metadata")
		}
		if dirs := apiPartitionDirs(t, cfg.DataDir, "by-id"); len(dirs) != 0 {
			t.Fatalf("partition directories left on disk: %v", dirs)
		}
		again := deleteTopics(tp).Topics[0]
		apiWantCode(t, "delete by a gone id", again.ErrorCode, kerr.UnknownTopicID)
	})

	t.Run("internal topic refused", func(t *testing.T) {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g"}
		apiDirect[*kmsg.FindCoordinatorResponse](t, cl, fc) // creates __consumer_offsets
		if !apiTopicExists(t, cl, "__consumer_offsets") {
			t.Fatal("__consumer_offsets not created by FindCoordinator")
		}
		st := deleteTopics(byName("__consumer_offsets")).Topics[0]
		apiWantCode(t, "delete __consumer_offsets", st.ErrorCode, kerr.InvalidTopicException)
		if !apiTopicExists(t, cl, "__consumer_offsets") {
			t.Fatal("__consumer_offsets is gone")
		}
		if dirs := apiPartitionDirs(t, cfg.DataDir, "__consumer_offsets"); len(dirs) != int(cfg.OffsetsTopicPartitions) {
			t.Fatalf("__consumer_offsets directories: %v", dirs)
		}
	})

	t.Run("recreate starts at offset 0", func(t *testing.T) {
		createTopic(t, adm, "doomed", 1, nil)
		md, _ := apiMetadataTopic(apiMetadata(t, cl, false, "doomed"), "doomed")
		if md.TopicID == oldID.TopicID {
			t.Error("recreated topic has the deleted topic's id")
		}
		if o := apiListOffset(t, cl, "doomed", 0, -1); o.ErrorCode != 0 || o.Offset != 0 {
			t.Fatalf("end offset of the recreated topic: %d (%s), want 0", o.Offset, apiErrName(o.ErrorCode))
		}
		if r := rawProduce(t, cl, "doomed", 0, buildBatch(2, 7)); r.ErrorCode != 0 || r.BaseOffset != 0 {
			t.Fatalf("first produce to the recreated topic: base %d (%s), want 0", r.BaseOffset, apiErrName(r.ErrorCode))
		}
		fp := apiFetchedPartition(t, apiFetch(t, cl, 0, 0, 1<<20, apiFetchPart{"doomed", 0, 0, 1 << 20, -1}), "doomed", 0)
		apiWantCode(t, "fetch recreated topic", fp.ErrorCode, nil)
		hs := apiBatches(t, fp.RecordBatches)
		if len(hs) != 1 || hs[0].BaseOffset != 0 || hs[0].NumRecords != 2 || fp.HighWatermark != 2 {
			t.Fatalf("recreated topic holds %+v (hw %d); want only the new 2-record batch", hs, fp.HighWatermark)
		}
	})
}

func TestCreatePartitions(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AutoCreateTopics = false
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "grow", 1, nil)
	if r := rawProduce(t, cl, "grow", 0, buildBatch(3, 10)); r.ErrorCode != 0 {
		t.Fatalf("produce: %s", apiErrName(r.ErrorCode))
	}

	createPartitions := func(topic string, count int32, validateOnly bool, assignment ...[]int32) kmsg.CreatePartitionsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.ValidateOnly = validateOnly
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		for _, replicas := range assignment {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = replicas
			rt.Assignment = append(rt.Assignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp := apiDirect[*kmsg.CreatePartitionsResponse](t, cl, req)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreatePartitions answered %d topics", len(resp.Topics))
		}
		return resp.Topics[0]
	}
	partitions := func() int {
		md, _ := apiMetadataTopic(apiMetadata(t, cl, false, "grow"), "grow")
		return len(md.Partitions)
	}

	apiWantCode(t, "grow 1 -> 3", createPartitions("grow", 3, false).ErrorCode, nil)
	if got := partitions(); got != 3 {
		t.Fatalf("metadata shows %d partitions after growing to 3", got)
	}
	for p := int32(1); p < 3; p++ {
		if r := rawProduce(t, cl, "grow", p, buildBatch(2, 10)); r.ErrorCode != 0 || r.BaseOffset != 0 {
			t.Fatalf("produce to new partition %d: base %d (%s)", p, r.BaseOffset, apiErrName(r.ErrorCode))
		}
	}
	if o := apiListOffset(t, cl, "grow", 0, -1); o.Offset != 3 {
		t.Fatalf("partition 0 end offset %d after growing, want 3", o.Offset)
	}
	if dirs := apiPartitionDirs(t, cfg.DataDir, "grow"); len(dirs) != 3 {
		t.Fatalf("partition directories: %v", dirs)
	}

	for _, tc := range []struct {
		what  string
		count int32
	}{{"shrink 3 -> 2", 2}, {"same count 3", 3}} {
		st := createPartitions("grow", tc.count, false)
		apiWantCode(t, tc.what, st.ErrorCode, kerr.InvalidPartitions)
		if st.ErrorMessage == nil || *st.ErrorMessage == "" {
			t.Errorf("%s: no error message", tc.what)
		}
	}
	apiWantCode(t, "validate-only grow", createPartitions("grow", 5, true).ErrorCode, nil)
	apiWantCode(t, "assignment to a missing broker", createPartitions("grow", 4, false, []int32{cfg.NodeID + 1}).ErrorCode, kerr.InvalidReplicaAssignment)
	apiWantCode(t, "unknown topic", createPartitions("nope", 2, false).ErrorCode, kerr.UnknownTopicOrPartition)
	if got := partitions(); got != 3 {
		t.Fatalf("metadata shows %d partitions; refused and validate-only requests changed it", got)
	}
}

func TestDescribeConfigs(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.RetentionMs = 7200000
	cfg.MaxMessageBytes = 500000
	cfg.DefaultPartitions = 2
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "described", 1, map[string]*string{"retention.ms": apiStr("1234")})
	defaults := apiTopicDefaults(cfg)

	t.Run("topic", func(t *testing.T) {
		got := apiTopicConfigs(t, cl, "described")
		if len(got) != len(defaults) {
			t.Errorf("%d configs described, want the %d supported ones: %v", len(got), len(defaults), got)
		}
		for name, def := range defaults {
			c, ok := got[name]
			if !ok {
				t.Errorf("%s not described", name)
				continue
			}
			wantValue, wantSource := def, kmsg.ConfigSourceDefaultConfig
			if name == "retention.ms" {
				wantValue, wantSource = "1234", kmsg.ConfigSourceDynamicTopicConfig
			}
			if c.value != wantValue || c.source != wantSource {
				t.Errorf("%s = %s (source %v), want %s (source %v)", name, c.value, c.source, wantValue, wantSource)
			}
			if c.readOnly {
				t.Errorf("%s is read-only; topic configs can be altered", name)
			}
			if c.doc == "" {
				t.Errorf("%s has no documentation", name)
			}
		}
		if got["retention.ms"].typ != kmsg.ConfigTypeLong || got["cleanup.policy"].typ != kmsg.ConfigTypeList {
			t.Errorf("config types: retention.ms %v, cleanup.policy %v", got["retention.ms"].typ, got["cleanup.policy"].typ)
		}
	})

	t.Run("v0 IsDefault", func(t *testing.T) {
		// Before Source (v1) the only provenance is IsDefault.
		res, got := apiDescribeConfigs(t, inproc.NodeClient(t, n, kgo.MaxVersions(kversion.V0_11_0())), kmsg.ConfigResourceTypeTopic, "described")
		apiWantCode(t, "describe at v0", res.ErrorCode, nil)
		if len(got) != len(defaults) {
			t.Fatalf("%d configs described at v0, want %d", len(got), len(defaults))
		}
		for name, c := range got {
			if c.isDefault != (name != "retention.ms") {
				t.Errorf("v0 %s: IsDefault %v", name, c.isDefault)
			}
		}
	})

	t.Run("filtered by name", func(t *testing.T) {
		res, got := apiDescribeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "described", "max.message.bytes", "no.such.config")
		apiWantCode(t, "describe filtered", res.ErrorCode, nil)
		if len(got) != 1 || got["max.message.bytes"].value != "500000" {
			t.Fatalf("filtered describe: %v", got)
		}
	})

	t.Run("unknown topic", func(t *testing.T) {
		res, got := apiDescribeConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "nope")
		apiWantCode(t, "describe unknown topic", res.ErrorCode, kerr.UnknownTopicOrPartition)
		if len(got) != 0 {
			t.Fatalf("unknown topic has configs: %v", got)
		}
	})

	t.Run("broker", func(t *testing.T) {
		for _, name := range []string{"1", ""} {
			res, got := apiDescribeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, name)
			apiWantCode(t, fmt.Sprintf("describe broker %q", name), res.ErrorCode, nil)
			if len(got) == 0 {
				t.Fatalf("broker %q: no configs", name)
			}
			for k, c := range got {
				if !c.readOnly {
					t.Errorf("broker config %s is not read-only", k)
				}
			}
			want := map[string]apiConfig{
				"broker.id":         {value: "1", source: kmsg.ConfigSourceDefaultConfig},
				"num.partitions":    {value: "2", source: kmsg.ConfigSourceStaticBrokerConfig},
				"log.retention.ms":  {value: "7200000", source: kmsg.ConfigSourceStaticBrokerConfig},
				"message.max.bytes": {value: "500000", source: kmsg.ConfigSourceStaticBrokerConfig},
				"log.dirs":          {value: cfg.DataDir, source: kmsg.ConfigSourceStaticBrokerConfig},
			}
			for k, w := range want {
				if c := got[k]; c.value != w.value || c.source != w.source {
					t.Errorf("broker %q: %s = %q (source %v), want %q (source %v)", name, k, c.value, c.source, w.value, w.source)
				}
			}
		}
		res, _ := apiDescribeConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "99")
		apiWantCode(t, "describe another broker", res.ErrorCode, kerr.InvalidRequest)
	})

	t.Run("unsupported resource type", func(t *testing.T) {
		res, _ := apiDescribeConfigs(t, cl, kmsg.ConfigResourceTypeBrokerLogger, "1")
		apiWantCode(t, "describe broker logger", res.ErrorCode, kerr.InvalidRequest)
	})
}

// TestIncrementalAlterConfigs: SET and DELETE apply at once, all or nothing,
// and survive a restart; what cannot be altered is refused.
func TestIncrementalAlterConfigs(t *testing.T) {
	cfg := inproc.Config(t)
	defaults := apiTopicDefaults(cfg)
	n := inproc.Launch(t, cfg)
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "alter", 1, nil)
	const topicRes = kmsg.ConfigResourceTypeTopic

	check := func(cl *kgo.Client, want map[string]string) {
		t.Helper()
		got := apiTopicConfigs(t, cl, "alter")
		for name, def := range defaults {
			wantValue, wantSource := def, kmsg.ConfigSourceDefaultConfig
			if v, ok := want[name]; ok {
				wantValue, wantSource = v, kmsg.ConfigSourceDynamicTopicConfig
			}
			if c := got[name]; c.value != wantValue || c.source != wantSource {
				t.Errorf("%s = %q (source %v), want %q (source %v)", name, c.value, c.source, wantValue, wantSource)
			}
		}
	}

	apiWantCode(t, "SET two configs", apiAlterConfigs(t, cl, topicRes, "alter", false, apiSet("retention.ms", "5000"), apiSet("segment.bytes", "2097152")).ErrorCode, nil)
	check(cl, map[string]string{"retention.ms": "5000", "segment.bytes": "2097152"})

	apiWantCode(t, "SET and DELETE", apiAlterConfigs(t, cl, topicRes, "alter", false, apiSet("retention.bytes", "100000"), apiDel("retention.ms")).ErrorCode, nil)
	state := map[string]string{"segment.bytes": "2097152", "retention.bytes": "100000"}
	check(cl, state)

	apiWantCode(t, "DELETE of a config that is not set", apiAlterConfigs(t, cl, topicRes, "alter", false, apiDel("segment.ms")).ErrorCode, nil)
	check(cl, state)

	refusals := []struct {
		what string
		ops  []apiConfigOp
		code *kerr.Error
		key  string // the message must name it
	}{
		{"APPEND to a non-list", []apiConfigOp{{"retention.ms", kmsg.IncrementalAlterConfigOpAppend, apiStr("1")}}, kerr.InvalidRequest, "retention.ms"},
		{"SUBTRACT from a non-list", []apiConfigOp{{"segment.ms", kmsg.IncrementalAlterConfigOpSubtract, apiStr("1")}}, kerr.InvalidRequest, "segment.ms"},
		{"APPEND to a non-list after a valid SET", []apiConfigOp{apiSet("retention.bytes", "1"), {"retention.ms", kmsg.IncrementalAlterConfigOpAppend, apiStr("1")}}, kerr.InvalidRequest, "retention.ms"},
		{"SUBTRACT of every policy", []apiConfigOp{{"cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, apiStr("delete")}}, kerr.InvalidConfig, "cleanup.policy"},
		{"APPEND of an unknown policy", []apiConfigOp{{"cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, apiStr("gc")}}, kerr.InvalidConfig, "cleanup.policy"},
		{"unknown key", []apiConfigOp{apiSet("no.such.config", "1")}, kerr.InvalidConfig, "no.such.config"},
		{"bad value after a valid SET", []apiConfigOp{apiSet("retention.ms", "1"), apiSet("segment.bytes", "12")}, kerr.InvalidConfig, "segment.bytes"},
		{"unknown policy", []apiConfigOp{apiSet("cleanup.policy", "compact,gc")}, kerr.InvalidConfig, "cleanup.policy"},
		{"lags out of order", []apiConfigOp{apiSet("min.compaction.lag.ms", "1000"), apiSet("max.compaction.lag.ms", "999")}, kerr.InvalidConfig, "max.compaction.lag.ms"},
		{"SET without a value", []apiConfigOp{{name: "retention.ms", op: kmsg.IncrementalAlterConfigOpSet}}, kerr.InvalidConfig, "retention.ms"},
	}
	for _, r := range refusals {
		res := apiAlterConfigs(t, cl, topicRes, "alter", false, r.ops...)
		apiWantCode(t, r.what, res.ErrorCode, r.code)
		if res.ErrorMessage == nil || !strings.Contains(*res.ErrorMessage, r.key) {
			t.Errorf("%s: message %q should name %s", r.what, apiDeref(res.ErrorMessage), r.key)
		}
	}
	check(cl, state) // a refused resource changes nothing

	// cleanup.policy is a list: APPEND and SUBTRACT edit the current value
	// (the default when the topic has no override), as in Kafka.
	apiWantCode(t, "APPEND compact", apiAlterConfigs(t, cl, topicRes, "alter", false, apiConfigOp{"cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, apiStr("compact")}).ErrorCode, nil)
	state["cleanup.policy"] = "compact,delete"
	check(cl, state)
	apiWantCode(t, "SUBTRACT delete", apiAlterConfigs(t, cl, topicRes, "alter", false, apiConfigOp{"cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, apiStr("delete")}).ErrorCode, nil)
	state["cleanup.policy"] = "compact"
	check(cl, state)

	apiWantCode(t, "validate-only SET", apiAlterConfigs(t, cl, topicRes, "alter", true, apiSet("segment.ms", "1000")).ErrorCode, nil)
	check(cl, state)
	apiWantCode(t, "validate-only bad SET", apiAlterConfigs(t, cl, topicRes, "alter", true, apiSet("segment.ms", "0")).ErrorCode, kerr.InvalidConfig)

	apiWantCode(t, "broker resource", apiAlterConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "1", false, apiSet("log.retention.ms", "1")).ErrorCode, kerr.InvalidRequest)
	apiWantCode(t, "unknown topic", apiAlterConfigs(t, cl, topicRes, "nope", false, apiSet("retention.ms", "1")).ErrorCode, kerr.UnknownTopicOrPartition)

	// Overrides are persisted: a restarted node still has them.
	cl.Close()
	inproc.CloseNode(t, n)
	n2 := inproc.StartNode(t, cfg)
	check(inproc.NodeClient(t, n2), state)
}

// TestAlterMaxMessageBytesAppliesAtOnce: a changed max.message.bytes decides
// the very next produce.
func TestAlterMaxMessageBytesAppliesAtOnce(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "mmb", 1, nil)
	big := buildBatch(1, 4000)
	small := buildBatch(1, 100)
	if r := rawProduce(t, cl, "mmb", 0, big); r.ErrorCode != 0 {
		t.Fatalf("4 KB batch under the default limit: %s", apiErrName(r.ErrorCode))
	}
	apiWantCode(t, "SET max.message.bytes", apiAlterConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "mmb", false, apiSet("max.message.bytes", "2048")).ErrorCode, nil)
	if r := rawProduce(t, cl, "mmb", 0, big); r.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("4 KB batch over a 2048 limit: %s, want MESSAGE_TOO_LARGE", apiErrName(r.ErrorCode))
	}
	if r := rawProduce(t, cl, "mmb", 0, small); r.ErrorCode != 0 || r.BaseOffset != 1 {
		t.Fatalf("small batch: base %d (%s), want 1", r.BaseOffset, apiErrName(r.ErrorCode))
	}
	apiWantCode(t, "DELETE max.message.bytes", apiAlterConfigs(t, cl, kmsg.ConfigResourceTypeTopic, "mmb", false, apiDel("max.message.bytes")).ErrorCode, nil)
	if r := rawProduce(t, cl, "mmb", 0, big); r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Fatalf("4 KB batch back under the default: base %d (%s), want 2", r.BaseOffset, apiErrName(r.ErrorCode))
	}
}

func TestDescribeCluster(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.NodeID = 7
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 1
	resp := apiDirect[*kmsg.DescribeClusterResponse](t, cl, req)
	apiWantCode(t, "describe cluster", resp.ErrorCode, nil)
	md := apiMetadata(t, cl, false)
	if resp.ClusterID == "" || md.ClusterID == nil || resp.ClusterID != *md.ClusterID {
		t.Errorf("cluster id %q, apiMetadata says %q", resp.ClusterID, apiDeref(md.ClusterID))
	}
	if resp.ControllerID != 7 {
		t.Errorf("controller %d, want node 7", resp.ControllerID)
	}
	if len(resp.Brokers) != 1 {
		t.Fatalf("brokers %+v, want this node alone", resp.Brokers)
	}
	b := resp.Brokers[0]
	if addr := fmt.Sprintf("%s:%d", b.Host, b.Port); b.NodeID != 7 || addr != n.Addrs().AdvertiseKafka {
		t.Errorf("broker %d at %s, want 7 at %s", b.NodeID, addr, n.Addrs().AdvertiseKafka)
	}
}

func TestMetadata(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.NodeID = 7
	cfg.DefaultPartitions = 2
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "plain", 3, nil)

	// Using a group creates the internal offsets topic.
	ctx := testharness.Context(t, 10*time.Second)
	commits, err := adm.CommitOffsets(ctx, "grp", kadm.OffsetsList{{Topic: "plain", Partition: 0, At: 0, LeaderEpoch: -1}}.Offsets())
	if err == nil {
		err = commits.Error()
	}
	if err != nil {
		t.Fatalf("commit offsets: %v", err)
	}

	checkPartitions := func(tp kmsg.MetadataResponseTopic, want int) {
		t.Helper()
		name := apiDeref(tp.Topic)
		if len(tp.Partitions) != want {
			t.Fatalf("%s has %d partitions, want %d", name, len(tp.Partitions), want)
		}
		for i, p := range tp.Partitions {
			if p.Partition != int32(i) || p.ErrorCode != 0 || p.Leader != 7 || p.LeaderEpoch < 0 ||
				!slices.Equal(p.Replicas, []int32{7}) || !slices.Equal(p.ISR, []int32{7}) || len(p.OfflineReplicas) != 0 {
				t.Errorf("%s[%d]: %+v; want leader, replicas and ISR = node 7", name, i, p)
			}
		}
	}

	t.Run("all topics", func(t *testing.T) {
		md := apiMetadata(t, cl, false)
		if md.ControllerID != 7 || len(md.Brokers) != 1 || md.Brokers[0].NodeID != 7 || md.ClusterID == nil {
			t.Errorf("controller %d, brokers %+v, cluster %s", md.ControllerID, md.Brokers, apiDeref(md.ClusterID))
		}
		var names []string
		for _, tp := range md.Topics {
			names = append(names, apiDeref(tp.Topic))
			apiWantCode(t, "topic "+apiDeref(tp.Topic), tp.ErrorCode, nil)
			if tp.TopicID == ([16]byte{}) {
				t.Errorf("%s has no topic id", apiDeref(tp.Topic))
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"__consumer_offsets", "plain"}) {
			t.Fatalf("all-topics apiMetadata lists %v", names)
		}
		offsets, _ := apiMetadataTopic(md, "__consumer_offsets")
		plain, _ := apiMetadataTopic(md, "plain")
		if !offsets.IsInternal || plain.IsInternal {
			t.Errorf("internal flags: __consumer_offsets %v, plain %v", offsets.IsInternal, plain.IsInternal)
		}
		checkPartitions(offsets, int(cfg.OffsetsTopicPartitions))
		checkPartitions(plain, 3)

		// Clients rely on the flag to hide internal topics.
		listed, err := adm.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if listed.Has("__consumer_offsets") || !listed.Has("plain") {
			t.Errorf("kadm ListTopics = %v", listed.Names())
		}
	})

	t.Run("auto-creation not allowed by the request", func(t *testing.T) {
		tp, _ := apiMetadataTopic(apiMetadata(t, cl, false, "auto-no"), "auto-no")
		apiWantCode(t, "metadata without auto-create", tp.ErrorCode, kerr.UnknownTopicOrPartition)
		if _, ok := apiMetadataTopic(apiMetadata(t, cl, false), "auto-no"); ok {
			t.Fatal("topic was created although the request did not allow it")
		}
	})

	t.Run("auto-creation allowed", func(t *testing.T) {
		tp, _ := apiMetadataTopic(apiMetadata(t, cl, true, "auto-yes"), "auto-yes")
		apiWantCode(t, "metadata with auto-create", tp.ErrorCode, nil)
		checkPartitions(tp, int(cfg.DefaultPartitions))
		if tp.IsInternal {
			t.Error("auto-created topic is marked internal")
		}
		if dirs := apiPartitionDirs(t, cfg.DataDir, "auto-yes"); len(dirs) != int(cfg.DefaultPartitions) {
			t.Fatalf("auto-created topic directories: %v", dirs)
		}
	})

	t.Run("unknown topic id", func(t *testing.T) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = [16]byte{1, 2, 3}
		req.Topics = append(req.Topics, rt)
		resp := apiDirect[*kmsg.MetadataResponse](t, cl, req)
		if resp.Version < 10 {
			t.Skipf("Metadata negotiated v%d; topic ids need v10", resp.Version)
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("answered %d topics", len(resp.Topics))
		}
		apiWantCode(t, "metadata by unknown id", resp.Topics[0].ErrorCode, kerr.UnknownTopicID)
	})

	t.Run("auto-creation disabled on the broker", func(t *testing.T) {
		off := inproc.Config(t)
		off.AutoCreateTopics = false
		n2 := inproc.StartNode(t, off)
		cl2 := inproc.NodeClient(t, n2)
		tp, _ := apiMetadataTopic(apiMetadata(t, cl2, true, "auto-off"), "auto-off")
		apiWantCode(t, "metadata with auto-create on a broker without it", tp.ErrorCode, kerr.UnknownTopicOrPartition)
		if len(apiMetadata(t, cl2, false).Topics) != 0 {
			t.Fatal("a topic was created")
		}
	})
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "ofle", 2, nil)
	if r := rawProduce(t, cl, "ofle", 0, buildBatch(5, 10)); r.ErrorCode != 0 {
		t.Fatalf("produce: %s", apiErrName(r.ErrorCode))
	}
	ask := func(topic string, partition, epoch, current int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = partition, epoch, current
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := apiDirect[*kmsg.OffsetForLeaderEpochResponse](t, cl, req)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("OffsetForLeaderEpoch answered %+v", resp.Topics)
		}
		return resp.Topics[0].Partitions[0]
	}
	if p := ask("ofle", 0, 0, -1); p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 5 {
		t.Errorf("epoch 0 of a 5-record partition: epoch %d end %d (%s), want 0 / 5", p.LeaderEpoch, p.EndOffset, apiErrName(p.ErrorCode))
	}
	if p := ask("ofle", 0, 0, 0); p.ErrorCode != 0 || p.EndOffset != 5 {
		t.Errorf("with current epoch 0: end %d (%s), want 5", p.EndOffset, apiErrName(p.ErrorCode))
	}
	if p := ask("ofle", 1, 0, -1); p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 0 {
		t.Errorf("epoch 0 of an empty partition: epoch %d end %d (%s), want 0 / 0", p.LeaderEpoch, p.EndOffset, apiErrName(p.ErrorCode))
	}
	apiWantCode(t, "current epoch 5", ask("ofle", 0, 0, 5).ErrorCode, kerr.UnknownLeaderEpoch)
	apiWantCode(t, "unknown partition", ask("ofle", 9, 0, -1).ErrorCode, kerr.UnknownTopicOrPartition)
	apiWantCode(t, "unknown topic", ask("nope", 0, 0, -1).ErrorCode, kerr.UnknownTopicOrPartition)
}

func TestListOffsetsUnknownPartition(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AutoCreateTopics = false
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "lo", 1, nil)
	for _, ts := range []int64{-1, -2} {
		if o := apiListOffset(t, cl, "lo", 0, ts); o.ErrorCode != 0 || o.Offset != 0 {
			t.Errorf("lo[0] at %d: offset %d (%s), want 0", ts, o.Offset, apiErrName(o.ErrorCode))
		}
		for _, tc := range []struct {
			topic     string
			partition int32
		}{{"lo", 1}, {"lo", -1}, {"nope", 0}} {
			o := apiListOffset(t, cl, tc.topic, tc.partition, ts)
			apiWantCode(t, fmt.Sprintf("%s[%d] at %d", tc.topic, tc.partition, ts), o.ErrorCode, kerr.UnknownTopicOrPartition)
			if o.Offset != -1 {
				t.Errorf("%s[%d]: offset %d with an error, want -1", tc.topic, tc.partition, o.Offset)
			}
		}
	}
	if apiTopicExists(t, cl, "nope") {
		t.Fatal("ListOffsets created a topic")
	}
}

// TestFetchErrors: fenced epochs and bad offsets are answered at once, even
// from a long poll.
func TestFetchErrors(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AutoCreateTopics = false
	n := inproc.StartNode(t, cfg)
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "fe", 1, nil)
	if r := rawProduce(t, cl, "fe", 0, buildBatch(3, 10)); r.ErrorCode != 0 {
		t.Fatalf("produce: %s", apiErrName(r.ErrorCode))
	}
	const maxWait = 5 * time.Second
	tests := []struct {
		what string
		part apiFetchPart
		want *kerr.Error
	}{
		{"newer leader epoch", apiFetchPart{"fe", 0, 0, 1 << 20, 5}, kerr.UnknownLeaderEpoch},
		{"offset beyond the log end", apiFetchPart{"fe", 0, 100, 1 << 20, -1}, kerr.OffsetOutOfRange},
		{"offset just past the log end", apiFetchPart{"fe", 0, 4, 1 << 20, -1}, kerr.OffsetOutOfRange},
		{"negative offset", apiFetchPart{"fe", 0, -5, 1 << 20, -1}, kerr.OffsetOutOfRange},
		{"unknown partition", apiFetchPart{"fe", 3, 0, 1 << 20, -1}, kerr.UnknownTopicOrPartition},
		{"unknown topic", apiFetchPart{"nope", 0, 0, 1 << 20, -1}, kerr.UnknownTopicOrPartition},
	}
	for _, tc := range tests {
		start := time.Now()
		fp := apiFetchedPartition(t, apiFetch(t, cl, maxWait, 1, 1<<20, tc.part), tc.part.topic, tc.part.partition)
		apiWantCode(t, tc.what, fp.ErrorCode, tc.want)
		if len(fp.RecordBatches) != 0 {
			t.Errorf("%s: %d bytes of records with an error", tc.what, len(fp.RecordBatches))
		}
		if took := time.Since(start); took >= maxWait {
			t.Errorf("%s: answered after %v; an error should end the long poll", tc.what, took)
		}
		if tc.want == kerr.OffsetOutOfRange && (fp.HighWatermark != 3 || fp.LogStartOffset != 0) {
			t.Errorf("%s: high watermark %d, log start %d; the client needs them to reset (want 3, 0)", tc.what, fp.HighWatermark, fp.LogStartOffset)
		}
	}
	// The current epoch and the log end itself are fine.
	fp := apiFetchedPartition(t, apiFetch(t, cl, 0, 0, 1<<20, apiFetchPart{"fe", 0, 0, 1 << 20, 0}), "fe", 0)
	if fp.ErrorCode != 0 || len(apiBatches(t, fp.RecordBatches)) != 1 {
		t.Errorf("fetch with the current epoch: %s, %d bytes", apiErrName(fp.ErrorCode), len(fp.RecordBatches))
	}
	fp = apiFetchedPartition(t, apiFetch(t, cl, 0, 0, 1<<20, apiFetchPart{"fe", 0, 3, 1 << 20, -1}), "fe", 0)
	if fp.ErrorCode != 0 || len(fp.RecordBatches) != 0 || fp.HighWatermark != 3 {
		t.Errorf("fetch at the log end: %s, %d bytes, hw %d; want no error, nothing, hw 3", apiErrName(fp.ErrorCode), len(fp.RecordBatches), fp.HighWatermark)
	}
}

// TestFetchLongPollWakesOnProduce: a fetch waiting for data on an empty
// partition is answered when a produce commits, not when MaxWait runs out.
func TestFetchLongPollWakesOnProduce(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	createTopic(t, inproc.NodeAdmin(t, n), "lp", 1, nil)
	consumer := inproc.NodeClient(t, n)
	producer := inproc.NodeClient(t, n)
	const maxWait = 5 * time.Second

	type result struct {
		resp *kmsg.FetchResponse
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	ctx := testharness.Context(t, 30*time.Second)
	go func() {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes = int32(maxWait.Milliseconds()), 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "lp"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		resp, err := consumer.SeedBrokers()[0].Request(ctx, req)
		r := result{err: err, took: time.Since(start)}
		if err == nil {
			r.resp = resp.(*kmsg.FetchResponse)
		}
		done <- r
	}()

	if r := rawProduce(t, producer, "lp", 0, buildBatch(4, 10)); r.ErrorCode != 0 {
		t.Fatalf("produce: %s", apiErrName(r.ErrorCode))
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * maxWait):
		t.Fatal("the long poll did not answer within twice its MaxWait")
	}
	if r.err != nil {
		t.Fatalf("fetch: %v", r.err)
	}
	fp := apiFetchedPartition(t, r.resp, "lp", 0)
	apiWantCode(t, "long poll", fp.ErrorCode, nil)
	hs := apiBatches(t, fp.RecordBatches)
	if len(hs) != 1 || hs[0].BaseOffset != 0 || hs[0].NumRecords != 4 || fp.HighWatermark != 4 {
		t.Fatalf("long poll returned %+v (hw %d); want the produced 4-record batch", hs, fp.HighWatermark)
	}
	if r.took >= maxWait {
		t.Fatalf("long poll answered after %v, not before its MaxWait %v", r.took, maxWait)
	}
}

// TestFetchOversizedFirstBatch: a batch larger than the fetch limits is still
// returned whole when it is the first data of the response (KIP-74), and the
// limits hold for everything after it.
func TestFetchOversizedFirstBatch(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	cl := inproc.NodeClient(t, n)
	createTopic(t, inproc.NodeAdmin(t, n), "big", 2, nil)
	big := buildBatch(1, 20000)
	small := buildBatch(2, 10)
	for p := int32(0); p < 2; p++ {
		if r := rawProduce(t, cl, "big", p, big); r.ErrorCode != 0 {
			t.Fatalf("produce big to %d: %s", p, apiErrName(r.ErrorCode))
		}
	}
	if r := rawProduce(t, cl, "big", 0, small); r.ErrorCode != 0 || r.BaseOffset != 1 {
		t.Fatalf("produce small: base %d (%s)", r.BaseOffset, apiErrName(r.ErrorCode))
	}

	resp := apiFetch(t, cl, 0, 0, 1000, apiFetchPart{"big", 0, 0, 1000, -1}, apiFetchPart{"big", 1, 0, 1000, -1})
	p0, p1 := apiFetchedPartition(t, resp, "big", 0), apiFetchedPartition(t, resp, "big", 1)
	apiWantCode(t, "partition 0", p0.ErrorCode, nil)
	apiWantCode(t, "partition 1", p1.ErrorCode, nil)
	if len(p0.RecordBatches) != len(big) {
		t.Fatalf("first partition got %d bytes; want the whole %d-byte batch", len(p0.RecordBatches), len(big))
	}
	if hs := apiBatches(t, p0.RecordBatches); len(hs) != 1 || hs[0].BaseOffset != 0 {
		t.Fatalf("first partition got batches %+v", hs)
	}
	if len(p1.RecordBatches) != 0 || p1.HighWatermark != 1 {
		t.Fatalf("second partition got %d bytes (hw %d); MaxBytes was used up by the first", len(p1.RecordBatches), p1.HighWatermark)
	}

	// The partition limit keeps the next batch out once one was returned.
	p0 = apiFetchedPartition(t, apiFetch(t, cl, 0, 0, 1<<20, apiFetchPart{"big", 0, 0, 1000, -1}), "big", 0)
	if hs := apiBatches(t, p0.RecordBatches); len(hs) != 1 || len(p0.RecordBatches) != len(big) {
		t.Fatalf("with PartitionMaxBytes 1000 got %d batches, %d bytes; want only the big one", len(hs), len(p0.RecordBatches))
	}
	p0 = apiFetchedPartition(t, apiFetch(t, cl, 0, 0, 1<<20, apiFetchPart{"big", 0, 0, 1 << 20, -1}), "big", 0)
	if hs := apiBatches(t, p0.RecordBatches); len(hs) != 2 || hs[1].BaseOffset != 1 {
		t.Fatalf("with room for both got %+v", hs)
	}
	p0 = apiFetchedPartition(t, apiFetch(t, cl, 0, 0, 1<<20, apiFetchPart{"big", 0, 1, 10, -1}), "big", 0)
	if hs := apiBatches(t, p0.RecordBatches); len(hs) != 1 || hs[0].BaseOffset != 1 || hs[0].NumRecords != 2 {
		t.Fatalf("small batch with a 10-byte limit: %+v", hs)
	}
}

// TestInitProducerIDTransactional: a transactional id gets a producer id
// from its coordinator (once a FindCoordinator created __transaction_state),
// epoch 0 first and bumped by the next call; idempotent producers still get
// fresh ids with epoch 0.
func TestInitProducerIDTransactional(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	cl := inproc.NodeClient(t, n)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKey, fc.CoordinatorKeys = 1, "tx-1", []string{"tx-1"}
	apiDirect[*kmsg.FindCoordinatorResponse](t, cl, fc) // creates __transaction_state
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = apiStr("tx-1")
	req.TransactionTimeoutMillis = 60000
	var resp *kmsg.InitProducerIDResponse
	testharness.Eventually(t, 20*time.Second, "transactional InitProducerId answered", func() bool {
		resp = apiDirect[*kmsg.InitProducerIDResponse](t, cl, req)
		return resp.ErrorCode == 0
	}, func() string { return fmt.Sprint(resp.ErrorCode) })
	if resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
		t.Fatalf("first transactional InitProducerId: %d/%d", resp.ProducerID, resp.ProducerEpoch)
	}
	again := apiDirect[*kmsg.InitProducerIDResponse](t, cl, req)
	if again.ErrorCode != 0 || again.ProducerID != resp.ProducerID || again.ProducerEpoch != 1 {
		t.Fatalf("second transactional InitProducerId: %+v", again)
	}
	// Idempotent producers still get distinct ids.
	seen := map[int64]bool{}
	for range 3 {
		r := apiDirect[*kmsg.InitProducerIDResponse](t, cl, kmsg.NewPtrInitProducerIDRequest())
		apiWantCode(t, "idempotent InitProducerId", r.ErrorCode, nil)
		if r.ProducerID < 0 || r.ProducerEpoch != 0 || seen[r.ProducerID] {
			t.Fatalf("producer id %d epoch %d (seen %v)", r.ProducerID, r.ProducerEpoch, seen)
		}
		seen[r.ProducerID] = true
	}
}

// TestFindCoordinatorTransaction: a transactional id is coordinated by the
// leader of its __transaction_state partition (created on first use); an
// empty id or an unknown key type is INVALID_REQUEST.
func TestFindCoordinatorTransaction(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.NodeID = 3
	n := inproc.StartNode(t, cfg)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{{"latest", nil}, {"v3", []kgo.Opt{kgo.MaxVersions(kversion.V2_8_0())}}} {
		t.Run(tc.name, func(t *testing.T) {
			cl := inproc.NodeClient(t, n, tc.opts...)
			find := func(keyType int8, key string) (int16, int32) {
				t.Helper()
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorType = keyType
				req.CoordinatorKey, req.CoordinatorKeys = key, []string{key}
				resp := apiDirect[*kmsg.FindCoordinatorResponse](t, cl, req)
				if resp.Version >= 4 {
					if len(resp.Coordinators) != 1 || resp.Coordinators[0].Key != key {
						t.Fatalf("v%d answered %+v", resp.Version, resp.Coordinators)
					}
					return resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
				}
				return resp.ErrorCode, resp.NodeID
			}
			code, node := find(1, "tx-1")
			apiWantCode(t, "transaction coordinator", code, nil)
			if node != 3 {
				t.Errorf("transaction coordinator is node %d, want 3", node)
			}
			code, node = find(1, "")
			apiWantCode(t, "empty transactional id", code, kerr.InvalidRequest)
			if node != -1 {
				t.Errorf("refused lookup names node %d", node)
			}
			code, _ = find(2, "x")
			apiWantCode(t, "unknown key type", code, kerr.InvalidRequest)
			code, node = find(0, "group-1")
			apiWantCode(t, "group coordinator", code, nil)
			if node != 3 {
				t.Errorf("group coordinator is node %d, want 3", node)
			}
		})
	}
}

// TestCorruptRaftStorageRefusesStart: a node does not start on raft storage
// it cannot read (it never silently starts empty), and says which file.
func TestCorruptRaftStorageRefusesStart(t *testing.T) {
	cfg := inproc.Config(t)
	n := inproc.StartNode(t, cfg)
	createTopic(t, inproc.NodeAdmin(t, n), "kept", 1, nil)
	inproc.CloseNode(t, n)
	path := filepath.Join(cfg.DataDir, "raft", "raft.db")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the file's first pages (bbolt's meta pages).
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xde, 0xad}, 8192), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for attempt := range 2 {
		n, err := broker.Start(context.Background(), cfg)
		if err == nil {
			inproc.CloseNode(t, n)
			t.Fatal("node started on corrupt raft storage")
		}
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("attempt %d: error %q does not name %s", attempt, err, path)
		}
		// The second attempt proves the failed start released the data dir lock.
		if strings.Contains(err.Error(), "in use") {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
	}
}

// TestDataDirLocked: a second node on the same data directory is refused
// while the first runs, and can start once it stopped.
func TestDataDirLocked(t *testing.T) {
	cfg := inproc.Config(t)
	first := inproc.StartNode(t, cfg)
	second, err := broker.Start(context.Background(), cfg)
	if err == nil {
		inproc.CloseNode(t, second)
		inproc.CloseNode(t, first)
		t.Fatal("a second node started on a data dir in use")
	}
	if !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), cfg.DataDir) {
		t.Errorf("error %q should say the data dir %s is in use", err, cfg.DataDir)
	}
	// The refused start must not have disturbed the running node.
	cl := inproc.NodeClient(t, first)
	if md := apiMetadata(t, cl, false); md.ControllerID != cfg.NodeID {
		t.Errorf("running node answers controller %d", md.ControllerID)
	}
	cl.Close()
	inproc.CloseNode(t, first)
	inproc.StartNode(t, cfg)
}
