package main

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

func TestRenderTopics(t *testing.T) {
	v := "2048"
	d := topicadmin.Description{
		Name: "orders", ID: "AAAAAAAAAAAAAAAAAAAAAQ", ReplicationFactor: 3,
		Configs: []topicadmin.ConfigEntry{{Name: "max.message.bytes", Value: &v, Source: "DYNAMIC_TOPIC_CONFIG"}},
		Partitions: []topicadmin.PartitionState{
			{Partition: 0, Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, OfflineReplicas: []int32{3}},
			{Partition: 1, Leader: -1, LeaderEpoch: -1, Replicas: []int32{2, 3, 1}, ISR: []int32{}, Error: "LEADER_NOT_AVAILABLE"},
		},
	}
	var b strings.Builder
	if err := RenderTopicDescription(&b, d, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "0\t1\t4\t1,2,3\t1,2\t3\t-\n" +
		"1\t-\t-\t2,3,1\t-\t-\tLEADER_NOT_AVAILABLE\n" +
		"\n" +
		"max.message.bytes\t2048\n"
	if b.String() != want {
		t.Errorf("piped\n got %q\nwant %q", b.String(), want)
	}

	b.Reset()
	if err := RenderTopicDescription(&b, d, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	want = "Topic orders  id AAAAAAAAAAAAAAAAAAAAAQ  2 partitions  replication factor 3\n\n" +
		"PARTITION  LEADER  EPOCH  REPLICAS  ISR  OFFLINE  ERROR\n" +
		"0          1       4      1,2,3     1,2  3        -\n" +
		"1          -       -      2,3,1     -    -        LEADER_NOT_AVAILABLE\n" +
		"\n" +
		"CONFIG             VALUE\n" +
		"max.message.bytes  2048\n"
	if b.String() != want {
		t.Errorf("tty\n got %q\nwant %q", b.String(), want)
	}

	b.Reset()
	d.Configs = nil
	if err := RenderTopicDescription(&b, d, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\n\n") {
		t.Errorf("piped without configs has a blank line: %q", b.String())
	}

	b.Reset()
	ls := []topicadmin.Listing{{Name: "__consumer_offsets", Partitions: 50, ReplicationFactor: 1, Internal: true}, {Name: "orders", Partitions: 3, ReplicationFactor: 3}}
	if err := RenderTopicList(&b, ls, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "__consumer_offsets\t50\t1\tyes\norders\t3\t3\tno\n"; b.String() != want {
		t.Errorf("list\n got %q\nwant %q", b.String(), want)
	}

	b.Reset()
	if err := RenderTopicDeletion(&b, topicadmin.Deletion{Name: "orders", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if want := "Deleted topic orders (1 partition).\n"; b.String() != want {
		t.Errorf("deletion %q, want %q", b.String(), want)
	}

	b.Reset()
	ch := topicadmin.ConfigChange{Name: "orders", Set: map[string]string{"b": "2", "a": "1"}, Deleted: []string{"c"},
		Configs: []topicadmin.ConfigEntry{{Name: "a", Value: &v}, {Name: "secret", Sensitive: true}}}
	if err := RenderTopicConfigChange(&b, ch, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "Updated topic orders: set a=1, b=2; deleted c.\na\t2048\nsecret\t(sensitive)\n"; b.String() != want {
		t.Errorf("config change %q, want %q", b.String(), want)
	}
}
