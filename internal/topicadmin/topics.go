// Package topicadmin manages topics over the Kafka protocol (kadm), for
// `chronik topic`; it works against any Kafka cluster, not just chronik.
package topicadmin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Listing is one topic in `chronik topic list`.
type Listing struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"` // as Kafka prints it (base64url); empty when the cluster has no topic ids
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
}

// Description is one topic in detail: `chronik topic describe`, and
// what `topic create` prints.
type Description struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Internal          bool   `json:"internal"`
	ReplicationFactor int    `json:"replication_factor"`
	// Configs are the configs set on the topic itself (Kafka's
	// DYNAMIC_TOPIC_CONFIG), sorted by name; the rest are defaults.
	Configs    []ConfigEntry    `json:"configs"`
	Partitions []PartitionState `json:"partitions"`
}

// PartitionState is one partition as the cluster's metadata shows it.
type PartitionState struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`       // -1: no leader
	LeaderEpoch     int32   `json:"leader_epoch"` // -1: not reported
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	// Error is the partition's Kafka error name (LEADER_NOT_AVAILABLE, ...).
	Error string `json:"error,omitempty"`
}

// ConfigEntry is one config of a topic.
type ConfigEntry struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`  // nil for a sensitive value
	Source    string  `json:"source"` // Kafka's config source, e.g. DYNAMIC_TOPIC_CONFIG
	Sensitive bool    `json:"sensitive"`
}

// Deletion is what `chronik topic delete` deleted.
type Deletion struct {
	Name       string `json:"name"`
	ID         string `json:"id,omitempty"`
	Partitions int    `json:"partitions"`
}

// ConfigChange is what `chronik topic alter-config` changed, and the
// topic's configs afterwards.
type ConfigChange struct {
	Name    string            `json:"name"`
	Set     map[string]string `json:"set,omitempty"`
	Deleted []string          `json:"deleted,omitempty"`
	Configs []ConfigEntry     `json:"configs"` // set on the topic, after the change
}

// KafkaError is a topic command the cluster refused or could not be asked.
// Its message names the Kafka addresses and the error, and says what to try.
type KafkaError struct {
	Op      string   // what was attempted, e.g. `create topic "orders"`
	Brokers []string // the bootstrap addresses
	// Code is the Kafka error name (TOPIC_ALREADY_EXISTS, ...); empty when
	// no answer came.
	Code string
	Err  error
	msg  string
}

func (e *KafkaError) Error() string { return e.msg }

// Unwrap returns the cause.
func (e *KafkaError) Unwrap() error { return e.Err }

// Client manages topics through the Kafka protocol. Close releases it.
type Client struct {
	brokers  []string
	setting  string // where brokers was configured, for error messages
	security Security
	cl       *kgo.Client
	adm      *kadm.Client
	dials    *dialFailures
}

// Config says how to reach the cluster.
type Config struct {
	Brokers []string // bootstrap addresses, host:port
	// Setting names where Brokers were configured ("--brokers",
	// "$CHRONIK_BROKERS", "the brokers of profile ..."; empty means
	// --brokers), so an unreachable cluster's message can point at it.
	Setting string
	// Timeout is what the cluster may take to carry out a request
	// (create, delete, alter).
	Timeout  time.Duration
	Security Security
}

// New returns a client for the cluster cfg names.
func New(cfg Config) (*Client, error) {
	sec, err := cfg.Security.KgoOpts()
	if err != nil {
		return nil, err
	}
	d := &dialFailures{}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("chronik-cli"),
		kgo.WithHooks(d),
	}, sec...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", strings.Join(cfg.Brokers, ","), err)
	}
	adm := kadm.NewClient(cl)
	if ms := cfg.Timeout.Milliseconds(); ms > 0 && ms <= math.MaxInt32 {
		adm.SetTimeoutMillis(int32(ms))
	}
	return &Client{brokers: cfg.Brokers, setting: cfg.Setting, security: cfg.Security, cl: cl, adm: adm, dials: d}, nil
}

// Close closes the client's connections and stops its goroutines.
func (c *Client) Close() { c.cl.Close() }

// CreateTopic creates a topic (-1 partitions or replicationFactor: the
// broker's default) and returns it once every partition has a leader, or as
// it stands when ctx or a few seconds run out first.
func (c *Client) CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16,
	configs map[string]string) (Description, error) {
	op := fmt.Sprintf("create topic %q", name)
	cfg := make(map[string]*string, len(configs))
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := c.adm.CreateTopics(ctx, partitions, replicationFactor, cfg, name)
	if err != nil {
		return Description{}, c.explain(ctx, op, name, err, "")
	}
	r, ok := resp[name]
	if !ok {
		return Description{}, c.newError(op, "", errors.New("the answer does not mention the topic"))
	}
	if r.Err != nil {
		return Description{}, c.explain(ctx, op, name, r.Err, r.ErrMessage)
	}
	return c.describeCreated(ctx, name)
}

// describeCreated polls the new topic's metadata until every partition
// has a leader: a broker may answer CreateTopics before all of them know.
func (c *Client) describeCreated(ctx context.Context, name string) (Description, error) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last Description
	var lastErr error
	for {
		d, err := c.DescribeTopic(wctx, name)
		if err == nil {
			last, lastErr = d, nil
			if d.led() {
				return d, nil
			}
		} else if last.Name == "" {
			lastErr = err
		}
		select {
		case <-wctx.Done():
			if lastErr != nil {
				return Description{}, fmt.Errorf("topic %q was created, but describing it failed: %w", name, lastErr)
			}
			return last, nil
		case <-tick.C:
		}
	}
}

// led reports whether every partition has a leader.
func (d Description) led() bool {
	if len(d.Partitions) == 0 {
		return false
	}
	for _, p := range d.Partitions {
		if p.Leader < 0 {
			return false
		}
	}
	return true
}

// ListTopics lists every topic, internal ones included, sorted by name.
func (c *Client) ListTopics(ctx context.Context) ([]Listing, error) {
	resp, err := c.metadata(ctx, nil)
	if err != nil {
		return nil, c.explain(ctx, "list topics", "", err, "")
	}
	out := make([]Listing, 0, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil || kerr.ErrorForCode(t.ErrorCode) != nil {
			continue // a topic being deleted, or one we may not see
		}
		l := Listing{Name: *t.Topic, ID: topicID(t.TopicID), Partitions: len(t.Partitions), Internal: t.IsInternal}
		if len(t.Partitions) > 0 {
			l.ReplicationFactor = len(t.Partitions[0].Replicas)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// TopicNames lists the topic names, sorted (for shell completion).
func (c *Client) TopicNames(ctx context.Context) ([]string, error) {
	ls, err := c.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return names, nil
}

// DescribeTopic returns a topic's partitions and the configs set on it.
func (c *Client) DescribeTopic(ctx context.Context, name string) (Description, error) {
	op := fmt.Sprintf("describe topic %q", name)
	d, err := c.topicMetadata(ctx, op, name)
	if err != nil {
		return Description{}, err
	}
	if d.Configs, err = c.topicConfigs(ctx, op, name); err != nil {
		return Description{}, err
	}
	return d, nil
}

// topicMetadata asks for one topic's metadata, straight from a broker
// (never a cache, which would hide a topic just created or deleted).
func (c *Client) topicMetadata(ctx context.Context, op, name string) (Description, error) {
	resp, err := c.metadata(ctx, []string{name})
	if err != nil {
		return Description{}, c.explain(ctx, op, name, err, "")
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != name {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return Description{}, c.explain(ctx, op, name, err, "")
		}
		d := Description{Name: name, ID: topicID(t.TopicID), Internal: t.IsInternal, Configs: []ConfigEntry{}}
		for _, p := range t.Partitions {
			ps := PartitionState{
				Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				Replicas: nonNil32(p.Replicas), ISR: nonNil32(p.ISR), OfflineReplicas: nonNil32(p.OfflineReplicas),
			}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				ps.Error = kerrName(err)
			}
			d.Partitions = append(d.Partitions, ps)
		}
		sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Partition < d.Partitions[j].Partition })
		if len(d.Partitions) > 0 {
			d.ReplicationFactor = len(d.Partitions[0].Replicas)
		}
		return d, nil
	}
	return Description{}, c.explain(ctx, op, name, kerr.UnknownTopicOrPartition, "")
}

// metadata sends one Metadata request; nil topics means every topic. It
// never creates a topic, whatever the cluster's auto-create setting.
func (c *Client) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	return req.RequestWith(ctx, c.cl)
}

// topicConfigs returns the configs set on the topic, sorted by name.
func (c *Client) topicConfigs(ctx context.Context, op, name string) ([]ConfigEntry, error) {
	rcs, err := c.adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil, c.explain(ctx, op, name, err, "")
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return nil, c.explain(ctx, op, name, err, "")
	}
	if rc.Err != nil {
		return nil, c.explain(ctx, op, name, rc.Err, rc.ErrMessage)
	}
	out := []ConfigEntry{}
	for _, cfg := range rc.Configs {
		if cfg.Source != kmsg.ConfigSourceDynamicTopicConfig {
			continue
		}
		out = append(out, ConfigEntry{Name: cfg.Key, Value: cfg.Value, Source: cfg.Source.String(), Sensitive: cfg.Sensitive})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteTopic deletes a topic and returns what it was.
func (c *Client) DeleteTopic(ctx context.Context, name string) (Deletion, error) {
	op := fmt.Sprintf("delete topic %q", name)
	d, err := c.topicMetadata(ctx, op, name)
	if err != nil {
		return Deletion{}, err
	}
	resp, err := c.adm.DeleteTopics(ctx, name)
	if err != nil {
		return Deletion{}, c.explain(ctx, op, name, err, "")
	}
	r, err := resp.On(name, nil)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return Deletion{}, c.explain(ctx, op, name, err, r.ErrMessage)
	}
	return Deletion{Name: name, ID: d.ID, Partitions: len(d.Partitions)}, nil
}

// AlterTopicConfig sets and deletes configs of a topic in one
// IncrementalAlterConfigs request (all or nothing) and returns the configs
// set on it afterwards.
func (c *Client) AlterTopicConfig(ctx context.Context, name string, set map[string]string, del []string) (ConfigChange, error) {
	op := fmt.Sprintf("alter configs of topic %q", name)
	var ops []kadm.AlterConfig
	for _, k := range slices.Sorted(maps.Keys(set)) {
		v := set[k]
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range del {
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	resp, err := c.adm.AlterTopicConfigs(ctx, ops, name)
	if err != nil {
		return ConfigChange{}, c.explain(ctx, op, name, err, "")
	}
	r, err := resp.On(name, nil)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return ConfigChange{}, c.explain(ctx, op, name, err, r.ErrMessage)
	}
	ch := ConfigChange{Name: name, Deleted: del}
	if len(set) > 0 {
		ch.Set = set
	}
	if ch.Configs, err = c.topicConfigs(ctx, op, name); err != nil {
		return ConfigChange{}, err
	}
	return ch, nil
}

// dialFailures remembers the latest failed connection, so an error can say
// whether the bootstrap address or an address the cluster advertises is
// unreachable. kgo calls it from its own goroutines.
type dialFailures struct {
	mu   sync.Mutex
	last *failedDial
}

type failedDial struct {
	meta kgo.BrokerMetadata
	err  error
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (d *dialFailures) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil:
		d.last = &failedDial{meta: meta, err: err}
	case d.last != nil && d.last.meta.NodeID == meta.NodeID:
		d.last = nil // it recovered; an old failure must not explain a later error
	}
}

func (d *dialFailures) latest() *failedDial {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// isSeed reports whether kgo's broker metadata is one of the bootstrap
// addresses rather than a broker the cluster told it about.
func isSeed(m kgo.BrokerMetadata) bool { return m.NodeID < 0 }

// settingHint names the setting to check when the cluster is unreachable.
func (c *Client) settingHint() string {
	if c.setting == "" {
		return "--brokers"
	}
	return c.setting
}

// newError is a KafkaError whose message, until the caller explains
// better, is the plain cause.
func (c *Client) newError(op, code string, err error) *KafkaError {
	return &KafkaError{Op: op, Brokers: c.brokers, Code: code, Err: err,
		msg: fmt.Sprintf("%s: Kafka at %s: %v", op, strings.Join(c.brokers, ","), err)}
}

// explain turns a failed request into a KafkaError: a Kafka error code in
// the answer (with the broker's own message, when it gave one), or no
// answer at all.
func (c *Client) explain(ctx context.Context, op, topic string, err error, brokerMsg string) error {
	at := strings.Join(c.brokers, ",")
	dial := c.dials.latest()
	serr := err
	if dial != nil && errors.Is(err, context.DeadlineExceeded) {
		serr = errors.Join(err, dial.err) // kgo retried a failing handshake until the deadline
	}
	// The connection's security failing is said first: it is why a
	// request got nowhere, whatever code the handshake answered.
	if cause, ok := c.securityCause(serr); ok {
		e := c.newError(op, kerrCode(serr), err)
		e.msg = fmt.Sprintf("%s: Kafka at %s (%s): %s", op, at, c.security.Protocol(), cause)
		return e
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return c.codeError(ctx, op, topic, ke, brokerMsg)
	}
	e := c.newError(op, "", err)
	var opErr *net.OpError
	switch {
	case dial != nil && !isSeed(dial.meta) && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &opErr)):
		// kgo keeps retrying a known broker until the deadline; the
		// failed dial is the real reason.
		addr := net.JoinHostPort(dial.meta.Host, strconv.Itoa(int(dial.meta.Port)))
		e.msg = fmt.Sprintf("%s: Kafka at %s answered, but broker %d at %s, the address the cluster advertises, cannot be reached (%s) — is that broker running, and is its advertised Kafka address (--advertise-kafka-addr) reachable from here?",
			op, at, dial.meta.NodeID, addr, dialCause(dial.err))
	case errors.As(err, &opErr) && opErr.Op == "dial":
		e.msg = fmt.Sprintf("%s: cannot reach Kafka at %s (%s) — is chronik running, is %s right?", op, at, dialCause(opErr), c.settingHint())
	case dial != nil && errors.Is(err, context.DeadlineExceeded):
		// The bootstrap address kept failing (a dropped SYN times out).
		e.msg = fmt.Sprintf("%s: cannot reach Kafka at %s (%s) — is chronik running, is %s right?", op, at, dialCause(dial.err), c.settingHint())
	case errors.Is(err, context.DeadlineExceeded):
		e.msg = fmt.Sprintf("%s: no answer from Kafka at %s in time — is the cluster overloaded, or without a controller? A longer --timeout may help", op, at)
	case errors.Is(err, context.Canceled):
		e.msg = fmt.Sprintf("%s: canceled", op)
	}
	return e
}

// dialCause is the short reason a dial failed.
func dialCause(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("%s: %s", dnsErr.Name, dnsErr.Err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		err = opErr.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:] // "connect: connection refused" -> "connection refused"
	}
	return s
}

// codeError explains a Kafka error code, with a hint for the common cases.
func (c *Client) codeError(ctx context.Context, op, topic string, ke *kerr.Error, brokerMsg string) error {
	e := c.newError(op, ke.Message, ke)
	detail := brokerMsg
	switch {
	case detail != "":
	case ke == kerr.UnknownTopicOrPartition && topic != "":
		detail = fmt.Sprintf("no topic %q", topic)
	default:
		detail = ke.Description
	}
	var hint string
	switch ke {
	case kerr.TopicAlreadyExists:
		hint = fmt.Sprintf("pick another name; `chronik topic describe %s` shows the existing topic", topic)
	case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID:
		hint = "`chronik topic list` shows the topics there are"
	case kerr.InvalidReplicationFactor:
		hint = "ask for fewer replicas, or -1 for the broker default"
		if n, err := c.liveBrokers(ctx); err == nil {
			hint = fmt.Sprintf("only %d %s alive; use --replication-factor %d or less", n, plural(n, "broker is", "brokers are"), n)
		}
	case kerr.InvalidPartitions:
		hint = "--partitions must be at least 1, or -1 for the broker default"
	case kerr.InvalidConfig:
		hint = "check the config name and value"
	case kerr.InvalidTopicException:
		hint = "topic names are up to 249 of a-z A-Z 0-9 . _ -, and internal topics cannot be changed"
	case kerr.NotController, kerr.RequestTimedOut:
		hint = "the cluster may have no controller right now; `chronik raft status` shows the quorum"
	case kerr.SecurityDisabled:
		if !strings.Contains(detail, "--authorizer") { // chronik's own message already says it
			hint = securityHint(ke)
		}
	default:
		hint = securityHint(ke)
	}
	e.msg = fmt.Sprintf("%s: Kafka at %s answered %s: %s", op, strings.Join(c.brokers, ","), ke.Message, detail)
	if hint != "" {
		e.msg += " — " + hint
	}
	return e
}

// liveBrokers counts the brokers the cluster's metadata lists.
func (c *Client) liveBrokers(ctx context.Context) (int, error) {
	resp, err := c.metadata(ctx, []string{})
	if err != nil {
		return 0, err
	}
	return len(resp.Brokers), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// kerrName is the Kafka name of an error code error, e.g. LEADER_NOT_AVAILABLE.
func kerrName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// topicID prints an id as Kafka's tools do (URL-safe base64, no padding);
// all zeros, from a cluster without topic ids, is "".
func topicID(id [16]byte) string {
	if id == [16]byte{} {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func nonNil32(v []int32) []int32 {
	if v == nil {
		return []int32{}
	}
	return v
}
