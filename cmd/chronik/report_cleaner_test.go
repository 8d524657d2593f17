package main

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// isr describe -v shows a compacted partition's cleaning in a last CLEANER
// column, on the partition's first row; a table without compacted topics
// has no such column.
func TestISRTableShowsCleaner(t *testing.T) {
	cleaned, dirtyAge, stuck := 185.0, 30.0, 125.0
	rep := diagnose.ISRReport{Partitions: []api.PartitionRow{
		{
			Topic: "__consumer_offsets", Partition: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, MinISR: 1,
			HighWatermark: 10, LogEndOffset: 10, Status: api.StatusOK,
			ReplicaStates: []api.ReplicaState{{ID: 2, LogEndOffset: 10, InISR: true}},
			Cleaner: &api.PartitionCleaner{CleanupPolicy: api.CleanupCompact, DirtyRatio: 0.423, MinCleanableRatio: 0.5,
				LastCleanSeconds: &cleaned, OldestDirtySeconds: &dirtyAge, BytesReclaimed: 12_500_000},
		},
		{
			Topic: "changes", Partition: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, MinISR: 1,
			HighWatermark: 10, LogEndOffset: 10, Status: api.StatusOK,
			ReplicaStates: []api.ReplicaState{{ID: 2, LogEndOffset: 10, InISR: true}, {ID: 3, LogEndOffset: 10, InISR: true}},
			Cleaner: &api.PartitionCleaner{CleanupPolicy: api.CleanupCompactDelete, DirtyRatio: 0.9, MinCleanableRatio: 0.5, Due: true,
				Uncleanable: "crc mismatch at offset 7", UncleanableSeconds: &stuck},
		},
		{
			Topic: "orders", Partition: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}, MinISR: 1,
			HighWatermark: 10, LogEndOffset: 10, Status: api.StatusOK,
		},
	}}
	var b strings.Builder
	if err := RenderISRTable(&b, rep, true, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range []string{
		"\tyes\tdirty 42% (min 50%), cleaned 3m5s ago, 12.5 MB reclaimed",
		"\tyes\tUNCLEANABLE: crc mismatch at offset 7",
		"\tyes\t",
		"\t-\t-",
	} {
		if !strings.HasSuffix(lines[i], want) || len(strings.Split(lines[i], "\t")) != 16 {
			t.Errorf("line %d %q, want suffix %q and 16 cells", i, lines[i], want)
		}
	}

	var tty strings.Builder
	if err := RenderISRTable(&tty, rep, true, TableOptions{TTY: true, Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tty.String(), "CLEANER") || !strings.Contains(tty.String(), "▲ UNCLEANABLE") {
		t.Errorf("tty table:\n%s", tty.String())
	}

	// Without -v, or without a compacted topic, no column.
	var plain strings.Builder
	if err := RenderISRTable(&plain, rep, false, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "CLEANER") || strings.Contains(plain.String(), "dirty") {
		t.Errorf("table without -v:\n%s", plain.String())
	}
	rep.Partitions = rep.Partitions[2:]
	var none strings.Builder
	if err := RenderISRTable(&none, rep, true, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(none.String(), "CLEANER") {
		t.Errorf("table without compacted topics:\n%s", none.String())
	}
}
