package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// The log cleaner's rules. Every replica of a compacted topic cleans its
// own log, so both rules look at each hosting node's own answer, not only
// at the leader's.

// Finding codes of the log cleaner; docs/doctor.md describes each.
const (
	// CodeLogCleanerStopped: a node's cleaner is enabled but not running
	// while it hosts compacted partitions, or the cleaner gave up on a
	// partition (uncleanable): their logs grow and tombstones stay.
	CodeLogCleanerStopped = "LOG_CLEANER_STOPPED"
	// CodeLogCleanerBehind: a compacted partition has been due for
	// cleaning far longer than the cleaner's backoff.
	CodeLogCleanerBehind = "LOG_CLEANER_BEHIND"
)

const (
	// cleanerBehindMinSeconds and cleanerBehindBackoffs: a partition due
	// for this long (and at least this many cleaner backoffs) is behind. A
	// cleaner that keeps up cleans a due partition in its next round,
	// within one backoff (15 s by default) plus the passes before it.
	cleanerBehindMinSeconds = 600.0
	cleanerBehindBackoffs   = 10.0
	// defaultCleanerBackoffSeconds stands in for a node that does not
	// report its backoff: Kafka's log.cleaner.backoff.ms, 15 s.
	defaultCleanerBackoffSeconds = 15.0
)

// cleanerHost is one answering node's replica of a compacted partition.
type cleanerHost struct {
	node    int32
	info    api.PartitionInfo
	cleaner *api.LogCleaner // the node's cleaner; nil when it does not say
}

// cleanerHosts lists every compacted replica the answering nodes report,
// by topic, partition and node.
func cleanerHosts(in diagInput) []cleanerHost {
	cleaners := map[int32]*api.LogCleaner{}
	for _, n := range in.view.Nodes {
		if n.Reachable() && n.Node != nil {
			cleaners[viewNodeID(n)] = n.Node.LogCleaner
		}
	}
	var out []cleanerHost
	for _, hs := range in.hosts {
		for _, h := range hs {
			if h.info.Cleaner != nil && h.info.Running {
				out = append(out, cleanerHost{node: h.node, info: h.info, cleaner: cleaners[h.node]})
			}
		}
	}
	slices.SortFunc(out, func(a, b cleanerHost) int {
		return cmp.Or(cmp.Compare(a.info.Topic, b.info.Topic), cmp.Compare(a.info.Partition, b.info.Partition), cmp.Compare(a.node, b.node))
	})
	return out
}

// cleanerEvidence is the partition figures every cleaner finding carries.
func cleanerEvidence(c *api.PartitionCleaner) map[string]any {
	return map[string]any{
		"cleanup_policy":             c.CleanupPolicy,
		"dirty_ratio":                c.DirtyRatio,
		"min_cleanable_ratio":        c.MinCleanableRatio,
		"dirty_bytes":                c.DirtyBytes,
		"clean_bytes":                c.CleanBytes,
		"first_dirty_offset":         c.FirstDirtyOffset,
		"oldest_dirty_seconds":       optValue(c.OldestDirtySeconds),
		"max_compaction_lag_seconds": c.MaxCompactionLagSeconds,
		"last_clean_seconds":         optValue(c.LastCleanSeconds),
		"passes":                     c.Passes,
	}
}

// ruleLogCleanerStopped: (1) a node whose log cleaner is enabled but not
// running while it hosts compacted partitions: none of them is cleaned;
// (2) a replica the cleaner marked uncleanable (a pass failed on it), one
// finding per replica with the reason. A disabled cleaner
// (--log-cleaner-enable=false) is the operator's choice, not a finding.
func ruleLogCleanerStopped(in diagInput) []api.Finding {
	var out []api.Finding
	compacted := map[int32][]string{}
	for _, h := range cleanerHosts(in) {
		compacted[h.node] = append(compacted[h.node], tpName(h.info.Topic, h.info.Partition))
		c := h.info.Cleaner
		if c.Uncleanable == "" {
			continue
		}
		ev := cleanerEvidence(c)
		ev["reason"] = c.Uncleanable
		ev["uncleanable_seconds"] = optValue(c.UncleanableSeconds)
		since := ""
		if c.UncleanableSeconds != nil && *c.UncleanableSeconds >= 1 {
			since = " for " + roundAge(*c.UncleanableSeconds)
		}
		name := tpName(h.info.Topic, h.info.Partition)
		out = append(out, api.Finding{
			Code:      CodeLogCleanerStopped,
			Severity:  api.SeverityWarning,
			Topic:     h.info.Topic,
			Partition: ptr32(h.info.Partition),
			Node:      ptr32(h.node),
			Message: fmt.Sprintf("the log cleaner on node %d gave up on %s%s: %s; its log is no longer compacted and grows (%s dirty)",
				h.node, name, since, oneLine(c.Uncleanable), api.HumanBytes(float64(c.DirtyBytes))),
			Evidence: ev,
			NextStep: fmt.Sprintf("read node %d's log for \"partition marked uncleanable\" (topic %s, partition %d) and fix the cause; "+
				"restarting node %d or changing the topic's config (`chronik topic alter-config %s --set ...`) makes the cleaner try again",
				h.node, h.info.Topic, h.info.Partition, h.node, h.info.Topic),
			SeenBy: []int32{h.node},
		})
	}
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Node == nil || n.Node.LogCleaner == nil {
			continue
		}
		id := viewNodeID(n)
		lc := n.Node.LogCleaner
		parts := compacted[id]
		if !lc.Enabled || lc.Running || len(parts) == 0 {
			continue
		}
		why := "it stopped"
		if lc.LastError != "" {
			why = "last error: " + oneLine(lc.LastError)
		}
		out = append(out, api.Finding{
			Code:     CodeLogCleanerStopped,
			Severity: api.SeverityWarning,
			Node:     ptr32(id),
			Message: fmt.Sprintf("the log cleaner on node %d is enabled but not running (%s): %d compacted %s here (%s) %s not compacted, logs grow and tombstones stay",
				id, why, len(parts), plural(len(parts), "partition", "partitions"), listSome(parts, 5), plural(len(parts), "is", "are")),
			Evidence: map[string]any{
				"enabled":                lc.Enabled,
				"running":                lc.Running,
				"last_error":             lc.LastError,
				"passes":                 lc.Passes,
				"last_pass_seconds":      optValue(lc.LastPassSeconds),
				"compacted_partitions":   len(parts),
				"uncleanable_partitions": lc.UncleanablePartitions,
			},
			NextStep: fmt.Sprintf("read node %d's log for the cleaner's error (\"log cleaner\"); restarting node %d starts its cleaner again", id, id),
			SeenBy:   []int32{id},
		})
	}
	return out
}

// ruleLogCleanerBehind: a compacted replica that is due for cleaning and
// has not been cleaned for max(10 backoffs, 10 min). How long it has been
// due: past max.compaction.lag.ms, since its oldest dirty data passed that
// lag; otherwise (due by dirty ratio) since its last clean or its oldest
// dirty data, whichever is more recent. Replicas the cleaner gave up on,
// and nodes whose cleaner is stopped or disabled, are
// LOG_CLEANER_STOPPED's (or the operator's choice), not this rule's.
func ruleLogCleanerBehind(in diagInput) []api.Finding {
	var out []api.Finding
	for _, h := range cleanerHosts(in) {
		c := h.info.Cleaner
		if !c.Due || c.Uncleanable != "" || (h.cleaner != nil && (!h.cleaner.Enabled || !h.cleaner.Running)) {
			continue
		}
		backoff := defaultCleanerBackoffSeconds
		if h.cleaner != nil && h.cleaner.BackoffSeconds > 0 {
			backoff = h.cleaner.BackoffSeconds
		}
		threshold := max(cleanerBehindBackoffs*backoff, cleanerBehindMinSeconds)
		behind, why, known := dueFor(c)
		if !known || behind < threshold {
			continue
		}
		name := tpName(h.info.Topic, h.info.Partition)
		ev := cleanerEvidence(c)
		ev["due_seconds"] = behind
		ev["threshold_seconds"] = threshold
		ev["backoff_seconds"] = backoff
		if h.cleaner != nil {
			ev["node_last_pass_seconds"] = optValue(h.cleaner.LastPassSeconds)
			ev["io_max_bytes_per_second"] = h.cleaner.IOMaxBytesPerSecond
		}
		out = append(out, api.Finding{
			Code:      CodeLogCleanerBehind,
			Severity:  api.SeverityWarning,
			Topic:     h.info.Topic,
			Partition: ptr32(h.info.Partition),
			Node:      ptr32(h.node),
			Message: fmt.Sprintf("the log cleaner on node %d is behind on %s: due for %s (%s) and not cleaned; dirty %s (min %s), %s dirty, last clean %s",
				h.node, name, roundAge(behind), why, api.Percent(c.DirtyRatio), api.Percent(c.MinCleanableRatio),
				api.HumanBytes(float64(c.DirtyBytes)), api.AgeText(c.LastCleanSeconds)),
			Evidence: ev,
			NextStep: fmt.Sprintf("read node %d's \"log cleaner pass\" log lines: slow passes want a higher --log-cleaner-io-max-bytes-per-second, "+
				"many passes per partition a larger --log-cleaner-dedupe-buffer-size; %s shows every partition's dirty ratio",
				h.node, describeHint(h.info.Topic)),
			SeenBy: []int32{h.node},
		})
	}
	return out
}

// dueFor is how long replica cleaner c has been due, what makes it due,
// and whether its answer tells at all.
func dueFor(c *api.PartitionCleaner) (float64, string, bool) {
	if c.DueSeconds != nil {
		// The node's cleaner says since when: no guess needed.
		why := "dirty ratio at least min.cleanable.dirty.ratio"
		if c.MaxCompactionLagSeconds > 0 && c.OldestDirtySeconds != nil && *c.OldestDirtySeconds > c.MaxCompactionLagSeconds {
			why = "its oldest dirty data is older than max.compaction.lag.ms, " + roundAge(c.MaxCompactionLagSeconds)
		}
		return *c.DueSeconds, why, true
	}
	if c.MaxCompactionLagSeconds > 0 && c.OldestDirtySeconds != nil && *c.OldestDirtySeconds > c.MaxCompactionLagSeconds {
		return *c.OldestDirtySeconds - c.MaxCompactionLagSeconds,
			"its oldest dirty data is older than max.compaction.lag.ms, " + roundAge(c.MaxCompactionLagSeconds), true
	}
	var since []float64
	for _, s := range []*float64{c.LastCleanSeconds, c.OldestDirtySeconds} {
		if s != nil {
			since = append(since, *s)
		}
	}
	if len(since) == 0 {
		return 0, "", false
	}
	return slices.Min(since), "dirty ratio at least min.cleanable.dirty.ratio", true
}

// listSome names up to n items, then how many more.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
