package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// A replica's cleaning becomes the API's cleaner object: times as ages
// from now, durations in seconds, the policy by name; a policy that does
// not compact has none.
func TestPartitionCleanerFromStatus(t *testing.T) {
	now := time.Now()
	st := replica.CleanerStatus{
		Policy: partlog.CleanupCompactDelete, MinCleanableRatio: 0.5, MaxCompactionLag: time.Hour,
		State: partlog.CleanerState{
			FirstDirtyOffset: 900, CleanableEnd: 1500, CleanBytes: 3000, DirtyBytes: 1000, DirtyRatio: 0.25,
			OldestDirty: now.Add(-90 * time.Second), Due: true, LastClean: now.Add(-2 * time.Minute),
			LastCleanDuration: 1500 * time.Millisecond, BytesReclaimed: 7000, Passes: 3,
		},
		Uncleanable: "crc mismatch", UncleanableSince: now.Add(-5 * time.Second),
	}
	c := partitionCleaner(st, now)
	if c == nil || c.CleanupPolicy != "compact,delete" || c.FirstDirtyOffset != 900 || c.CleanableEnd != 1500 || c.DirtyRatio != 0.25 ||
		c.MinCleanableRatio != 0.5 || c.DirtyBytes != 1000 || c.CleanBytes != 3000 || !c.Due || c.MaxCompactionLagSeconds != 3600 ||
		c.LastCleanDurationSeconds != 1.5 || c.BytesReclaimed != 7000 || c.Passes != 3 || c.Uncleanable != "crc mismatch" {
		t.Fatalf("cleaner %+v", c)
	}
	if *c.OldestDirtySeconds != 90 || *c.LastCleanSeconds != 120 || *c.UncleanableSeconds != 5 {
		t.Fatalf("ages: oldest dirty %v, last clean %v, uncleanable %v", *c.OldestDirtySeconds, *c.LastCleanSeconds, *c.UncleanableSeconds)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cleanup_policy":"compact,delete"`, `"first_dirty_offset":900`, `"cleanable_end":1500`, `"dirty_ratio":0.25`,
		`"min_cleanable_ratio":0.5`, `"dirty_bytes":1000`, `"clean_bytes":3000`, `"oldest_dirty_seconds":90`, `"max_compaction_lag_seconds":3600`,
		`"due":true`, `"last_clean_seconds":120`, `"last_clean_duration_seconds":1.5`, `"bytes_reclaimed":7000`, `"passes":3`,
		`"uncleanable":"crc mismatch"`, `"uncleanable_seconds":5`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}

	// Never cleaned, nothing dirty, nothing wrong: nulls, no uncleanable keys.
	st = replica.CleanerStatus{Policy: partlog.CleanupCompact, MinCleanableRatio: 0.5}
	c = partitionCleaner(st, now)
	b, _ = json.Marshal(c)
	if c.CleanupPolicy != "compact" || c.LastCleanSeconds != nil || c.OldestDirtySeconds != nil ||
		!strings.Contains(string(b), `"last_clean_seconds":null`) || strings.Contains(string(b), "uncleanable") {
		t.Fatalf("idle cleaner %s", b)
	}
	if c := partitionCleaner(replica.CleanerStatus{Policy: partlog.CleanupDelete}, now); c != nil {
		t.Fatalf("delete policy got a cleaner: %+v", c)
	}
}

func TestLogCleanerFromInfo(t *testing.T) {
	now := time.Now()
	lc := logCleaner(replica.CleanerInfo{Enabled: true, Running: true, Passes: 4, BytesReclaimed: 1 << 20, LastPass: now.Add(-3 * time.Second),
		LastError: "orders-0: crc", Uncleanable: 1, DedupeBufferBytes: 128 << 20, IOMaxBytesPerSecond: 5e6, Backoff: 15 * time.Second}, now)
	b, _ := json.Marshal(lc)
	want := `{"enabled":true,"running":true,"passes":4,"bytes_reclaimed":1048576,"last_pass_seconds":3,"last_error":"orders-0: crc",` +
		`"uncleanable_partitions":1,"dedupe_buffer_bytes":134217728,"io_max_bytes_per_second":5000000,"backoff_seconds":15}`
	if string(b) != want {
		t.Fatalf("log cleaner\n got %s\nwant %s", b, want)
	}
	if lc := logCleaner(replica.CleanerInfo{}, now); lc.LastPassSeconds != nil || lc.Running {
		t.Fatalf("idle %+v", lc)
	}
}

// A real node: GET /v1/node has its log cleaner with the node's settings,
// GET /v1/partitions a cleaner object for the compacted topic's replicas
// with the topic's knobs, and none for a topic that only deletes.
func TestCleanerOnARealNode(t *testing.T) {
	_, srv := serveNode(t, "s3cret")
	ctx := t.Context()
	c := client.New(srv.URL, admintest.NewHTTPClient(t)).WithToken("s3cret")
	for name, configs := range map[string]map[string]string{
		"changes": {"cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.3", "max.compaction.lag.ms": "3600000"},
		"plain":   nil,
	} {
		if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: name, Partitions: 1, ReplicationFactor: 1, Configs: configs}); err != nil {
			t.Fatal(err)
		}
	}
	var lc *api.LogCleaner
	testharness.Eventually(t, 10*time.Second, "the node reports its log cleaner running", func() bool {
		node, err := c.Node(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lc = node.Data.LogCleaner
		return lc != nil && lc.Running
	})
	if !lc.Enabled || lc.BackoffSeconds != 15 || lc.DedupeBufferBytes != 128<<20 || lc.IOMaxBytesPerSecond != 0 || lc.UncleanablePartitions != 0 {
		t.Fatalf("log cleaner %+v", lc)
	}
	parts, err := c.Partitions(ctx, "changes", "plain")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Data.Partitions) != 2 {
		t.Fatalf("partitions %+v", parts.Data)
	}
	for _, p := range parts.Data.Partitions {
		switch p.Topic {
		case "plain":
			if p.Cleaner != nil {
				t.Errorf("plain-0 has a cleaner: %+v", p.Cleaner)
			}
		case "changes":
			cl := p.Cleaner
			if cl == nil || cl.CleanupPolicy != api.CleanupCompactDelete || cl.MinCleanableRatio != 0.3 || cl.MaxCompactionLagSeconds != 3600 ||
				cl.Due || cl.DirtyBytes != 0 || cl.Uncleanable != "" {
				t.Errorf("changes-0 cleaner %+v", cl)
			}
		}
	}
}

// A real pass: keyed overwrites in rolled segments are cleaned, and the
// node's log_cleaner, the replica's cleaner and /metrics all count it.
func TestCleanerPassShowsOnARealNode(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AdminAddr = ""
	cfg.LogCleanerBackoff = 20 * time.Millisecond
	n := inproc.StartNode(t, cfg)
	srv := httptest.NewServer(HandlerFor(nil, "")(n))
	t.Cleanup(srv.Close)
	ctx := t.Context()
	c := client.New(srv.URL, admintest.NewHTTPClient(t))
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "changes", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"cleanup.policy": "compact", "segment.ms": "50", "min.compaction.lag.ms": "0", "min.cleanable.dirty.ratio": "0.01",
	}}); err != nil {
		t.Fatal(err)
	}
	cl := inproc.NodeClient(t, n)
	produce := func(round int) {
		t.Helper()
		var rs []*kgo.Record
		for i := range 50 {
			rs = append(rs, &kgo.Record{Topic: "changes", Key: fmt.Appendf(nil, "key-%d", i%5), Value: fmt.Appendf(nil, "round %d value %d", round, i)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	round := 0
	var pc *api.PartitionCleaner
	// Each round's batch lands in a new segment once the active one is
	// 50 ms old, so earlier rounds become cleanable.
	testharness.Eventually(t, 20*time.Second, "a cleaning pass on changes-0", func() bool {
		round++
		produce(round)
		parts, err := c.Partitions(ctx, "changes")
		if err != nil || len(parts.Data.Partitions) != 1 {
			t.Fatalf("partitions %+v: %v", parts.Data, err)
		}
		pc = parts.Data.Partitions[0].Cleaner
		return pc != nil && pc.Passes > 0 && pc.BytesReclaimed > 0
	}, func() string { return fmt.Sprintf("cleaner %+v", pc) })
	if pc.LastCleanSeconds == nil || pc.FirstDirtyOffset <= 0 || pc.CleanBytes <= 0 || pc.Uncleanable != "" {
		t.Fatalf("cleaner after a pass %+v", pc)
	}
	// The node counts a pass just after the partition's log does.
	var lc *api.LogCleaner
	testharness.Eventually(t, 10*time.Second, "the node's cleaner to count the partition's passes", func() bool {
		node, err := c.Node(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lc = node.Data.LogCleaner
		return lc != nil && lc.Passes >= pc.Passes && lc.BytesReclaimed >= pc.BytesReclaimed
	})
	if !lc.Running || lc.LastPassSeconds == nil {
		t.Fatalf("log cleaner %+v after the partition's %+v", lc, pc)
	}
	resp, err := admintest.NewHTTPClient(t).Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range []string{"chronik_log_cleaner_passes_total ", "chronik_log_cleaner_bytes_reclaimed_total ",
		"chronik_log_cleaner_last_pass_timestamp_seconds "} {
		i := strings.Index(string(body), "\n"+line)
		if i < 0 {
			t.Fatalf("/metrics lacks %s", line)
		}
		v := strings.Fields(string(body)[i+1:])[1]
		if v == "0" {
			t.Errorf("%s= 0 after a pass", line)
		}
	}
	if !strings.Contains(string(body), `chronik_log_cleaner_dirty_ratio{partition="0",topic="changes"}`) {
		t.Errorf("/metrics lacks changes-0's dirty ratio")
	}
}

// A segment corrupted on disk after it was cleaned: the next pass fails on
// it, the replica is marked uncleanable, and the node's own findings say
// LOG_CLEANER_STOPPED for it while its cleaner keeps running.
func TestUncleanablePartitionFoundOnARealNode(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.AdminAddr = ""
	cfg.LogCleanerBackoff = 20 * time.Millisecond
	n := inproc.StartNode(t, cfg)
	srv := httptest.NewServer(HandlerFor(nil, "")(n))
	t.Cleanup(srv.Close)
	ctx := t.Context()
	c := client.New(srv.URL, admintest.NewHTTPClient(t))
	if _, err := c.CreateTopic(ctx, api.CreateTopicRequest{Name: "changes", Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{
		"cleanup.policy": "compact", "segment.ms": "50", "min.compaction.lag.ms": "0", "min.cleanable.dirty.ratio": "0.01",
	}}); err != nil {
		t.Fatal(err)
	}
	cl := inproc.NodeClient(t, n)
	round := 0
	produce := func() {
		t.Helper()
		round++
		var rs []*kgo.Record
		for i := range 20 {
			rs = append(rs, &kgo.Record{Topic: "changes", Key: fmt.Appendf(nil, "key-%d", i%4), Value: fmt.Appendf(nil, "round %d value %d", round, i)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	cleaner := func() *api.PartitionCleaner {
		parts, err := c.Partitions(ctx, "changes")
		if err != nil || len(parts.Data.Partitions) != 1 {
			t.Fatalf("partitions %+v: %v", parts.Data, err)
		}
		return parts.Data.Partitions[0].Cleaner
	}
	testharness.Eventually(t, 20*time.Second, "a first pass on changes-0", func() bool {
		produce()
		pc := cleaner()
		return pc != nil && pc.Passes > 0
	})

	// Flip the last byte of the first segment: its last batch's CRC no
	// longer matches.
	seg := filepath.Join(cfg.DataDir, "logs", "changes-0", "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{last[0] ^ 0xff}, st.Size()-1); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	var pc *api.PartitionCleaner
	testharness.Eventually(t, 20*time.Second, "changes-0 marked uncleanable", func() bool {
		produce()
		pc = cleaner()
		return pc != nil && pc.Uncleanable != ""
	}, func() string { return fmt.Sprintf("cleaner %+v", pc) })
	if pc.UncleanableSeconds == nil {
		t.Errorf("uncleanable without since: %+v", pc)
	}
	node, err := c.Node(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lc := node.Data.LogCleaner; lc == nil || !lc.Running || lc.UncleanablePartitions != 1 || !strings.Contains(lc.LastError, "changes-0") {
		t.Fatalf("log cleaner %+v", lc)
	}
	fs, err := c.Findings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found *api.Finding
	for i, f := range fs.Data.Findings {
		if f.Code == "LOG_CLEANER_STOPPED" {
			found = &fs.Data.Findings[i]
		}
	}
	if found == nil || found.Topic != "changes" || found.Partition == nil || *found.Partition != 0 || found.Node == nil || *found.Node != n.NodeID() ||
		found.Evidence["reason"] != pc.Uncleanable {
		t.Fatalf("findings %+v", fs.Data.Findings)
	}
	t.Logf("%s: %s; next: %s", found.Code, found.Message, found.NextStep)
}
