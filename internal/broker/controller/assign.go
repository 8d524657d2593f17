package controller

import (
	"fmt"
	"sort"
)

// AssignReplicas places rf replicas of each of n partitions on the live
// brokers: leaders round-robin from a rotating start, followers shifted so
// that no two brokers always follow each other (Kafka's rack-unaware
// scheme). start is chosen by the caller (e.g. from the topic id) so that
// successive topics do not all lead on the same broker.
func AssignReplicas(live []int32, n, rf, start int) ([][]int32, error) {
	brokers := append([]int32(nil), live...)
	sort.Slice(brokers, func(i, j int) bool { return brokers[i] < brokers[j] })
	b := len(brokers)
	switch {
	case n < 1:
		return nil, fmt.Errorf("partition count must be at least 1, got %d", n)
	case rf < 1:
		return nil, fmt.Errorf("replication factor must be at least 1, got %d", rf)
	case rf > b:
		return nil, fmt.Errorf("replication factor %d is larger than the number of live brokers (%d)", rf, b)
	}
	if start < 0 {
		start = -start
	}
	out := make([][]int32, n)
	shift := start % b
	for p := 0; p < n; p++ {
		if p > 0 && p%b == 0 {
			shift++
		}
		first := (p + start) % b
		replicas := make([]int32, 0, rf)
		replicas = append(replicas, brokers[first])
		for j := 0; j < rf-1; j++ {
			// Followers walk the other b-1 brokers from a shift that grows
			// every full round of leaders.
			replicas = append(replicas, brokers[(first+1+(shift+j)%(b-1))%b])
		}
		out[p] = replicas
	}
	return out, nil
}
