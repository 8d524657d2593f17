package controller

import (
	"maps"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// TestOffsetsTopicIsCompacted: a new __consumer_offsets is created
// compacted with 100 MiB segments and nothing else; one created by an
// older version (retention turned off instead) is made compacted by one
// proposal, keeping its other overrides, and only once; an explicit policy
// is an operator's choice and stays.
func TestOffsetsTopicIsCompacted(t *testing.T) {
	ctx := t.Context()
	md := newFakeMeta(1)
	c := limitedController(md, Limits{})
	tp, err := c.EnsureTopic(ctx, OffsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}
	if !maps.Equal(tp.Configs, want) {
		t.Fatalf("new offsets topic configs %v, want %v", tp.Configs, want)
	}
	eff, err := c.EffectiveConfig(tp)
	if err != nil || eff.CleanupPolicy != partlog.CleanupCompact {
		t.Fatalf("effective policy %v (%v), want compact", eff.CleanupPolicy, err)
	}
	before := md.proposed
	if _, err := c.EnsureTopic(ctx, OffsetsTopic); err != nil || md.proposed != before {
		t.Fatalf("ensuring an existing compacted offsets topic proposed %d commands (%v)", md.proposed-before, err)
	}

	// An offsets topic as older versions created it.
	old := map[string]string{"retention.ms": "-1", "retention.bytes": "-1", "segment.bytes": "104857600"}
	md.mu.Lock()
	md.s.Topics[OffsetsTopic].Configs = maps.Clone(old)
	md.mu.Unlock()
	before = md.proposed
	tp, err = c.EnsureTopic(ctx, OffsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	upgraded := maps.Clone(old)
	upgraded["cleanup.policy"] = "compact"
	if md.proposed != before+1 || !maps.Equal(tp.Configs, upgraded) || !maps.Equal(md.State().Topics[OffsetsTopic].Configs, upgraded) {
		t.Fatalf("after %d proposals the configs are %v, want one proposal giving %v", md.proposed-before, tp.Configs, upgraded)
	}
	if _, err := c.EnsureTopic(ctx, OffsetsTopic); err != nil || md.proposed != before+1 {
		t.Fatalf("the upgrade was proposed again (%d proposals, %v)", md.proposed-before, err)
	}

	// An operator's explicit delete policy is kept.
	md.mu.Lock()
	md.s.Topics[OffsetsTopic].Configs = map[string]string{"cleanup.policy": "delete"}
	md.mu.Unlock()
	before = md.proposed
	if tp, err := c.EnsureTopic(ctx, OffsetsTopic); err != nil || md.proposed != before || tp.Configs["cleanup.policy"] != "delete" {
		t.Fatalf("explicit policy: %v, %d proposals, %v", tp.Configs, md.proposed-before, err)
	}

	// Other topics are never altered by EnsureTopic.
	if _, err := c.EnsureTopic(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	before = md.proposed
	if tp, err := c.EnsureTopic(ctx, "plain"); err != nil || md.proposed != before || len(tp.Configs) != 0 {
		t.Fatalf("plain topic: %v, %d proposals, %v", tp.Configs, md.proposed-before, err)
	}
}
