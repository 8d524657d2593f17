package controller

import (
	"slices"
	"testing"
)

func TestAssignReplicasSpreadsLeadersAndFollowers(t *testing.T) {
	live := []int32{3, 1, 2}
	for start := 0; start < 6; start++ {
		got, err := AssignReplicas(live, 6, 3, start)
		if err != nil {
			t.Fatal(err)
		}
		leaders := map[int32]int{}
		for p, rs := range got {
			if len(rs) != 3 {
				t.Fatalf("start %d partition %d: %v", start, p, rs)
			}
			seen := map[int32]bool{}
			for _, r := range rs {
				if seen[r] || !slices.Contains(live, r) {
					t.Fatalf("start %d partition %d: bad replicas %v", start, p, rs)
				}
				seen[r] = true
			}
			leaders[rs[0]]++
		}
		for _, id := range live {
			if leaders[id] != 2 {
				t.Fatalf("start %d: leaders %v, want 2 each", start, leaders)
			}
		}
	}
	a, _ := AssignReplicas(live, 1, 1, 0)
	b, _ := AssignReplicas(live, 1, 1, 1)
	if a[0][0] == b[0][0] {
		t.Error("rotating start does not move the first leader")
	}
}

func TestAssignReplicasFollowerPairsVary(t *testing.T) {
	got, err := AssignReplicas([]int32{1, 2, 3, 4}, 8, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	pairs := map[[2]int32]bool{}
	for _, rs := range got {
		pairs[[2]int32{rs[0], rs[1]}] = true
	}
	if len(pairs) < 8 {
		t.Errorf("only %d distinct leader/follower pairs in 8 partitions: %v", len(pairs), got)
	}
}

func TestAssignReplicasRefusesImpossible(t *testing.T) {
	for _, c := range []struct {
		live   []int32
		n, rf  int
		reason string
	}{
		{[]int32{1}, 1, 2, "rf above brokers"},
		{nil, 1, 1, "no live broker"},
		{[]int32{1}, 0, 1, "no partitions"},
		{[]int32{1}, 1, 0, "rf 0"},
	} {
		if _, err := AssignReplicas(c.live, c.n, c.rf, 0); err == nil {
			t.Errorf("%s: no error", c.reason)
		}
	}
}
