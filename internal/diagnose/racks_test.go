package diagnose

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// fxRacks gives broker b the rack racks[b-1] in every node's broker list
// ("" leaves it without one).
func fxRacks(racks ...string) func(t *testing.T, v *api.ClusterView) {
	return func(t *testing.T, v *api.ClusterView) {
		t.Helper()
		for i := range v.Nodes {
			for j := range v.Nodes[i].Brokers.Brokers {
				b := &v.Nodes[i].Brokers.Brokers[j]
				b.Rack = racks[b.ID-1]
			}
		}
	}
}

// fxTwoReplicas shrinks partition 0 to replicas [1 2] in every node's
// answer, so that racks a,a,b crowd it into rack a.
func fxTwoReplicas(t *testing.T, v *api.ClusterView) {
	t.Helper()
	fxAllParts(v, 0, func(p *api.PartitionInfo) {
		p.Replicas, p.ISR = []int32{1, 2}, []int32{1, 2}
	})
}

func TestRuleRacksNotHonoured(t *testing.T) {
	both := func(fns ...func(*testing.T, *api.ClusterView)) func(*testing.T, *api.ClusterView) {
		return func(t *testing.T, v *api.ClusterView) {
			for _, fn := range fns {
				fn(t, v)
			}
		}
	}
	runRuleCases(t, ruleRacksNotHonoured, []ruleCase{
		{name: "no racks"},
		{name: "no racks, two replicas", mutate: fxTwoReplicas},
		{name: "three racks, rf 3 everywhere", mutate: fxRacks("a", "b", "c")},
		{name: "two racks, rf 3 uses both", mutate: fxRacks("a", "a", "b")},
		{name: "two replicas crowd rack a", mutate: both(fxRacks("a", "a", "b"), fxTwoReplicas),
			want: []string{"RACKS_NOT_HONOURED warning orders-0 node=-"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if f.Evidence["racks_used"] != 1 || f.Evidence["racks_live"] != 2 || !strings.Contains(f.Message, "[a a]") ||
					!strings.Contains(f.NextStep, "cluster rebalance --dry-run") {
					t.Errorf("finding: %+v", f)
				}
			}},
		{name: "one rack only: nothing to honour", mutate: both(fxRacks("a", "a", "a"), fxTwoReplicas)},
		{name: "a live broker without rack: racks not in use", mutate: both(fxRacks("a", "a", ""), fxTwoReplicas)},
		{name: "the rackless broker is fenced: racks a and b still judged", mutate: both(fxRacks("a", "b", ""), func(t *testing.T, v *api.ClusterView) {
			for i := range v.Nodes {
				v.Nodes[i].Brokers.Brokers[2].Fenced = true
			}
			fxAllParts(v, 0, func(p *api.PartitionInfo) { p.Replicas, p.ISR = []int32{1, 3}, []int32{1} })
		})},
		{name: "no broker list", mutate: both(fxRacks("a", "a", "b"), fxTwoReplicas, func(t *testing.T, v *api.ClusterView) {
			for i := range v.Nodes {
				v.Nodes[i].Brokers = nil
			}
		})},
	})
}
