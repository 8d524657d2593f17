package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
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

// The topic commands speak only the Kafka protocol, so they work against
// any Kafka cluster, not just chronik.

// TopicListing is one topic in `chronik topic list`.
type TopicListing struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"` // as Kafka prints it (base64url); empty when the cluster has no topic ids
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal"`
}

// TopicDescription is one topic in detail: `chronik topic describe`, and
// what `topic create` prints.
type TopicDescription struct {
	Name              string `json:"name"`
	ID                string `json:"id,omitempty"`
	Internal          bool   `json:"internal"`
	ReplicationFactor int    `json:"replication_factor"`
	// Configs are the configs set on the topic itself (Kafka's
	// DYNAMIC_TOPIC_CONFIG), sorted by name; the rest are defaults.
	Configs    []TopicConfigEntry    `json:"configs"`
	Partitions []TopicPartitionState `json:"partitions"`
}

// TopicPartitionState is one partition as the cluster's metadata shows it.
type TopicPartitionState struct {
	Partition       int32   `json:"partition"`
	Leader          int32   `json:"leader"`       // -1: no leader
	LeaderEpoch     int32   `json:"leader_epoch"` // -1: not reported
	Replicas        []int32 `json:"replicas"`
	ISR             []int32 `json:"isr"`
	OfflineReplicas []int32 `json:"offline_replicas"`
	// Error is the partition's Kafka error name (LEADER_NOT_AVAILABLE, ...).
	Error string `json:"error,omitempty"`
}

// TopicConfigEntry is one config of a topic.
type TopicConfigEntry struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`  // nil for a sensitive value
	Source    string  `json:"source"` // Kafka's config source, e.g. DYNAMIC_TOPIC_CONFIG
	Sensitive bool    `json:"sensitive"`
}

// TopicDeletion is what `chronik topic delete` deleted.
type TopicDeletion struct {
	Name       string `json:"name"`
	ID         string `json:"id,omitempty"`
	Partitions int    `json:"partitions"`
}

// TopicConfigChange is what `chronik topic alter-config` changed, and the
// topic's configs afterwards.
type TopicConfigChange struct {
	Name    string             `json:"name"`
	Set     map[string]string  `json:"set,omitempty"`
	Deleted []string           `json:"deleted,omitempty"`
	Configs []TopicConfigEntry `json:"configs"` // set on the topic, after the change
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

// TopicClient manages topics through the Kafka protocol. Close releases it.
type TopicClient struct {
	brokers     []string
	brokersFrom string
	cl          *kgo.Client
	adm         *kadm.Client
	dials       *dialFailures
}

// NewTopicClient returns a client for the cluster reachable at brokers
// (host:port). brokersFrom says where they came from (see [Conn]), so an
// unreachable cluster's message can point at the right setting. timeout is
// what the cluster may take to carry out a request (create, delete, alter).
func NewTopicClient(brokers []string, brokersFrom string, timeout time.Duration) (*TopicClient, error) {
	d := &dialFailures{}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("chronik-cli"),
		kgo.WithHooks(d),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client for %s: %w", strings.Join(brokers, ","), err)
	}
	adm := kadm.NewClient(cl)
	if ms := timeout.Milliseconds(); ms > 0 && ms <= math.MaxInt32 {
		adm.SetTimeoutMillis(int32(ms))
	}
	return &TopicClient{brokers: brokers, brokersFrom: brokersFrom, cl: cl, adm: adm, dials: d}, nil
}

// Close closes the client's connections and stops its goroutines.
func (c *TopicClient) Close() { c.cl.Close() }

// CreateTopic creates a topic (-1 partitions or replicationFactor: the
// broker's default) and returns it once every partition has a leader, or as
// it stands when ctx or a few seconds run out first.
func (c *TopicClient) CreateTopic(ctx context.Context, name string, partitions int32, replicationFactor int16,
	configs map[string]string) (TopicDescription, error) {
	op := fmt.Sprintf("create topic %q", name)
	cfg := make(map[string]*string, len(configs))
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := c.adm.CreateTopics(ctx, partitions, replicationFactor, cfg, name)
	if err != nil {
		return TopicDescription{}, c.explain(ctx, op, name, err, "")
	}
	r, ok := resp[name]
	if !ok {
		return TopicDescription{}, c.newError(op, "", errors.New("the answer does not mention the topic"))
	}
	if r.Err != nil {
		return TopicDescription{}, c.explain(ctx, op, name, r.Err, r.ErrMessage)
	}
	return c.describeCreated(ctx, name)
}

// describeCreated polls the new topic's metadata until every partition
// has a leader: a broker may answer CreateTopics before all of them know.
func (c *TopicClient) describeCreated(ctx context.Context, name string) (TopicDescription, error) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last TopicDescription
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
				return TopicDescription{}, fmt.Errorf("topic %q was created, but describing it failed: %w", name, lastErr)
			}
			return last, nil
		case <-tick.C:
		}
	}
}

// led reports whether every partition has a leader.
func (d TopicDescription) led() bool {
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
func (c *TopicClient) ListTopics(ctx context.Context) ([]TopicListing, error) {
	resp, err := c.metadata(ctx, nil)
	if err != nil {
		return nil, c.explain(ctx, "list topics", "", err, "")
	}
	out := make([]TopicListing, 0, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil || kerr.ErrorForCode(t.ErrorCode) != nil {
			continue // a topic being deleted, or one we may not see
		}
		l := TopicListing{Name: *t.Topic, ID: topicID(t.TopicID), Partitions: len(t.Partitions), Internal: t.IsInternal}
		if len(t.Partitions) > 0 {
			l.ReplicationFactor = len(t.Partitions[0].Replicas)
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// TopicNames lists the topic names, sorted (for shell completion).
func (c *TopicClient) TopicNames(ctx context.Context) ([]string, error) {
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
func (c *TopicClient) DescribeTopic(ctx context.Context, name string) (TopicDescription, error) {
	op := fmt.Sprintf("describe topic %q", name)
	d, err := c.topicMetadata(ctx, op, name)
	if err != nil {
		return TopicDescription{}, err
	}
	if d.Configs, err = c.topicConfigs(ctx, op, name); err != nil {
		return TopicDescription{}, err
	}
	return d, nil
}

// topicMetadata asks for one topic's metadata, straight from a broker
// (never a cache, which would hide a topic just created or deleted).
func (c *TopicClient) topicMetadata(ctx context.Context, op, name string) (TopicDescription, error) {
	resp, err := c.metadata(ctx, []string{name})
	if err != nil {
		return TopicDescription{}, c.explain(ctx, op, name, err, "")
	}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != name {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return TopicDescription{}, c.explain(ctx, op, name, err, "")
		}
		d := TopicDescription{Name: name, ID: topicID(t.TopicID), Internal: t.IsInternal, Configs: []TopicConfigEntry{}}
		for _, p := range t.Partitions {
			ps := TopicPartitionState{
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
	return TopicDescription{}, c.explain(ctx, op, name, kerr.UnknownTopicOrPartition, "")
}

// metadata sends one Metadata request; nil topics means every topic. It
// never creates a topic, whatever the cluster's auto-create setting.
func (c *TopicClient) metadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
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
func (c *TopicClient) topicConfigs(ctx context.Context, op, name string) ([]TopicConfigEntry, error) {
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
	out := []TopicConfigEntry{}
	for _, cfg := range rc.Configs {
		if cfg.Source != kmsg.ConfigSourceDynamicTopicConfig {
			continue
		}
		out = append(out, TopicConfigEntry{Name: cfg.Key, Value: cfg.Value, Source: cfg.Source.String(), Sensitive: cfg.Sensitive})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteTopic deletes a topic and returns what it was.
func (c *TopicClient) DeleteTopic(ctx context.Context, name string) (TopicDeletion, error) {
	op := fmt.Sprintf("delete topic %q", name)
	d, err := c.topicMetadata(ctx, op, name)
	if err != nil {
		return TopicDeletion{}, err
	}
	resp, err := c.adm.DeleteTopics(ctx, name)
	if err != nil {
		return TopicDeletion{}, c.explain(ctx, op, name, err, "")
	}
	r, err := resp.On(name, nil)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return TopicDeletion{}, c.explain(ctx, op, name, err, r.ErrMessage)
	}
	return TopicDeletion{Name: name, ID: d.ID, Partitions: len(d.Partitions)}, nil
}

// AlterTopicConfig sets and deletes configs of a topic in one
// IncrementalAlterConfigs request (all or nothing) and returns the configs
// set on it afterwards.
func (c *TopicClient) AlterTopicConfig(ctx context.Context, name string, set map[string]string, del []string) (TopicConfigChange, error) {
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
		return TopicConfigChange{}, c.explain(ctx, op, name, err, "")
	}
	r, err := resp.On(name, nil)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return TopicConfigChange{}, c.explain(ctx, op, name, err, r.ErrMessage)
	}
	ch := TopicConfigChange{Name: name, Deleted: del}
	if len(set) > 0 {
		ch.Set = set
	}
	if ch.Configs, err = c.topicConfigs(ctx, op, name); err != nil {
		return TopicConfigChange{}, err
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
func (c *TopicClient) settingHint() string {
	switch {
	case c.brokersFrom == EnvBrokers:
		return "$" + EnvBrokers
	case strings.HasPrefix(c.brokersFrom, "profile "):
		return "the brokers of " + c.brokersFrom
	default:
		return "--brokers"
	}
}

// newError is a KafkaError whose message, until the caller explains
// better, is the plain cause.
func (c *TopicClient) newError(op, code string, err error) *KafkaError {
	return &KafkaError{Op: op, Brokers: c.brokers, Code: code, Err: err,
		msg: fmt.Sprintf("%s: Kafka at %s: %v", op, strings.Join(c.brokers, ","), err)}
}

// explain turns a failed request into a KafkaError: a Kafka error code in
// the answer (with the broker's own message, when it gave one), or no
// answer at all.
func (c *TopicClient) explain(ctx context.Context, op, topic string, err error, brokerMsg string) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return c.codeError(ctx, op, topic, ke, brokerMsg)
	}
	e := c.newError(op, "", err)
	at := strings.Join(c.brokers, ",")
	var opErr *net.OpError
	dial := c.dials.latest()
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
func (c *TopicClient) codeError(ctx context.Context, op, topic string, ke *kerr.Error, brokerMsg string) error {
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
	case kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed:
		hint = "this client is not allowed to do that; check the cluster's ACLs"
	case kerr.NotController, kerr.RequestTimedOut:
		hint = "the cluster may have no controller right now; `chronik raft status` shows the quorum"
	}
	e.msg = fmt.Sprintf("%s: Kafka at %s answered %s: %s", op, strings.Join(c.brokers, ","), ke.Message, detail)
	if hint != "" {
		e.msg += " — " + hint
	}
	return e
}

// liveBrokers counts the brokers the cluster's metadata lists.
func (c *TopicClient) liveBrokers(ctx context.Context) (int, error) {
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

// RenderTopicList writes topics as a table: NAME, PARTITIONS, REPLICAS,
// INTERNAL.
func RenderTopicList(w io.Writer, ls []TopicListing, opts TableOptions) error {
	t := NewTable(opts, "NAME", "PARTITIONS", "REPLICAS", "INTERNAL")
	for _, l := range ls {
		t.Row(l.Name, strconv.Itoa(l.Partitions), strconv.Itoa(l.ReplicationFactor), yesNo(l.Internal))
	}
	return t.Render(w)
}

// RenderTopicDescription writes a topic: one row per partition (PARTITION,
// LEADER, EPOCH, REPLICAS, ISR, OFFLINE), then the configs set on the topic
// (NAME, VALUE). On a terminal a summary line comes first and the tables
// have headers; otherwise a blank line separates the two row kinds, and
// is left out with the configs when there are none.
func RenderTopicDescription(w io.Writer, d TopicDescription, opts TableOptions) error {
	var b strings.Builder
	if opts.TTY {
		fmt.Fprintf(&b, "Topic %s", d.Name)
		if d.ID != "" {
			fmt.Fprintf(&b, "  id %s", d.ID)
		}
		fmt.Fprintf(&b, "  %d %s  replication factor %d", len(d.Partitions), plural(len(d.Partitions), "partition", "partitions"), d.ReplicationFactor)
		if d.Internal {
			b.WriteString("  internal")
		}
		b.WriteString("\n\n")
	}
	pt := NewTable(opts, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "ERROR")
	for _, p := range d.Partitions {
		pt.Row(strconv.Itoa(int(p.Partition)), optInt32(p.Leader), optInt32(p.LeaderEpoch),
			ids32(p.Replicas), ids32(p.ISR), ids32(p.OfflineReplicas), dash(p.Error))
	}
	if err := pt.Render(&b); err != nil {
		return err
	}
	switch {
	case len(d.Configs) > 0:
		b.WriteString("\n")
		if err := renderConfigs(&b, d.Configs, opts); err != nil {
			return err
		}
	case opts.TTY:
		b.WriteString("\nNo configs set on the topic: every config has its default.\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write topic: %w", err)
	}
	return nil
}

// RenderTopicDeletion says what was deleted.
func RenderTopicDeletion(w io.Writer, d TopicDeletion) error {
	_, err := fmt.Fprintf(w, "Deleted topic %s (%d %s).\n", d.Name, d.Partitions, plural(d.Partitions, "partition", "partitions"))
	if err != nil {
		return fmt.Errorf("write deletion: %w", err)
	}
	return nil
}

// RenderTopicConfigChange says what changed, then lists the configs set on
// the topic (NAME, VALUE).
func RenderTopicConfigChange(w io.Writer, ch TopicConfigChange, opts TableOptions) error {
	var b strings.Builder
	var parts []string
	if len(ch.Set) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(ch.Set)) {
			kv = append(kv, k+"="+ch.Set[k])
		}
		parts = append(parts, "set "+strings.Join(kv, ", "))
	}
	if len(ch.Deleted) > 0 {
		parts = append(parts, "deleted "+strings.Join(ch.Deleted, ", "))
	}
	fmt.Fprintf(&b, "Updated topic %s: %s.\n", ch.Name, strings.Join(parts, "; "))
	if len(ch.Configs) > 0 {
		if opts.TTY {
			b.WriteString("\n")
		}
		if err := renderConfigs(&b, ch.Configs, opts); err != nil {
			return err
		}
	} else if opts.TTY {
		b.WriteString("No configs set on the topic: every config has its default.\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write config change: %w", err)
	}
	return nil
}

func renderConfigs(w io.Writer, cs []TopicConfigEntry, opts TableOptions) error {
	t := NewTable(opts, "CONFIG", "VALUE")
	for _, c := range cs {
		v := "(sensitive)"
		if c.Value != nil {
			v = *c.Value
		}
		t.Row(c.Name, v)
	}
	return t.Render(w)
}

// optInt32 shows Kafka's "none" (-1) as "-".
func optInt32(v int32) string {
	if v < 0 {
		return "-"
	}
	return strconv.Itoa(int(v))
}

func ids32(v []int32) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
