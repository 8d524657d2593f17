package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// RenderTopicList writes topics as a table: NAME, PARTITIONS, REPLICAS,
// INTERNAL.
func RenderTopicList(w io.Writer, ls []topicadmin.Listing, opts TableOptions) error {
	t := NewTable(opts, "NAME", "PARTITIONS", "REPLICAS", "INTERNAL")
	for _, l := range ls {
		t.Row(l.Name, strconv.Itoa(l.Partitions), strconv.Itoa(l.ReplicationFactor), yesNo(l.Internal))
	}
	return t.Render(w)
}

// RenderTopicDescription writes a topic: one row per partition (PARTITION,
// LEADER, EPOCH, REPLICAS, ISR, OFFLINE), then the configs set on the topic
// (NAME, VALUE). On a terminal a summary line comes first and the tables
// have headers; otherwise a blank line separates the two row kinds, and
// is left out with the configs when there are none.
func RenderTopicDescription(w io.Writer, d topicadmin.Description, opts TableOptions) error {
	var b strings.Builder
	if opts.TTY {
		fmt.Fprintf(&b, "Topic %s", d.Name)
		if d.ID != "" {
			fmt.Fprintf(&b, "  id %s", d.ID)
		}
		fmt.Fprintf(&b, "  %d %s  replication factor %d", len(d.Partitions), plural(len(d.Partitions), "partition", "partitions"), d.ReplicationFactor)
		if d.Internal {
			b.WriteString("  internal")
		}
		b.WriteString("\n\n")
	}
	pt := NewTable(opts, "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "OFFLINE", "ERROR")
	for _, p := range d.Partitions {
		pt.Row(strconv.Itoa(int(p.Partition)), optInt32(p.Leader), optInt32(p.LeaderEpoch),
			ids32(p.Replicas), ids32(p.ISR), ids32(p.OfflineReplicas), dash(p.Error))
	}
	if err := pt.Render(&b); err != nil {
		return err
	}
	switch {
	case len(d.Configs) > 0:
		b.WriteString("\n")
		if err := renderConfigs(&b, d.Configs, opts); err != nil {
			return err
		}
	case opts.TTY:
		b.WriteString("\nNo configs set on the topic: every config has its default.\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write topic: %w", err)
	}
	return nil
}

// RenderTopicDeletion says what was deleted.
func RenderTopicDeletion(w io.Writer, d topicadmin.Deletion) error {
	_, err := fmt.Fprintf(w, "Deleted topic %s (%d %s).\n", d.Name, d.Partitions, plural(d.Partitions, "partition", "partitions"))
	if err != nil {
		return fmt.Errorf("write deletion: %w", err)
	}
	return nil
}

// RenderTopicConfigChange says what changed, then lists the configs set on
// the topic (NAME, VALUE).
func RenderTopicConfigChange(w io.Writer, ch topicadmin.ConfigChange, opts TableOptions) error {
	var b strings.Builder
	var parts []string
	if len(ch.Set) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(ch.Set)) {
			kv = append(kv, k+"="+ch.Set[k])
		}
		parts = append(parts, "set "+strings.Join(kv, ", "))
	}
	if len(ch.Deleted) > 0 {
		parts = append(parts, "deleted "+strings.Join(ch.Deleted, ", "))
	}
	fmt.Fprintf(&b, "Updated topic %s: %s.\n", ch.Name, strings.Join(parts, "; "))
	if len(ch.Configs) > 0 {
		if opts.TTY {
			b.WriteString("\n")
		}
		if err := renderConfigs(&b, ch.Configs, opts); err != nil {
			return err
		}
	} else if opts.TTY {
		b.WriteString("No configs set on the topic: every config has its default.\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write config change: %w", err)
	}
	return nil
}

func renderConfigs(w io.Writer, cs []topicadmin.ConfigEntry, opts TableOptions) error {
	t := NewTable(opts, "CONFIG", "VALUE")
	for _, c := range cs {
		v := "(sensitive)"
		if c.Value != nil {
			v = *c.Value
		}
		t.Row(c.Name, v)
	}
	return t.Render(w)
}

// optInt32 shows Kafka's "none" (-1) as "-".
func optInt32(v int32) string {
	if v < 0 {
		return "-"
	}
	return strconv.Itoa(int(v))
}

func ids32(v []int32) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
