package workload

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// TestCreateTopic: against three nodes that are only starting, CreateTopic
// retries until the topic exists with a leader and a full ISR on every
// partition; again, it finds the topic there; a replication factor the
// cluster cannot give fails at ctx's end with the broker's last answer.
func TestCreateTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	pc := testharness.LaunchProcCluster(t, chronikBinary(t), 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(pc.KafkaAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	pds, err := CreateTopic(ctx, adm, "created", 3, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(pds) != 3 {
		t.Fatalf("partitions %v, want 3", pds.Numbers())
	}
	for p, pd := range pds {
		if pd.Leader < 1 || len(pd.ISR) != 3 {
			t.Errorf("partition %d: leader %d, ISR %v", p, pd.Leader, pd.ISR)
		}
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, "created")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("created", nil)
	if err != nil {
		t.Fatal(err)
	}
	minISR := ""
	for _, c := range rc.Configs {
		if c.Key == "min.insync.replicas" && c.Value != nil {
			minISR = *c.Value
		}
	}
	if minISR != "2" {
		t.Errorf("min.insync.replicas %q, want 2", minISR)
	}

	if _, err := CreateTopic(ctx, adm, "created", 3, 3, 2); err != nil {
		t.Errorf("create an existing topic: %v", err)
	}

	sctx, scancel := context.WithTimeout(ctx, time.Second)
	defer scancel()
	_, err = CreateTopic(sctx, adm, "too-many-replicas", 1, 4, 2)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, kerr.InvalidReplicationFactor) ||
		!strings.HasPrefix(err.Error(), "create topic too-many-replicas (partitions 1, replication factor 4, min.insync.replicas 2): ") {
		t.Errorf("replication factor 4 of 3 nodes: %v, want the deadline and INVALID_REPLICATION_FACTOR", err)
	}
}

func TestFullISR(t *testing.T) {
	md := func(pds ...kadm.PartitionDetail) kadm.Metadata {
		td := kadm.TopicDetail{Topic: "t", Partitions: kadm.PartitionDetails{}}
		for _, pd := range pds {
			td.Partitions[pd.Partition] = pd
		}
		return kadm.Metadata{Topics: kadm.TopicDetails{"t": td}}
	}
	full := func(p int32) kadm.PartitionDetail {
		return kadm.PartitionDetail{Topic: "t", Partition: p, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}
	}
	short := full(1)
	short.ISR = []int32{1, 2}
	leaderless := full(1)
	leaderless.Leader = -1
	failed := full(1)
	failed.Err = kerr.LeaderNotAvailable
	for _, tt := range []struct {
		name string
		md   kadm.Metadata
		want string // "" for success
	}{
		{"all full", md(full(0), full(1)), ""},
		{"short ISR", md(full(0), short), "partition 1: leader 1, replicas [1 2 3], ISR [1 2]"},
		{"no leader", md(full(0), leaderless), "partition 1: leader -1"},
		{"partition error", md(full(0), failed), "partition 1: LEADER_NOT_AVAILABLE"},
		{"partition missing", md(full(0)), "partition 1 missing from metadata"},
		{"topic missing", kadm.Metadata{Topics: kadm.TopicDetails{}}, "topic t missing from metadata"},
		{"topic error", kadm.Metadata{Topics: kadm.TopicDetails{"t": {Topic: "t", Err: kerr.UnknownTopicOrPartition}}}, "topic t: UNKNOWN_TOPIC_OR_PARTITION"},
	} {
		pds, err := fullISR(tt.md, "t", 2, 3)
		switch {
		case tt.want == "" && (err != nil || len(pds) != 2):
			t.Errorf("%s: %v, %v", tt.name, pds, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
