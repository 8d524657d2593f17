package diagnose

import (
	"fmt"
	"slices"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/rebalance"
)

// CodeRacksNotHonoured: a partition keeps two replicas in one rack while
// the live brokers' racks would let it use another (docs/doctor.md).
const CodeRacksNotHonoured = "RACKS_NOT_HONOURED"

// ruleRacksNotHonoured: when every live broker has a rack (serve --rack),
// each partition's replicas should span min(replicas, racks) racks, as
// creation and `cluster rebalance` place them; otherwise losing one rack
// loses more of the partition than it must. Racks come from the broker
// list (the controller's when it answered), so the rule says nothing when
// no node reports brokers, or some live broker has no rack.
func ruleRacksNotHonoured(in diagInput) []api.Finding {
	list := in.view.BrokerList()
	if list == nil {
		return nil
	}
	rackOf := map[int32]string{}
	racks := map[string]bool{}
	for _, b := range list.Brokers {
		rackOf[b.ID] = b.Rack
		if b.Fenced {
			continue
		}
		if b.Rack == "" {
			return nil // racks are not in use, or only on some brokers
		}
		racks[b.Rack] = true
	}
	if len(racks) < 2 {
		return nil
	}
	names := func(replicas []int32) []string {
		out := make([]string, len(replicas))
		for i, r := range replicas {
			out[i] = rackOf[r]
		}
		return out
	}
	pred := func(r api.PartitionRow) bool { return !rebalance.RacksHonoured(names(r.Replicas), len(racks)) }
	var out []api.Finding
	for _, r := range in.rows {
		if !pred(r) {
			continue
		}
		f := partitionFinding(in, CodeRacksNotHonoured, api.SeverityWarning, r, pred)
		replicaRacks := names(r.Replicas)
		used := slices.Compact(slices.Sorted(slices.Values(replicaRacks)))
		f.Message = fmt.Sprintf("%s keeps its %d replicas %v in %d %s %v while %d racks are live: losing one rack loses more of it than it must",
			tpName(r.Topic, r.Partition), len(r.Replicas), r.Replicas, len(used), plural(len(used), "rack", "racks"), replicaRacks, len(racks))
		f.Evidence = map[string]any{
			"replicas":      r.Replicas,
			"replica_racks": replicaRacks,
			"racks_used":    len(used),
			"racks_live":    len(racks),
		}
		f.NextStep = "`chronik cluster rebalance --dry-run` shows the moves that spread it over the racks; run it without --dry-run to apply them"
		out = append(out, f)
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
