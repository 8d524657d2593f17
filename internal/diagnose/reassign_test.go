package diagnose

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

func TestRuleReassignmentStalled(t *testing.T) {
	adding := func(t *testing.T, v *api.ClusterView) *api.ReplicaState {
		s := fxFollower(t, fxPart(t, v, 1, 0), 3)
		left := int64(12_500_000)
		s.Adding, s.Lag, s.BytesLeft, s.InISR = true, 48210, &left, false
		return s
	}
	runRuleCases(t, ruleReassignmentStalled, []ruleCase{
		{name: "healthy"},
		{name: "copying", mutate: func(t *testing.T, v *api.ClusterView) { adding(t, v).LastAdvanceSeconds = admintest.Secs(0.4) }},
		{name: "no progress for 42s", mutate: func(t *testing.T, v *api.ClusterView) { adding(t, v).LastAdvanceSeconds = admintest.Secs(42) },
			want: []string{"REASSIGNMENT_STALLED warning orders-0 node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, "replica 3") || !strings.Contains(f.Message, "42s") || !strings.Contains(f.Message, "12.5 MB") {
					t.Errorf("message %q", f.Message)
				}
				if f.Evidence["last_advance_seconds"] != 42.0 || f.Evidence["bytes_left"] != int64(12_500_000) || f.Evidence["lag"] != int64(48210) {
					t.Errorf("evidence %v", f.Evidence)
				}
				if !strings.Contains(f.NextStep, "--cancel") || !strings.Contains(f.NextStep, "node 3") {
					t.Errorf("next step %q", f.NextStep)
				}
			}},
		{name: "never fetched", mutate: func(t *testing.T, v *api.ClusterView) { adding(t, v).LastAdvanceSeconds = nil },
			want: []string{"REASSIGNMENT_STALLED warning orders-0 node=3"}},
		{name: "just under the threshold", mutate: func(t *testing.T, v *api.ClusterView) { adding(t, v).LastAdvanceSeconds = admintest.Secs(29.9) }},
		{name: "caught up, waiting for the others", mutate: func(t *testing.T, v *api.ClusterView) {
			s := adding(t, v)
			s.Lag, s.LastAdvanceSeconds = 0, admintest.Secs(120)
		}},
		{name: "not an adding replica", mutate: func(t *testing.T, v *api.ClusterView) {
			s := adding(t, v)
			s.Adding, s.LastAdvanceSeconds = false, admintest.Secs(120)
		}},
	})
}
