package tui

import (
	"fmt"
	"strconv"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// The detail view's lines on a compacted partition: its cleaning policy,
// then each replica's own cleaning as its node reports it (every replica
// cleans its own log; an uncleanable one or a stopped cleaner in red).

// cleanerLines are nil for a partition no answering replica compacts.
func (m *Model) cleanerLines(r api.PartitionRow) []string {
	tp := tpOf(r)
	type replicaCleaner struct {
		id   int32
		c    *api.PartitionCleaner
		node *api.LogCleaner
	}
	var reps []replicaCleaner
	for _, id := range r.Replicas {
		if p, node, ok := hostedOn(m.cluster, tp, id); ok && p.Cleaner != nil {
			reps = append(reps, replicaCleaner{id: id, c: p.Cleaner, node: node})
		}
	}
	if len(reps) == 0 {
		return nil
	}
	c := reps[0].c
	if r.Cleaner != nil {
		c = r.Cleaner
	}
	maxLag := "none"
	if c.MaxCompactionLagSeconds > 0 {
		maxLag = (time.Duration(c.MaxCompactionLagSeconds) * time.Second).String()
	}
	out := []string{fmt.Sprintf("cleanup.policy %s  min.cleanable.dirty.ratio %s  max.compaction.lag %s",
		c.CleanupPolicy, api.Percent(c.MinCleanableRatio), maxLag)}
	for _, rc := range reps {
		line := fmt.Sprintf("cleaner on %d: %s (%s dirty, %s clean, %d passes)", rc.id, rc.c.Summary(),
			api.HumanBytes(float64(rc.c.DirtyBytes)), api.HumanBytes(float64(rc.c.CleanBytes)), rc.c.Passes)
		switch {
		case rc.c.Uncleanable != "":
			since := ""
			if rc.c.UncleanableSeconds != nil {
				since = " for " + secs(rc.c.UncleanableSeconds)
			}
			line = fmt.Sprintf("cleaner on %d: ✗ uncleanable%s: %s", rc.id, since, oneLine(rc.c.Uncleanable))
			line = m.st.paint(stRed, line)
		case rc.node != nil && rc.node.Enabled && !rc.node.Running:
			line = m.st.paint(stRed, line+"  ✗ node "+strconv.Itoa(int(rc.id))+"'s cleaner is not running")
		case rc.node != nil && !rc.node.Enabled:
			line += m.st.paint(stFaint, "  (cleaner disabled on node "+strconv.Itoa(int(rc.id))+")")
		}
		out = append(out, line)
	}
	return out
}

// hostedOn is node's own answer for tp and its log cleaner, when it
// answered and hosts tp.
func hostedOn(v api.ClusterView, tp api.TopicPartition, node int32) (api.PartitionInfo, *api.LogCleaner, bool) {
	for _, n := range v.Nodes {
		if n.NodeID != node || !n.Reachable() || n.Partitions == nil {
			continue
		}
		var lc *api.LogCleaner
		if n.Node != nil {
			lc = n.Node.LogCleaner
		}
		for _, p := range n.Partitions.Partitions {
			if p.Topic == tp.Topic && p.Partition == tp.Partition {
				return p, lc, true
			}
		}
	}
	return api.PartitionInfo{}, nil, false
}
