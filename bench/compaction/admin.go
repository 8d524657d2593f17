package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
)

// cleanerView is the dirty topic's partitions as the node's cleaner
// reports them (GET /v1/partitions?topic=dirty), by partition.
type cleanerView map[int32]api.PartitionCleaner

func dirtyCleaners(ctx context.Context, adminAddr string) (cleanerView, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	env, err := client.New(adminAddr, hc).Partitions(ctx, dirtyTopic)
	if err != nil {
		return nil, fmt.Errorf("ask the node for its cleaner state: %w", err)
	}
	v := cleanerView{}
	for _, p := range env.Data.Partitions {
		if p.Topic != dirtyTopic {
			continue
		}
		if p.Cleaner == nil {
			return nil, fmt.Errorf("partition %s-%d has no cleaner state (is the topic compacted?)", p.Topic, p.Partition)
		}
		v[p.Partition] = *p.Cleaner
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("the node hosts no partition of %s", dirtyTopic)
	}
	return v, nil
}

// cleanedSince reports whether every dirty partition has been cleaned by a
// pass after before and has nothing cleanable left.
func cleanedSince(ctx context.Context, adminAddr string, before cleanerView) (bool, error) {
	now, err := dirtyCleaners(ctx, adminAddr)
	if err != nil {
		return false, err
	}
	for p, c := range now {
		if c.Uncleanable != "" {
			return false, fmt.Errorf("%s-%d is uncleanable: %s", dirtyTopic, p, c.Uncleanable)
		}
		if c.Passes <= before[p].Passes || c.FirstDirtyOffset < c.CleanableEnd {
			return false, nil
		}
	}
	return true, nil
}

// describeClean sums up what the cleaner did between two views.
func describeClean(before, after cleanerView) string {
	var passes uint64
	var reclaimed, left int64
	var longest float64
	for p, c := range after {
		passes += c.Passes - before[p].Passes
		reclaimed += c.BytesReclaimed - before[p].BytesReclaimed
		left += c.CleanBytes + c.DirtyBytes
		longest = max(longest, c.LastCleanDurationSeconds)
	}
	return fmt.Sprintf("cleaner: %d passes over %d partitions, %.1f MiB reclaimed, %.1f MiB left below the cleanable end, longest last pass %.2fs",
		passes, len(after), mib(reclaimed), mib(left), longest)
}
