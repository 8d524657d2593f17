package server

import (
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/replica"
)

// The log cleaner's figures, from the node's replica manager.

func logCleaner(info replica.CleanerInfo, now time.Time) *api.LogCleaner {
	return &api.LogCleaner{
		Enabled: info.Enabled, Running: info.Running, Passes: info.Passes, BytesReclaimed: info.BytesReclaimed,
		LastPassSeconds: ago(info.LastPass, now), LastError: info.LastError, UncleanablePartitions: info.Uncleanable,
		DedupeBufferBytes: info.DedupeBufferBytes, IOMaxBytesPerSecond: info.IOMaxBytesPerSecond,
		BackoffSeconds: info.Backoff.Seconds(),
	}
}

// partitionCleaner converts one replica's cleaning; nil when its policy
// does not compact.
func partitionCleaner(st replica.CleanerStatus, now time.Time) *api.PartitionCleaner {
	var policy string
	switch st.Policy {
	case partlog.CleanupCompact:
		policy = api.CleanupCompact
	case partlog.CleanupCompactDelete:
		policy = api.CleanupCompactDelete
	default:
		return nil
	}
	s := st.State
	c := &api.PartitionCleaner{
		CleanupPolicy: policy, FirstDirtyOffset: s.FirstDirtyOffset, CleanableEnd: s.CleanableEnd,
		DirtyRatio: s.DirtyRatio, MinCleanableRatio: st.MinCleanableRatio, DirtyBytes: s.DirtyBytes, CleanBytes: s.CleanBytes,
		OldestDirtySeconds: ago(s.OldestDirty, now), MaxCompactionLagSeconds: st.MaxCompactionLag.Seconds(), Due: s.Due,
		LastCleanSeconds: ago(s.LastClean, now), LastCleanDurationSeconds: s.LastCleanDuration.Seconds(),
		BytesReclaimed: s.BytesReclaimed, Passes: s.Passes, Uncleanable: st.Uncleanable,
	}
	if st.Uncleanable != "" {
		c.UncleanableSeconds = ago(st.UncleanableSince, now)
	}
	if s.Due {
		c.DueSeconds = ago(st.DueSince, now)
	}
	return c
}
