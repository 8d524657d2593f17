// Package rebalance plans `chronik cluster rebalance`: which partitions
// move to which brokers so that replicas and preferred leaders are even
// over the live brokers and each partition's replicas sit in different
// racks where the racks allow it. It is pure: no I/O, no clock, no
// randomness; the same cluster always gives the same plan.
package rebalance

import (
	"cmp"
	"fmt"
	"slices"
)

// Broker is one broker as the planner sees it.
type Broker struct {
	ID   int32
	Rack string // empty: none
	// Live brokers take replicas. A fenced or shut-down broker keeps the
	// replicas it has (replacing a dead node is not a rebalance) but is
	// never given one.
	Live bool
}

// Partition is one partition's current placement.
type Partition struct {
	Topic     string
	Partition int32
	Replicas  []int32 // preferred leader first
	Leader    int32   // -1: none
	ISR       []int32
}

// Options bound the plan.
type Options struct {
	// BatchSize is the most partitions one batch reassigns at once
	// (at least 1; 0 means DefaultBatchSize).
	BatchSize int
}

// DefaultBatchSize is the batch size without --batch.
const DefaultBatchSize = 10

// Move is one partition's new replica list.
type Move struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	From      []int32 `json:"from"`
	To        []int32 `json:"to"` // preferred leader first
	// Replicas is how many replicas the move copies to a new broker
	// (0: only the preferred leader changes).
	Replicas int `json:"replicas_moved"`
}

// Load is one broker's share before or after the plan.
type Load struct {
	Broker   int32  `json:"broker"`
	Rack     string `json:"rack,omitempty"`
	Live     bool   `json:"live"`
	Replicas int    `json:"replicas"`
	Leaders  int    `json:"preferred_leaders"`
}

// Plan is the planner's answer.
type Plan struct {
	// RackAware: every live broker has a rack, so placement honours them.
	RackAware bool     `json:"rack_aware"`
	BatchSize int      `json:"batch_size"`
	Notes     []string `json:"notes,omitempty"`
	Moves     []Move   `json:"moves"`
	// Batches are Moves cut into groups of at most BatchSize, applied one
	// after the other.
	Batches        [][]Move `json:"batches"`
	ReplicasMoved  int      `json:"replicas_moved"`
	Before, After  []Load   `json:"-"`
	BeforeAfter    []Change `json:"brokers"`
	RackViolations int      `json:"rack_violations_left"`
}

// Change is one broker's load before and after, as the plan's table shows.
type Change struct {
	Broker         int32  `json:"broker"`
	Rack           string `json:"rack,omitempty"`
	Live           bool   `json:"live"`
	ReplicasBefore int    `json:"replicas_before"`
	ReplicasAfter  int    `json:"replicas_after"`
	LeadersBefore  int    `json:"preferred_leaders_before"`
	LeadersAfter   int    `json:"preferred_leaders_after"`
}

// RacksHonoured reports whether replicas whose brokers sit in racks
// replicaRacks (one entry per replica, "" when unknown) use as many
// different racks as they can among numRacks: min(len, numRacks).
// Replicas of unknown rack count as honoured (nothing to judge).
func RacksHonoured(replicaRacks []string, numRacks int) bool {
	seen := map[string]bool{}
	known := 0
	for _, r := range replicaRacks {
		if r != "" {
			seen[r] = true
			known++
		}
	}
	return len(seen) >= min(known, numRacks)
}

// planner holds the working placement.
type planner struct {
	brokers map[int32]Broker
	live    []int32 // sorted
	racks   int     // distinct racks over live brokers; 0 when not rack-aware
	parts   []*work
	load    map[int32]int // replicas per live broker
	leads   map[int32]int // preferred leaders per live broker
}

type work struct {
	p  Partition
	to []int32
}

// Compute plans a rebalance. It refuses input that cannot be a cluster: a
// broker listed twice, a partition with no replicas or a replica twice.
func Compute(brokers []Broker, parts []Partition, opts Options) (Plan, error) {
	if opts.BatchSize == 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.BatchSize < 1 {
		return Plan{}, fmt.Errorf("batch size must be at least 1, got %d", opts.BatchSize)
	}
	pl := &planner{brokers: map[int32]Broker{}, load: map[int32]int{}, leads: map[int32]int{}}
	racked, unracked := map[string]bool{}, 0
	for _, b := range brokers {
		if _, dup := pl.brokers[b.ID]; dup {
			return Plan{}, fmt.Errorf("broker %d listed twice", b.ID)
		}
		pl.brokers[b.ID] = b
		if b.Live {
			pl.live = append(pl.live, b.ID)
			pl.load[b.ID], pl.leads[b.ID] = 0, 0
			if b.Rack == "" {
				unracked++
			} else {
				racked[b.Rack] = true
			}
		}
	}
	slices.Sort(pl.live)
	plan := Plan{BatchSize: opts.BatchSize}
	switch {
	case len(racked) > 0 && unracked > 0:
		plan.Notes = append(plan.Notes, fmt.Sprintf("%d live brokers have no rack: racks are ignored (set --rack on every broker)", unracked))
	case len(racked) > 0:
		pl.racks = len(racked)
		plan.RackAware = true
	}
	seen := map[string]bool{}
	for _, p := range parts {
		key := fmt.Sprintf("%s/%d", p.Topic, p.Partition)
		if seen[key] {
			return Plan{}, fmt.Errorf("partition %s listed twice", key)
		}
		seen[key] = true
		if len(p.Replicas) == 0 {
			return Plan{}, fmt.Errorf("partition %s has no replicas", key)
		}
		for i, r := range p.Replicas {
			if slices.Contains(p.Replicas[:i], r) {
				return Plan{}, fmt.Errorf("partition %s lists broker %d twice", key, r)
			}
		}
		pl.parts = append(pl.parts, &work{p: p, to: slices.Clone(p.Replicas)})
	}
	slices.SortFunc(pl.parts, func(a, b *work) int {
		return cmp.Or(cmp.Compare(a.p.Topic, b.p.Topic), cmp.Compare(a.p.Partition, b.p.Partition))
	})
	pl.count()
	plan.Before = pl.loads()
	if len(pl.live) == 0 {
		plan.Notes = append(plan.Notes, "no live broker: nothing can move")
	} else {
		pl.fixRacks()
		pl.evenReplicas()
		pl.evenLeaders()
	}
	plan.After = pl.loads()
	for _, w := range pl.parts {
		if slices.Equal(w.p.Replicas, w.to) {
			continue
		}
		m := Move{Topic: w.p.Topic, Partition: w.p.Partition, From: slices.Clone(w.p.Replicas), To: w.to}
		for _, r := range w.to {
			if !slices.Contains(w.p.Replicas, r) {
				m.Replicas++
			}
		}
		plan.Moves = append(plan.Moves, m)
		plan.ReplicasMoved += m.Replicas
	}
	if plan.RackAware {
		for _, w := range pl.parts {
			if !pl.honoured(w.to) {
				plan.RackViolations++
			}
		}
	}
	// Copying moves go first, in partition order; leader-only changes
	// (cheap) after them.
	slices.SortStableFunc(plan.Moves, func(a, b Move) int { return cmp.Compare(copies(b), copies(a)) })
	for i := 0; i < len(plan.Moves); i += opts.BatchSize {
		plan.Batches = append(plan.Batches, plan.Moves[i:min(i+opts.BatchSize, len(plan.Moves))])
	}
	for i, b := range plan.Before {
		a := plan.After[i]
		plan.BeforeAfter = append(plan.BeforeAfter, Change{Broker: b.Broker, Rack: b.Rack, Live: b.Live,
			ReplicasBefore: b.Replicas, ReplicasAfter: a.Replicas, LeadersBefore: b.Leaders, LeadersAfter: a.Leaders})
	}
	if plan.Moves == nil {
		plan.Moves, plan.Batches = []Move{}, [][]Move{}
	}
	return plan, nil
}

func (pl *planner) isLive(id int32) bool { return pl.brokers[id].Live }

// count recomputes the live brokers' replica and preferred-leader counts.
func (pl *planner) count() {
	for _, id := range pl.live {
		pl.load[id], pl.leads[id] = 0, 0
	}
	for _, w := range pl.parts {
		for i, r := range w.to {
			if pl.isLive(r) {
				pl.load[r]++
				if i == 0 {
					pl.leads[r]++
				}
			}
		}
	}
}

// loads lists every broker that is live or holds a replica, by id.
func (pl *planner) loads() []Load {
	ids := slices.Clone(pl.live)
	reps, leads := map[int32]int{}, map[int32]int{}
	for _, w := range pl.parts {
		for i, r := range w.to {
			reps[r]++
			if i == 0 {
				leads[r]++
			}
			if !slices.Contains(ids, r) {
				ids = append(ids, r)
			}
		}
	}
	slices.Sort(ids)
	out := make([]Load, 0, len(ids))
	for _, id := range ids {
		out = append(out, Load{Broker: id, Rack: pl.brokers[id].Rack, Live: pl.isLive(id), Replicas: reps[id], Leaders: leads[id]})
	}
	return out
}

func (pl *planner) rackOf(id int32) string { return pl.brokers[id].Rack }

// honoured: the replicas use as many racks as they can.
func (pl *planner) honoured(replicas []int32) bool {
	if pl.racks == 0 {
		return true
	}
	rs := make([]string, len(replicas))
	for i, r := range replicas {
		rs[i] = pl.rackOf(r)
	}
	return RacksHonoured(rs, pl.racks)
}

// distinctRacks counts the racks a replica list spans.
func (pl *planner) distinctRacks(replicas []int32) int {
	seen := map[string]bool{}
	for _, r := range replicas {
		if rk := pl.rackOf(r); rk != "" {
			seen[rk] = true
		}
	}
	return len(seen)
}

// replace moves partition w's replica from src to dst, keeping its place
// in the list (so a moved preferred leader hands preference to dst).
func (pl *planner) replace(w *work, src, dst int32) {
	i := slices.Index(w.to, src)
	w.to[i] = dst
	pl.load[src]--
	pl.load[dst]++
	if i == 0 {
		pl.leads[src]--
		pl.leads[dst]++
	}
}

// least returns the live broker with the fewest replicas (lowest id on a
// tie) among those ok accepts; false when none does.
func (pl *planner) least(ok func(id int32) bool) (int32, bool) {
	best, found := int32(0), false
	for _, id := range pl.live {
		if ok(id) && (!found || pl.load[id] < pl.load[best]) {
			best, found = id, true
		}
	}
	return best, found
}

// fixRacks moves, for every partition crowding a rack while others are
// free, one replica of the crowded rack (a follower if it can, the one on
// the busiest broker) to the least-loaded live broker of an unused rack.
func (pl *planner) fixRacks() {
	if pl.racks == 0 {
		return
	}
	for _, w := range pl.parts {
		for !pl.honoured(w.to) {
			perRack := map[string]int{}
			for _, r := range w.to {
				perRack[pl.rackOf(r)]++
			}
			var src int32 = -1
			for i, r := range w.to {
				if !pl.isLive(r) || perRack[pl.rackOf(r)] < 2 {
					continue
				}
				// Prefer followers; among them the busiest broker.
				if src == -1 || (slices.Index(w.to, src) == 0 && i > 0) ||
					(i > 0 && pl.load[r] > pl.load[src]) {
					src = r
				}
			}
			if src == -1 {
				break // the crowding replicas sit on brokers that are down
			}
			dst, ok := pl.least(func(id int32) bool { return !slices.Contains(w.to, id) && perRack[pl.rackOf(id)] == 0 })
			if !ok {
				break
			}
			pl.replace(w, src, dst)
		}
	}
}

// evenReplicas moves one replica at a time from the busiest live broker to
// the idlest until no two live brokers differ by more than one (or no move
// is allowed). Each move lowers the sum of squared loads, so this ends; it
// moves followers before preferred leaders, and never makes a partition's
// racks worse.
func (pl *planner) evenReplicas() {
	for {
		srcs := slices.Clone(pl.live)
		slices.SortStableFunc(srcs, func(a, b int32) int { return cmp.Compare(pl.load[b], pl.load[a]) })
		dsts := slices.Clone(pl.live)
		slices.SortStableFunc(dsts, func(a, b int32) int { return cmp.Compare(pl.load[a], pl.load[b]) })
		if pl.load[srcs[0]]-pl.load[dsts[0]] <= 1 {
			return
		}
		if !pl.moveOne(srcs, dsts) {
			return
		}
	}
}

func (pl *planner) moveOne(srcs, dsts []int32) bool {
	for _, src := range srcs {
		for _, dst := range dsts {
			if pl.load[src]-pl.load[dst] <= 1 {
				break
			}
			for _, leader := range []bool{false, true} {
				for _, w := range pl.parts {
					i := slices.Index(w.to, src)
					if i < 0 || (i == 0) != leader || slices.Contains(w.to, dst) {
						continue
					}
					before := pl.distinctRacks(w.to)
					trial := slices.Clone(w.to)
					trial[i] = dst
					if pl.racks > 0 && pl.distinctRacks(trial) < before {
						continue
					}
					pl.replace(w, src, dst)
					return true
				}
			}
		}
	}
	return false
}

// evenLeaders reorders replica lists (no data moves) so that preferred
// leaders are even: the busiest preferred leader hands a partition to one
// of its live in-sync replicas with at least two fewer.
func (pl *planner) evenLeaders() {
	for {
		srcs := slices.Clone(pl.live)
		slices.SortStableFunc(srcs, func(a, b int32) int { return cmp.Compare(pl.leads[b], pl.leads[a]) })
		moved := false
	search:
		for _, src := range srcs {
			for _, w := range pl.parts {
				if w.to[0] != src {
					continue
				}
				best := -1
				for j := 1; j < len(w.to); j++ {
					r := w.to[j]
					// A replica new to the partition is not in its ISR yet;
					// it is judged by the partition after the move.
					inSync := slices.Contains(w.p.ISR, r) || !slices.Contains(w.p.Replicas, r)
					if !pl.isLive(r) || !inSync || pl.leads[src]-pl.leads[r] < 2 {
						continue
					}
					if best == -1 || pl.leads[r] < pl.leads[w.to[best]] {
						best = j
					}
				}
				if best > 0 {
					r := w.to[best]
					w.to[0], w.to[best] = r, src
					pl.leads[src]--
					pl.leads[r]++
					moved = true
					break search
				}
			}
		}
		if !moved {
			return
		}
	}
}

// copies is 1 for a move that copies data, 0 for a leader-only one.
func copies(m Move) int {
	if m.Replicas > 0 {
		return 1
	}
	return 0
}
