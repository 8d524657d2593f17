package topicadmin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

func newTopicClient(t *testing.T, brokers []string, setting string) *Client {
	t.Helper()
	c, err := New(Config{Brokers: brokers, Setting: setting, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// wantKafkaError checks err is a KafkaError with the code and message parts.
func wantKafkaError(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	var ke *KafkaError
	if !errors.As(err, &ke) {
		t.Fatalf("error %v (%T), want a *KafkaError", err, err)
	}
	if ke.Code != code {
		t.Errorf("code %q, want %q (error: %v)", ke.Code, code, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
}

func TestTopics(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	addr := n.Addrs().Kafka
	c := newTopicClient(t, []string{addr}, "--brokers")
	ctx := testharness.Context(t, 20*time.Second)

	t.Run("lifecycle", func(t *testing.T) {
		d, err := c.CreateTopic(ctx, "orders", 3, 1, map[string]string{"retention.ms": "60000"})
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != "orders" || d.ID == "" || d.ReplicationFactor != 1 || len(d.Partitions) != 3 {
			t.Fatalf("created %+v", d)
		}
		for i, p := range d.Partitions {
			if p.Partition != int32(i) || p.Leader != 1 || p.LeaderEpoch < 0 || !slices.Equal(p.Replicas, []int32{1}) ||
				!slices.Equal(p.ISR, []int32{1}) || len(p.OfflineReplicas) != 0 || p.Error != "" {
				t.Errorf("partition %+v", p)
			}
		}
		if len(d.Configs) != 1 || d.Configs[0].Name != "retention.ms" || *d.Configs[0].Value != "60000" ||
			d.Configs[0].Source != "DYNAMIC_TOPIC_CONFIG" {
			t.Errorf("configs %+v, want only retention.ms=60000 set on the topic", d.Configs)
		}

		if _, err := c.CreateTopic(ctx, "audit", -1, -1, nil); err != nil {
			t.Fatal(err)
		}
		ls, err := c.ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range ls {
			names = append(names, l.Name)
			if l.Name == "orders" && (l.Partitions != 3 || l.ReplicationFactor != 1 || l.Internal || l.ID != d.ID) {
				t.Errorf("listing %+v", l)
			}
			if l.Name == "audit" && (l.Partitions != 1 || l.ReplicationFactor != 1) {
				t.Errorf("broker defaults: listing %+v, want 1 partition, RF 1", l)
			}
		}
		if !slices.Contains(names, "orders") || !slices.Contains(names, "audit") || !slices.IsSorted(names) {
			t.Errorf("topics %v, want orders and audit, sorted", names)
		}
		if got, err := c.TopicNames(ctx); err != nil || !slices.Equal(got, names) {
			t.Errorf("TopicNames %v, %v; want %v", got, err, names)
		}

		ch, err := c.AlterTopicConfig(ctx, "orders", map[string]string{"max.message.bytes": "2048"}, []string{"retention.ms"})
		if err != nil {
			t.Fatal(err)
		}
		if ch.Set["max.message.bytes"] != "2048" || !slices.Equal(ch.Deleted, []string{"retention.ms"}) ||
			len(ch.Configs) != 1 || ch.Configs[0].Name != "max.message.bytes" || *ch.Configs[0].Value != "2048" {
			t.Errorf("change %+v", ch)
		}
		d, err = c.DescribeTopic(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Configs) != 1 || d.Configs[0].Name != "max.message.bytes" || len(d.Partitions) != 3 {
			t.Errorf("described %+v", d)
		}

		del, err := c.DeleteTopic(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if del.Name != "orders" || del.Partitions != 3 || del.ID != d.ID {
			t.Errorf("deleted %+v", del)
		}
		var listed []string
		testharness.Eventually(t, 10*time.Second, "orders unlisted after deletion", func() bool {
			var err error
			if listed, err = c.TopicNames(ctx); err != nil {
				t.Fatal(err)
			}
			return !slices.Contains(listed, "orders")
		}, func() string { return fmt.Sprintf("listed: %v", listed) })
	})

	t.Run("errors", func(t *testing.T) {
		if _, err := c.CreateTopic(ctx, "dup", 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateTopic(ctx, "dup", 1, 1, nil)
		wantKafkaError(t, err, "TOPIC_ALREADY_EXISTS", `create topic "dup": Kafka at `+addr+" answered TOPIC_ALREADY_EXISTS", "chronik topic describe dup")

		_, err = c.CreateTopic(ctx, "wide", 1, 3, nil)
		wantKafkaError(t, err, "INVALID_REPLICATION_FACTOR", "only 1 broker is alive; use --replication-factor 1 or less")

		_, err = c.CreateTopic(ctx, "none", 0, 1, nil)
		wantKafkaError(t, err, "INVALID_PARTITIONS", "--partitions must be at least 1")

		_, err = c.CreateTopic(ctx, "badcfg", 1, 1, map[string]string{"no.such.config": "1"})
		wantKafkaError(t, err, "INVALID_CONFIG", "no.such.config")

		_, err = c.DescribeTopic(ctx, "missing")
		wantKafkaError(t, err, "UNKNOWN_TOPIC_OR_PARTITION", `describe topic "missing"`, "chronik topic list")
		_, err = c.DeleteTopic(ctx, "missing")
		wantKafkaError(t, err, "UNKNOWN_TOPIC_OR_PARTITION", `delete topic "missing"`)
		_, err = c.AlterTopicConfig(ctx, "missing", map[string]string{"retention.ms": "1"}, nil)
		wantKafkaError(t, err, "UNKNOWN_TOPIC_OR_PARTITION", `alter configs of topic "missing"`)
		_, err = c.AlterTopicConfig(ctx, "dup", map[string]string{"retention.ms": "soon"}, nil)
		wantKafkaError(t, err, "INVALID_CONFIG", "retention.ms")

		// Describing an unknown topic must not create it, even with
		// auto-creation on (the broker default).
		names, err := c.TopicNames(ctx)
		if err != nil || slices.Contains(names, "missing") {
			t.Errorf("topics %v, %v: describe created the topic", names, err)
		}
	})
}

func TestTopicsUnreachable(t *testing.T) {
	dead := testharness.FreeAddr(t) // nothing listens there
	ctx := testharness.Context(t, 20*time.Second)
	tests := []struct {
		setting string
		want    string
	}{
		{"--brokers", "list topics: cannot reach Kafka at " + dead + " (connection refused) — is chronik running, is --brokers right?"},
		{"", "is --brokers right?"},
		{"$CHRONIK_BROKERS", "is $CHRONIK_BROKERS right?"},
		{`the brokers of profile "prod" (/x/config.yaml)`, `is the brokers of profile "prod" (/x/config.yaml) right?`},
	}
	for _, tt := range tests {
		c := newTopicClient(t, []string{dead}, tt.setting)
		_, err := c.ListTopics(ctx)
		wantKafkaError(t, err, "", tt.want)
	}
	c := newTopicClient(t, []string{"host.invalid:9092"}, "--brokers")
	_, err := c.DescribeTopic(ctx, "t")
	wantKafkaError(t, err, "", `describe topic "t": cannot reach Kafka at host.invalid:9092 (host.invalid: `)
}

// TestTopicsAdvertisedUnreachable: the bootstrap address answers, but the
// address the broker advertises does not; the error must say which.
func TestTopicsAdvertisedUnreachable(t *testing.T) {
	dead := testharness.FreeAddr(t) // nothing listens there
	cfg := inproc.Config(t)
	cfg.AdvertiseKafkaAddr = dead
	n := inproc.StartNode(t, cfg)
	c := newTopicClient(t, []string{n.Addrs().Kafka}, "--brokers")
	ctx := testharness.Context(t, 3*time.Second)
	_, err := c.CreateTopic(ctx, "t", 1, 1, nil)
	wantKafkaError(t, err, "", "Kafka at "+n.Addrs().Kafka+" answered, but broker 1 at "+dead+", the address the cluster advertises, cannot be reached")
}
