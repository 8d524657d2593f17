package controller

import (
	"fmt"
	"sort"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// AssignReplicasRackAware places rf replicas of each of n partitions so that
// each partition's replicas sit in as many different racks as possible, as
// Kafka's rack-aware assignment does: the brokers are listed alternating
// over racks (rack a's first broker, rack b's first, ..., rack a's second),
// leaders walk that list round-robin from start, and followers walk it from
// a shift that skips a broker whose rack already holds a replica until every
// rack holds one. racks names the rack of every broker in live.
func AssignReplicasRackAware(live []int32, racks map[int32]string, n, rf, start int) ([][]int32, error) {
	brokers := rackAlternated(live, racks)
	b := len(brokers)
	switch {
	case n < 1:
		return nil, fmt.Errorf("partition count must be at least 1, got %d", n)
	case rf < 1:
		return nil, fmt.Errorf("replication factor must be at least 1, got %d", rf)
	case rf > b:
		return nil, fmt.Errorf("replication factor %d is larger than the number of live brokers (%d)", rf, b)
	}
	numRacks := len(distinctRacks(live, racks))
	if start < 0 {
		start = -start
	}
	start %= b
	out := make([][]int32, n)
	shift := start
	for p := 0; p < n; p++ {
		if p > 0 && p%b == 0 {
			shift++
		}
		first := (p + start) % b
		leader := brokers[first]
		replicas := []int32{leader}
		usedRacks := map[string]bool{racks[leader]: true}
		used := map[int32]bool{leader: true}
		for k := 0; len(replicas) < rf; k++ {
			// rf <= b guarantees an unused broker within b-1 steps of every
			// full walk, so this ends.
			r := brokers[(first+1+(shift*numRacks+k)%(b-1))%b]
			if (usedRacks[racks[r]] && len(usedRacks) < numRacks) || used[r] {
				continue
			}
			replicas = append(replicas, r)
			usedRacks[racks[r]], used[r] = true, true
		}
		out[p] = replicas
	}
	return out, nil
}

// rackAlternated lists brokers taking one from each rack in turn (racks and
// the brokers within one sorted), so neighbours in the list differ in rack.
func rackAlternated(live []int32, racks map[int32]string) []int32 {
	byRack := map[string][]int32{}
	for _, id := range live {
		byRack[racks[id]] = append(byRack[racks[id]], id)
	}
	names := distinctRacks(live, racks)
	for _, name := range names {
		sort.Slice(byRack[name], func(i, j int) bool { return byRack[name][i] < byRack[name][j] })
	}
	out := make([]int32, 0, len(live))
	for round := 0; len(out) < len(live); round++ {
		for _, name := range names {
			if round < len(byRack[name]) {
				out = append(out, byRack[name][round])
			}
		}
	}
	return out
}

func distinctRacks(live []int32, racks map[int32]string) []string {
	seen := map[string]bool{}
	var names []string
	for _, id := range live {
		if !seen[racks[id]] {
			seen[racks[id]] = true
			names = append(names, racks[id])
		}
	}
	sort.Strings(names)
	return names
}

// liveRacks returns the racks of the live brokers when every one of them has
// a rack, and nil otherwise; mixed reports that some have one and some not.
func liveRacks(s *state.State, live []int32) (racks map[int32]string, mixed bool) {
	racks = map[int32]string{}
	for _, id := range live {
		if b, ok := s.Brokers[id]; ok && b.Rack != "" {
			racks[id] = b.Rack
		}
	}
	switch len(racks) {
	case 0:
		return nil, false
	case len(live):
		return racks, false
	}
	return nil, true
}

// assign places new partitions: rack-aware when every live broker has a
// rack. With only some racked, Kafka refuses unless told to ignore racks;
// we place rack-unaware (creation must not depend on every operator setting
// --rack at once) and log a warning naming the brokers without one.
func (c *Controller) assign(s *state.State, what string, live []int32, n, rf int) ([][]int32, error) {
	racks, mixed := liveRacks(s, live)
	if mixed {
		var without []int32
		for _, id := range live {
			if s.Brokers[id].Rack == "" {
				without = append(without, id)
			}
		}
		c.opts.Logger.Warn("some live brokers have no rack: placing replicas without regard to racks",
			"for", what, "brokers_without_rack", without)
	}
	if racks != nil {
		return AssignReplicasRackAware(live, racks, n, rf, randomStart())
	}
	return AssignReplicas(live, n, rf, randomStart())
}
