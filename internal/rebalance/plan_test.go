package rebalance

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func live(ids ...int32) []Broker {
	out := make([]Broker, 0, len(ids))
	for _, id := range ids {
		out = append(out, Broker{ID: id, Live: true})
	}
	return out
}

func racked(spec map[int32]string) []Broker {
	var out []Broker
	for id, rack := range spec {
		out = append(out, Broker{ID: id, Rack: rack, Live: true})
	}
	slices.SortFunc(out, func(a, b Broker) int { return int(a.ID - b.ID) })
	return out
}

// parts builds topic t's partitions from replica lists, ISR = replicas.
func parts(lists ...[]int32) []Partition {
	out := make([]Partition, 0, len(lists))
	for i, rs := range lists {
		out = append(out, Partition{Topic: "t", Partition: int32(i), Replicas: rs, Leader: rs[0], ISR: slices.Clone(rs)})
	}
	return out
}

// roundRobin places n partitions of rf replicas on brokers ids.
func roundRobin(n, rf int, ids ...int32) [][]int32 {
	var out [][]int32
	for p := 0; p < n; p++ {
		var rs []int32
		for j := 0; j < rf; j++ {
			rs = append(rs, ids[(p+j)%len(ids)])
		}
		out = append(out, rs)
	}
	return out
}

// check verifies what every plan must satisfy and returns the final
// replica lists by partition.
func check(t *testing.T, brokers []Broker, in []Partition, plan Plan) map[string][]int32 {
	t.Helper()
	liveSet := map[int32]bool{}
	for _, b := range brokers {
		liveSet[b.ID] = b.Live
	}
	final := map[string][]int32{}
	for _, p := range in {
		final[fmt.Sprintf("%s/%d", p.Topic, p.Partition)] = p.Replicas
	}
	for _, m := range plan.Moves {
		key := fmt.Sprintf("%s/%d", m.Topic, m.Partition)
		if !slices.Equal(final[key], m.From) {
			t.Fatalf("move %s: from %v, current %v", key, m.From, final[key])
		}
		if len(m.To) != len(m.From) {
			t.Fatalf("move %s changes the replication factor: %v -> %v", key, m.From, m.To)
		}
		for i, r := range m.To {
			if slices.Contains(m.To[:i], r) {
				t.Fatalf("move %s lists %d twice: %v", key, r, m.To)
			}
			if !slices.Contains(m.From, r) && !liveSet[r] {
				t.Fatalf("move %s puts a replica on broker %d, which is not live", key, r)
			}
		}
		final[key] = m.To
	}
	n := 0
	for _, b := range plan.Batches {
		if len(b) == 0 {
			t.Fatal("empty batch")
		}
		n += len(b)
	}
	if n != len(plan.Moves) {
		t.Fatalf("batches hold %d moves, plan has %d", n, len(plan.Moves))
	}
	return final
}

func spread(plan Plan, leaders bool) (lo, hi int) {
	lo, hi = 1<<30, -1
	for _, c := range plan.BeforeAfter {
		if !c.Live {
			continue
		}
		v := c.ReplicasAfter
		if leaders {
			v = c.LeadersAfter
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

func TestCompute(t *testing.T) {
	rackSpec := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	for _, c := range []struct {
		name    string
		brokers []Broker
		parts   []Partition
		batch   int
		// want
		moved     int // replicas copied; -1: not checked
		moves     int // -1: not checked
		batches   int // -1: not checked
		even      bool
		rackAware bool
		violLeft  int
	}{
		{name: "balanced: nothing to do", brokers: live(1, 2, 3), parts: parts(roundRobin(6, 3, 1, 2, 3)...),
			moved: 0, moves: 0, batches: 0, even: true},
		{name: "skewed: everything on broker 1", brokers: live(1, 2, 3), parts: parts(roundRobin(6, 1, 1)...),
			moved: 4, moves: 4, batches: 1, even: true},
		{name: "two new empty brokers", brokers: live(1, 2, 3, 4, 5), parts: parts(roundRobin(6, 3, 1, 2, 3)...),
			moved: 6, moves: -1, batches: -1, even: true}, // 18 replicas over 5: the new ones take 3 each
		{name: "preferred leaders all on one broker: reorder only", brokers: live(1, 2, 3),
			parts: parts([]int32{1, 2, 3}, []int32{1, 3, 2}, []int32{1, 2, 3}, []int32{1, 3, 2}, []int32{1, 2, 3}, []int32{1, 3, 2}),
			moved: 0, moves: 4, batches: 1, even: true},
		{name: "racks: every partition crowds rack a", brokers: racked(rackSpec),
			parts: parts([]int32{1, 2}, []int32{2, 1}, []int32{1, 2}, []int32{2, 1}, []int32{3, 5}, []int32{4, 6}),
			moved: -1, moves: -1, batches: -1, even: true, rackAware: true},
		{name: "racks: rf above rack count uses every rack", brokers: racked(map[int32]string{1: "a", 2: "a", 3: "a", 4: "b"}),
			parts: parts([]int32{1, 2, 3}, []int32{2, 3, 1}), moved: -1, moves: -1, batches: -1, rackAware: true},
		{name: "small batches", brokers: live(1, 2, 3, 4, 5, 6), parts: parts(roundRobin(25, 1, 1)...), batch: 4,
			moved: 20, moves: 20, batches: 5, even: true},
		{name: "mixed racks are ignored", brokers: []Broker{{ID: 1, Rack: "a", Live: true}, {ID: 2, Rack: "a", Live: true}, {ID: 3, Live: true}},
			parts: parts([]int32{1, 2}, []int32{2, 1}, []int32{1, 2}), moved: 2, moves: -1, batches: -1, even: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			plan, err := Compute(c.brokers, c.parts, Options{BatchSize: c.batch})
			if err != nil {
				t.Fatal(err)
			}
			final := check(t, c.brokers, c.parts, plan)
			if c.moved >= 0 && plan.ReplicasMoved != c.moved {
				t.Errorf("replicas moved %d, want %d: %+v", plan.ReplicasMoved, c.moved, plan.Moves)
			}
			if c.moves >= 0 && len(plan.Moves) != c.moves {
				t.Errorf("%d moves, want %d: %+v", len(plan.Moves), c.moves, plan.Moves)
			}
			if c.batches >= 0 && len(plan.Batches) != c.batches {
				t.Errorf("%d batches, want %d", len(plan.Batches), c.batches)
			}
			if c.even {
				for _, leaders := range []bool{false, true} {
					if lo, hi := spread(plan, leaders); hi-lo > 1 {
						t.Errorf("after the plan (leaders=%v) live brokers hold %d..%d: %+v", leaders, lo, hi, plan.BeforeAfter)
					}
				}
			}
			if plan.RackAware != c.rackAware {
				t.Errorf("rack aware %v, want %v", plan.RackAware, c.rackAware)
			}
			if c.rackAware {
				rackOf := map[int32]string{}
				racks := map[string]bool{}
				for _, b := range c.brokers {
					rackOf[b.ID] = b.Rack
					racks[b.Rack] = true
				}
				for key, rs := range final {
					var names []string
					for _, r := range rs {
						names = append(names, rackOf[r])
					}
					if !RacksHonoured(names, len(racks)) {
						t.Errorf("%s ends on %v: racks %v", key, rs, names)
					}
				}
				if plan.RackViolations != c.violLeft {
					t.Errorf("violations left %d, want %d", plan.RackViolations, c.violLeft)
				}
			} else if len(plan.Notes) == 0 && slices.ContainsFunc(c.brokers, func(b Broker) bool { return b.Rack != "" }) {
				t.Error("mixed racks were not noted")
			}
		})
	}
}

func TestComputeNeverUsesBrokersThatAreDown(t *testing.T) {
	// Broker 3 is fenced with replicas, broker 4 is fenced and empty: the
	// plan leaves 3's replicas where they are and puts nothing on either.
	brokers := []Broker{{ID: 1, Live: true}, {ID: 2, Live: true}, {ID: 3}, {ID: 4}, {ID: 5, Live: true}}
	in := parts(roundRobin(9, 2, 1, 2, 3)...)
	plan, err := Compute(brokers, in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	final := check(t, brokers, in, plan)
	for key, rs := range final {
		orig := in[0].Replicas
		for _, p := range in {
			if fmt.Sprintf("%s/%d", p.Topic, p.Partition) == key {
				orig = p.Replicas
			}
		}
		if slices.Contains(orig, 3) != slices.Contains(rs, 3) || slices.Contains(rs, 4) {
			t.Fatalf("%s: %v -> %v touches a broker that is down", key, orig, rs)
		}
	}
	if lo, hi := spread(plan, false); hi-lo > 1 {
		t.Fatalf("live brokers not even: %+v", plan.BeforeAfter)
	}
	if plan.ReplicasMoved == 0 {
		t.Fatal("broker 5 got nothing")
	}
}

func TestComputeIsDeterministic(t *testing.T) {
	brokers := racked(map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c", 7: "c"})
	in := parts(roundRobin(40, 3, 1, 1, 2, 3, 1, 4)...)
	for i := range in { // roundRobin with a repeated id: make lists valid
		in[i].Replicas = slices.Compact(slices.Sorted(slices.Values(in[i].Replicas)))
		in[i].ISR = in[i].Replicas
	}
	want, err := Compute(brokers, in, Options{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	check(t, brokers, in, want)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		b, p := slices.Clone(brokers), slices.Clone(in)
		rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		got, err := Compute(b, p, Options{BatchSize: 7})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("input order changed the plan:\n%+v\n%+v", got.Moves, want.Moves)
		}
	}
}

func TestComputeRefusesImpossibleInput(t *testing.T) {
	for _, c := range []struct {
		name    string
		brokers []Broker
		parts   []Partition
		batch   int
	}{
		{"broker twice", live(1, 1), parts([]int32{1}), 0},
		{"replica twice", live(1, 2), parts([]int32{1, 1}), 0},
		{"no replicas", live(1), []Partition{{Topic: "t"}}, 0},
		{"partition twice", live(1), append(parts([]int32{1}), parts([]int32{1})...), 0},
		{"negative batch", live(1), parts([]int32{1}), -1},
	} {
		if _, err := Compute(c.brokers, c.parts, Options{BatchSize: c.batch}); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestRacksHonoured(t *testing.T) {
	for _, c := range []struct {
		racks []string
		n     int
		want  bool
	}{
		{[]string{"a", "b", "c"}, 3, true},
		{[]string{"a", "a", "b"}, 3, false},
		{[]string{"a", "a", "b"}, 2, true},
		{[]string{"a", "a"}, 1, true},
		{[]string{"a", "a"}, 2, false},
		{[]string{"a", ""}, 2, true},
	} {
		if got := RacksHonoured(c.racks, c.n); got != c.want {
			t.Errorf("RacksHonoured(%v, %d) = %v, want %v", c.racks, c.n, got, c.want)
		}
	}
}
