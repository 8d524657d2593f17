package diagnose

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// fxFsync makes node id report its recent fsync passes.
func fxFsync(t *testing.T, v *api.ClusterView, id int32, median, maxSeconds float64, passes int) {
	t.Helper()
	fxNode(t, v, id).Node.Fsync = &api.FsyncLatency{WindowSeconds: 30, Passes: passes, MedianSeconds: median, MaxSeconds: maxSeconds}
}

// fxFastDisks: every node fsyncs in a few milliseconds, as an SSD does.
func fxFastDisks(t *testing.T, v *api.ClusterView) {
	for id := int32(1); id <= 3; id++ {
		fxFsync(t, v, id, 0.004, 0.011, 48)
	}
}

func TestRuleSlowFsync(t *testing.T) {
	runRuleCases(t, ruleSlowFsync, []ruleCase{
		{name: "nodes that do not report fsync times"},
		{name: "fast disks", mutate: fxFastDisks},
		{name: "one slow pass among fast ones", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFastDisks(t, v)
			fxFsync(t, v, 3, 0.004, 0.9, 40)
		}},
		{name: "too few passes to judge the disk", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFsync(t, v, 3, 0.3, 0.3, 2)
		}},
		{name: "just under the threshold", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFsync(t, v, 3, 0.099, 0.2, 30)
		}},
		{name: "a slow follower disk", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFastDisks(t, v)
			fxFsync(t, v, 3, 0.2104, 0.2301, 37)
		}, want: []string{"SLOW_FSYNC warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, "node 3") || !strings.Contains(f.Message, "210ms") || !strings.Contains(f.Message, "partition log fsyncs") || !strings.Contains(f.Message, "median of 37 passes in") ||
					!strings.Contains(f.Message, "max 230ms") || !strings.Contains(f.Message, "30s") {
					t.Errorf("message %q", f.Message)
				}
				if f.Evidence["fsync_median_seconds"] != 0.2104 || f.Evidence["fsync_passes"] != 37 {
					t.Errorf("evidence %v", f.Evidence)
				}
				if !strings.Contains(f.NextStep, "iostat") {
					t.Errorf("next step %q", f.NextStep)
				}
			}},
		{name: "a disk that takes half a second", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFsync(t, v, 2, 0.5, 1.2, 12)
		}, want: []string{"SLOW_FSYNC critical - node=2"}},
		{name: "a slow raft store", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFastDisks(t, v)
			fxNode(t, v, 1).Node.RaftFsync = &api.FsyncLatency{WindowSeconds: 30, Passes: 9, MedianSeconds: 0.3, MaxSeconds: 0.4}
		}, want: []string{"SLOW_FSYNC warning - node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "raft store writes take 300ms (median of 9 writes") || fs[0].Evidence["fsync_source"] != "raft_store" {
					t.Errorf("message %q evidence %v", fs[0].Message, fs[0].Evidence)
				}
			}},
		{name: "the slower of the two counts", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFsync(t, v, 2, 0.6, 0.7, 20)
			fxNode(t, v, 2).Node.RaftFsync = &api.FsyncLatency{WindowSeconds: 30, Passes: 9, MedianSeconds: 0.3, MaxSeconds: 0.4}
		}, want: []string{"SLOW_FSYNC critical - node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				if fs[0].Evidence["fsync_source"] != "partition_logs" {
					t.Errorf("evidence %v", fs[0].Evidence)
				}
			}},
		{name: "a raft store with too few writes", mutate: func(t *testing.T, v *api.ClusterView) {
			fxNode(t, v, 1).Node.RaftFsync = &api.FsyncLatency{WindowSeconds: 30, Passes: 2, MedianSeconds: 0.3, MaxSeconds: 0.4}
		}},
		{name: "a silent node's last answer is not used", mutate: func(t *testing.T, v *api.ClusterView) {
			fxFsync(t, v, 3, 0.3, 0.3, 20)
			fxNode(t, v, 3).Error = "context deadline exceeded"
		}},
	})
}
