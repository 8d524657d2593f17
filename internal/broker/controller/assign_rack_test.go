package controller

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

func TestAssignReplicasRackAwareSpreadsOverRacks(t *testing.T) {
	// Six brokers in three racks, unevenly numbered so that id order alone
	// would put neighbours in one rack.
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	live := []int32{6, 5, 4, 3, 2, 1}
	for start := 0; start < 12; start++ {
		got, err := AssignReplicasRackAware(live, racks, 12, 3, start)
		if err != nil {
			t.Fatal(err)
		}
		leaders, replicas := map[int32]int{}, map[int32]int{}
		for p, rs := range got {
			seen := map[string]bool{}
			for _, r := range rs {
				if seen[racks[r]] {
					t.Fatalf("start %d partition %d: %v has two replicas in rack %s", start, p, rs, racks[r])
				}
				seen[racks[r]] = true
				replicas[r]++
			}
			leaders[rs[0]]++
		}
		for _, id := range live {
			if leaders[id] != 2 || replicas[id] != 6 {
				t.Fatalf("start %d: leaders %v replicas %v, want 2 and 6 each", start, leaders, replicas)
			}
		}
	}
}

func TestAssignReplicasRackAwareMoreReplicasThanRacks(t *testing.T) {
	// rf 3 over two racks: both racks hold one, the third goes anywhere
	// unused, never the same broker twice.
	racks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"}
	got, err := AssignReplicasRackAware([]int32{1, 2, 3, 4}, racks, 8, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	for p, rs := range got {
		byRack := map[string]int{}
		ids := map[int32]bool{}
		for _, r := range rs {
			byRack[racks[r]]++
			if ids[r] {
				t.Fatalf("partition %d: %v lists a broker twice", p, rs)
			}
			ids[r] = true
		}
		if byRack["a"] == 0 || byRack["b"] == 0 {
			t.Fatalf("partition %d: %v leaves a rack empty", p, rs)
		}
	}
	if _, err := AssignReplicasRackAware([]int32{1, 2}, racks, 1, 3, 0); err == nil {
		t.Fatal("rf 3 on two brokers was accepted")
	}
}

func TestAssignUsesRacksOnlyWhenEveryLiveBrokerHasOne(t *testing.T) {
	var logs bytes.Buffer
	c := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil)
	s := state.New()
	for id, rack := range map[int32]string{1: "a", 2: "a", 3: "b", 4: "b"} {
		s.Brokers[id] = &state.Broker{ID: id, Rack: rack}
	}
	live := []int32{1, 2, 3, 4}
	for i := 0; i < 20; i++ { // the start is random: try several
		got, err := c.assign(s, "topic t", live, 4, 2)
		if err != nil {
			t.Fatal(err)
		}
		for p, rs := range got {
			if s.Brokers[rs[0]].Rack == s.Brokers[rs[1]].Rack {
				t.Fatalf("partition %d: %v in one rack", p, rs)
			}
		}
	}
	if logs.Len() != 0 {
		t.Fatalf("warning logged with every broker racked: %s", logs.String())
	}
	s.Brokers[4].Rack = ""
	if _, err := c.assign(s, "topic t", live, 4, 2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "brokers_without_rack=[4]") {
		t.Fatalf("mixed racks not warned about, log: %q", logs.String())
	}
}
