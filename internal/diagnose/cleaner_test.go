package diagnose

import (
	"slices"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// fxCompacted makes orders-0 a compacted topic's partition cleaned a
// minute ago on every replica, and gives every node a running cleaner
// with Kafka's 15 s backoff.
func fxCompacted(t *testing.T, v *api.ClusterView) {
	t.Helper()
	for id := int32(1); id <= 3; id++ {
		fxNode(t, v, id).Node.LogCleaner = &api.LogCleaner{Enabled: true, Running: true, Passes: 40, BytesReclaimed: 9_000_000,
			LastPassSeconds: admintest.Secs(60), DedupeBufferBytes: 128 << 20, BackoffSeconds: 15}
	}
	fxAllParts(v, 0, func(p *api.PartitionInfo) {
		p.Cleaner = &api.PartitionCleaner{CleanupPolicy: api.CleanupCompact, FirstDirtyOffset: 90000, CleanableEnd: 110000,
			DirtyRatio: 0.2, MinCleanableRatio: 0.5, DirtyBytes: 2_000_000, CleanBytes: 8_000_000,
			OldestDirtySeconds: admintest.Secs(50), LastCleanSeconds: admintest.Secs(60), LastCleanDurationSeconds: 1.5,
			BytesReclaimed: 9_000_000, Passes: 40}
	})
}

func TestRuleLogCleanerStopped(t *testing.T) {
	runRuleCases(t, ruleLogCleanerStopped, []ruleCase{
		{name: "no compacted topic"},
		{name: "cleaning", mutate: fxCompacted},
		{name: "cleaner crashed on a node with compacted partitions", mutate: func(t *testing.T, v *api.ClusterView) {
			fxCompacted(t, v)
			lc := fxNode(t, v, 2).Node.LogCleaner
			lc.Running, lc.LastError = false, "cleaner panicked:\nindex out of range"
		}, want: []string{"LOG_CLEANER_STOPPED warning - node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, "node 2") || !strings.Contains(f.Message, "not running") ||
					!strings.Contains(f.Message, "cleaner panicked: index out of range") || !strings.Contains(f.Message, "1 compacted partition here (orders-0) is not compacted") {
					t.Errorf("message %q", f.Message)
				}
				if f.Evidence["compacted_partitions"] != 1 || f.Evidence["running"] != false || f.Evidence["last_pass_seconds"] != 60.0 {
					t.Errorf("evidence %v", f.Evidence)
				}
				if !strings.Contains(f.NextStep, "restarting node 2") {
					t.Errorf("next step %q", f.NextStep)
				}
			}},
		{name: "stopped cleaner on a node without compacted partitions", mutate: func(t *testing.T, v *api.ClusterView) {
			fxNode(t, v, 2).Node.LogCleaner = &api.LogCleaner{Enabled: true, BackoffSeconds: 15}
		}},
		{name: "cleaner disabled by the operator", mutate: func(t *testing.T, v *api.ClusterView) {
			fxCompacted(t, v)
			lc := fxNode(t, v, 3).Node.LogCleaner
			lc.Enabled, lc.Running = false, false
		}},
		{name: "a partition the cleaner gave up on", mutate: func(t *testing.T, v *api.ClusterView) {
			fxCompacted(t, v)
			c := fxPart(t, v, 3, 0).Cleaner
			c.Uncleanable, c.UncleanableSeconds = "read segment 00000000000000090000.log: batch at 91234: crc mismatch", admintest.Secs(125)
			fxNode(t, v, 3).Node.LogCleaner.UncleanablePartitions = 1
		}, want: []string{"LOG_CLEANER_STOPPED warning orders-0 node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, "gave up on orders-0 for 2m5s") || !strings.Contains(f.Message, "crc mismatch") || !strings.Contains(f.Message, "2.0 MB dirty") {
					t.Errorf("message %q", f.Message)
				}
				if f.Evidence["reason"] != "read segment 00000000000000090000.log: batch at 91234: crc mismatch" || f.Evidence["uncleanable_seconds"] != 125.0 ||
					f.Evidence["dirty_ratio"] != 0.2 {
					t.Errorf("evidence %v", f.Evidence)
				}
				if !strings.Contains(f.NextStep, "alter-config orders") || !strings.Contains(f.NextStep, "node 3") {
					t.Errorf("next step %q", f.NextStep)
				}
			}},
		{name: "a silent node's last answer is not used", mutate: func(t *testing.T, v *api.ClusterView) {
			fxCompacted(t, v)
			fxNode(t, v, 2).Node.LogCleaner.Running = false
			fxPart(t, v, 2, 0).Cleaner.Uncleanable = "boom"
			fxNode(t, v, 2).Error = "context deadline exceeded"
		}},
		{name: "a replica that is not running is not cleaned anyway", mutate: func(t *testing.T, v *api.ClusterView) {
			fxCompacted(t, v)
			p := fxPart(t, v, 2, 0)
			p.Running = false
			fxNode(t, v, 2).Node.LogCleaner.Running = false
		}},
	})
}

func TestRuleLogCleanerBehind(t *testing.T) {
	due := func(t *testing.T, v *api.ClusterView, id int32) *api.PartitionCleaner {
		fxCompacted(t, v)
		c := fxPart(t, v, id, 0).Cleaner
		c.Due, c.DirtyRatio, c.DirtyBytes = true, 0.73, 1_200_000_000
		return c
	}
	runRuleCases(t, ruleLogCleanerBehind, []ruleCase{
		{name: "no compacted topic"},
		{name: "cleaning", mutate: fxCompacted},
		{name: "due by ratio, last cleaned a minute ago", mutate: func(t *testing.T, v *api.ClusterView) { due(t, v, 2) }},
		{name: "due by ratio, not cleaned for 40 minutes", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 2)
			c.LastCleanSeconds, c.OldestDirtySeconds = admintest.Secs(2400), admintest.Secs(2300)
		}, want: []string{"LOG_CLEANER_BEHIND warning orders-0 node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, "node 2") || !strings.Contains(f.Message, "due for 38m20s") || !strings.Contains(f.Message, "dirty 73% (min 50%)") ||
					!strings.Contains(f.Message, "1.2 GB dirty") || !strings.Contains(f.Message, "last clean 40m0s ago") {
					t.Errorf("message %q", f.Message)
				}
				if f.Evidence["due_seconds"] != 2300.0 || f.Evidence["threshold_seconds"] != 600.0 || f.Evidence["dirty_bytes"] != int64(1_200_000_000) ||
					f.Evidence["last_clean_seconds"] != 2400.0 {
					t.Errorf("evidence %v", f.Evidence)
				}
				if !strings.Contains(f.NextStep, "--log-cleaner-io-max-bytes-per-second") || !strings.Contains(f.NextStep, "isr describe orders -v") {
					t.Errorf("next step %q", f.NextStep)
				}
			}},
		{name: "never cleaned, dirty data 20 minutes old", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 1)
			c.LastCleanSeconds, c.OldestDirtySeconds = nil, admintest.Secs(1200)
		}, want: []string{"LOG_CLEANER_BEHIND warning orders-0 node=1"}},
		{name: "last clean long ago but the dirty data is new", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 1)
			c.LastCleanSeconds, c.OldestDirtySeconds = admintest.Secs(86400), admintest.Secs(30)
		}},
		{name: "just under 10 minutes", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 1)
			c.LastCleanSeconds, c.OldestDirtySeconds = admintest.Secs(599), admintest.Secs(700)
		}},
		{name: "a long backoff raises the bar", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.LastCleanSeconds, c.OldestDirtySeconds = admintest.Secs(1200), admintest.Secs(1200)
			fxNode(t, v, 3).Node.LogCleaner.BackoffSeconds = 300 // 10 backoffs: 50 min
		}},
		{name: "past max.compaction.lag.ms for 15 minutes", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.DirtyRatio, c.MaxCompactionLagSeconds, c.OldestDirtySeconds = 0.1, 3600, admintest.Secs(4500)
		}, want: []string{"LOG_CLEANER_BEHIND warning orders-0 node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "due for 15m0s (its oldest dirty data is older than max.compaction.lag.ms, 1h0m0s)") ||
					fs[0].Evidence["due_seconds"] != 900.0 {
					t.Errorf("message %q evidence %v", fs[0].Message, fs[0].Evidence)
				}
			}},
		{name: "past max.compaction.lag.ms for 5 minutes only", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.MaxCompactionLagSeconds, c.OldestDirtySeconds, c.LastCleanSeconds = 3600, admintest.Secs(3900), admintest.Secs(7200)
		}},
		{name: "nothing tells how long", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.LastCleanSeconds, c.OldestDirtySeconds = nil, nil
		}},
		{name: "the cleaner found it due 20 minutes ago", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 2)
			c.LastCleanSeconds, c.OldestDirtySeconds, c.DueSeconds = admintest.Secs(30), admintest.Secs(20), admintest.Secs(1200)
		}, want: []string{"LOG_CLEANER_BEHIND warning orders-0 node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				if fs[0].Evidence["due_seconds"] != 1200.0 {
					t.Errorf("evidence %v", fs[0].Evidence)
				}
			}},
		{name: "just due after a long quiet time: the cleaner's own since wins", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 2)
			c.LastCleanSeconds, c.OldestDirtySeconds, c.DueSeconds = admintest.Secs(86400), admintest.Secs(86400), admintest.Secs(5)
		}},
		{name: "not due", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.Due, c.LastCleanSeconds, c.OldestDirtySeconds = false, admintest.Secs(9000), admintest.Secs(9000)
		}},
		{name: "uncleanable is LOG_CLEANER_STOPPED's", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.LastCleanSeconds, c.OldestDirtySeconds, c.Uncleanable = admintest.Secs(9000), admintest.Secs(9000), "crc mismatch"
		}},
		{name: "a stopped cleaner is LOG_CLEANER_STOPPED's", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.LastCleanSeconds, c.OldestDirtySeconds = admintest.Secs(9000), admintest.Secs(9000)
			fxNode(t, v, 3).Node.LogCleaner.Running = false
		}},
		{name: "a disabled cleaner is the operator's choice", mutate: func(t *testing.T, v *api.ClusterView) {
			c := due(t, v, 3)
			c.LastCleanSeconds, c.OldestDirtySeconds = admintest.Secs(9000), admintest.Secs(9000)
			lc := fxNode(t, v, 3).Node.LogCleaner
			lc.Enabled, lc.Running = false, false
		}},
		{name: "every replica behind", mutate: func(t *testing.T, v *api.ClusterView) {
			fxCompacted(t, v)
			fxAllParts(v, 0, func(p *api.PartitionInfo) {
				p.Cleaner.Due, p.Cleaner.LastCleanSeconds, p.Cleaner.OldestDirtySeconds = true, admintest.Secs(9000), admintest.Secs(9000)
			})
		}, want: []string{"LOG_CLEANER_BEHIND warning orders-0 node=1", "LOG_CLEANER_BEHIND warning orders-0 node=2", "LOG_CLEANER_BEHIND warning orders-0 node=3"}},
	})
}

// The doctor groups the cleaner's findings: a node's uncleanable replicas
// and stopped cleaner under one cause per code, a full disk's cleaner
// failure under DISK_FULL.
func TestCleanerFindingsCorrelate(t *testing.T) {
	v := fxHealthy()
	fxCompacted(t, &v)
	c := fxPart(t, &v, 2, 0).Cleaner
	c.Uncleanable = "write 00000000000000090000.log.cleaned: no space left on device"
	fs := Run(v)
	causes := Correlate(v, fs)
	if len(causes) != 1 || causes[0].Code != CauseDiskFull || causes[0].Node == nil || *causes[0].Node != 2 || len(causes[0].Findings) != 1 ||
		fs[causes[0].Findings[0]].Code != CodeLogCleanerStopped {
		t.Fatalf("causes %+v of findings %v", causes, fxKeys(fs))
	}

	v = fxHealthy()
	fxCompacted(t, &v)
	fxNode(t, &v, 1).Node.LogCleaner.Running = false
	c = fxPart(t, &v, 1, 0).Cleaner
	c.Due, c.LastCleanSeconds, c.OldestDirtySeconds = true, admintest.Secs(9000), admintest.Secs(9000)
	c = fxPart(t, &v, 3, 0).Cleaner
	c.Due, c.LastCleanSeconds, c.OldestDirtySeconds = true, admintest.Secs(9000), admintest.Secs(9000)
	fs = Run(v)
	causes = Correlate(v, fs)
	var codes []string
	for _, c := range causes {
		codes = append(codes, c.Code+" "+strings.Join(c.Effects, "; "))
	}
	slices.Sort(codes)
	if len(causes) != 2 || !strings.HasPrefix(codes[1], "LOG_CLEANER_STOPPED the log cleaner on node 1 is enabled but not running") ||
		codes[0] != "LOG_CLEANER_BEHIND 1 partition whose log cleaning is behind: their logs grow (orders-0)" {
		t.Fatalf("causes %q", codes)
	}
}
