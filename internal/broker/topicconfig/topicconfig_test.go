package topicconfig

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

var testDefaults = Config{
	RetentionMs:       604800000,
	RetentionBytes:    -1,
	SegmentBytes:      1 << 30,
	SegmentMs:         604800000,
	MinInsyncReplicas: 1,
	MaxMessageBytes:   1048588,
	CleanupPolicy:     partlog.CleanupDelete,

	MinCleanableDirtyRatio: DefaultMinCleanableDirtyRatio,
	MaxCompactionLagMs:     DefaultMaxCompactionLagMs,
	DeleteRetentionMs:      DefaultDeleteRetentionMs,
}

func TestTopicConfigNames(t *testing.T) {
	want := []string{"cleanup.policy", "delete.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
		"min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas", "replica.lag.time.max.ms",
		"retention.bytes", "retention.ms", "segment.bytes", "segment.ms", "unclean.leader.election.enable"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, k := range want {
		if !IsKey(k) {
			t.Errorf("IsKey(%q) = false", k)
		}
		if Doc(k) == "" {
			t.Errorf("%s has no documentation", k)
		}
	}
	for _, k := range []string{"", "retention", "compression.type", "RETENTION.MS"} {
		if IsKey(k) {
			t.Errorf("IsKey(%q) = true", k)
		}
	}
	if v := testDefaults.Value("no.such.key"); v != "" {
		t.Errorf("Value of an unknown key = %q", v)
	}
}

func TestResolveAppliesOverrides(t *testing.T) {
	got, err := Resolve(testDefaults, nil)
	if err != nil || got != testDefaults {
		t.Fatalf("Resolve without overrides = %+v, %v; want the defaults", got, err)
	}
	overrides := map[string]string{
		"retention.ms":        "-1",
		"retention.bytes":     "1048576",
		"segment.bytes":       "1048576",
		"segment.ms":          "60000",
		"min.insync.replicas": "2",
		"max.message.bytes":   "0",
		"cleanup.policy":      "compact",

		"min.cleanable.dirty.ratio": "0.25",
		"min.compaction.lag.ms":     "1000",
		"max.compaction.lag.ms":     "60000",
		"delete.retention.ms":       "0",
	}
	got, err = Resolve(testDefaults, overrides)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{RetentionMs: -1, RetentionBytes: 1048576, SegmentBytes: 1048576, SegmentMs: 60000,
		MinInsyncReplicas: 2, MaxMessageBytes: 0, CleanupPolicy: partlog.CleanupCompact,
		MinCleanableDirtyRatio: 0.25, MinCompactionLagMs: 1000, MaxCompactionLagMs: 60000, DeleteRetentionMs: 0}
	if got != want {
		t.Fatalf("Resolve = %+v, want %+v", got, want)
	}
	for k, v := range overrides {
		if got.Value(k) != v {
			t.Errorf("Value(%s) = %q, want %q", k, got.Value(k), v)
		}
	}
	// One override leaves the rest at their defaults.
	got, err = Resolve(testDefaults, map[string]string{"segment.ms": "5"})
	if err != nil {
		t.Fatal(err)
	}
	want = testDefaults
	want.SegmentMs = 5
	if got != want {
		t.Fatalf("Resolve(segment.ms=5) = %+v, want %+v", got, want)
	}
	if got := testDefaults.Value("max.message.bytes"); got != "1048588" {
		t.Errorf("Value(max.message.bytes) of the defaults = %q", got)
	}
}

func TestResolveErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"no.such.config", "1", "unknown topic config"},
		{"retention.ms", "abc", "not a number"},
		{"retention.ms", "-2", "below the minimum -1"},
		{"retention.ms", "1.5", "not a number"},
		{"retention.bytes", "", "not a number"},
		{"retention.bytes", "-5", "below the minimum"},
		{"segment.bytes", "1048575", "below the minimum 1048576"},
		{"segment.bytes", "1024", "below the minimum 1048576"},
		{"segment.bytes", "2147483648", "above the maximum 2147483647"},
		{"segment.ms", "0", "below the minimum 1"},
		{"min.insync.replicas", "0", "below the minimum 1"},
		{"min.insync.replicas", "40000", "too large"},
		{"max.message.bytes", "-1", "below the minimum 0"},
		{"max.message.bytes", "2147483648", "too large"},
		{"max.message.bytes", "99999999999999999999", "not a number"},
		{"cleanup.policy", "", "empty"},
		{"cleanup.policy", " ", "empty"},
		{"cleanup.policy", "DELETE", "not a list of"},
		{"cleanup.policy", "compact,", "not a list of"},
		{"cleanup.policy", "compact;delete", "not a list of"},
		{"cleanup.policy", "compact,delete,gc", "not a list of"},
		{"min.cleanable.dirty.ratio", "1.01", "outside [0, 1]"},
		{"min.cleanable.dirty.ratio", "-0.1", "outside [0, 1]"},
		{"min.cleanable.dirty.ratio", "NaN", "not a number"},
		{"min.cleanable.dirty.ratio", "half", "not a number"},
		{"min.compaction.lag.ms", "-1", "below the minimum 0"},
		{"max.compaction.lag.ms", "0", "below the minimum 1"},
		{"delete.retention.ms", "-1", "below the minimum 0"},
	}
	for _, tt := range tests {
		_, err := Resolve(testDefaults, map[string]string{tt.key: tt.value})
		if err == nil {
			t.Errorf("%s=%q accepted", tt.key, tt.value)
			continue
		}
		if !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: error %q should name the key and say %q", tt.key, tt.value, err, tt.want)
		}
	}
}

// TestResolveFirstErrorIsDeterministic: with several bad keys the error
// names the first in sorted order, whatever the map's iteration order.
func TestResolveFirstErrorIsDeterministic(t *testing.T) {
	overrides := map[string]string{"segment.ms": "x", "retention.ms": "x", "max.message.bytes": "x", "zzz": "1"}
	for range 20 {
		_, err := Resolve(testDefaults, overrides)
		if err == nil || !strings.Contains(err.Error(), "max.message.bytes") {
			t.Fatalf("error %v, want one naming max.message.bytes", err)
		}
	}
}

func TestEffectiveMinISR(t *testing.T) {
	for _, tc := range []struct {
		minISR   int32
		replicas int
		want     int
	}{{1, 3, 1}, {2, 3, 2}, {3, 3, 3}, {2, 1, 1}, {3, 2, 2}, {2, 0, 0}} {
		if got := (Config{MinInsyncReplicas: tc.minISR}).EffectiveMinISR(tc.replicas); got != tc.want {
			t.Errorf("min.insync.replicas=%d, %d replicas: EffectiveMinISR = %d, want %d", tc.minISR, tc.replicas, got, tc.want)
		}
	}
}

func TestCleanupPolicyList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want partlog.CleanupPolicy
		out  string
	}{
		{"delete", partlog.CleanupDelete, "delete"},
		{"compact", partlog.CleanupCompact, "compact"},
		{"compact,delete", partlog.CleanupCompactDelete, "compact,delete"},
		{"delete,compact", partlog.CleanupCompactDelete, "compact,delete"},
		{" delete , compact ", partlog.CleanupCompactDelete, "compact,delete"},
		{"compact,compact", partlog.CleanupCompact, "compact"},
	} {
		got, err := Resolve(testDefaults, map[string]string{"cleanup.policy": tc.in})
		if err != nil {
			t.Errorf("cleanup.policy=%q: %v", tc.in, err)
			continue
		}
		if got.CleanupPolicy != tc.want || got.Value("cleanup.policy") != tc.out {
			t.Errorf("cleanup.policy=%q: %v rendered %q, want %v rendered %q", tc.in, got.CleanupPolicy, got.Value("cleanup.policy"), tc.want, tc.out)
		}
	}
	if got := testDefaults.Value("max.compaction.lag.ms"); got != "9223372036854775807" {
		t.Errorf("default max.compaction.lag.ms renders %q, want Long.MAX_VALUE", got)
	}
	if got := testDefaults.Value("min.cleanable.dirty.ratio"); got != "0.5" {
		t.Errorf("default min.cleanable.dirty.ratio renders %q, want 0.5", got)
	}
}

// TestCompactionLagsMustBeOrdered: max.compaction.lag.ms below
// min.compaction.lag.ms is refused, whichever of them the topic overrides.
func TestCompactionLagsMustBeOrdered(t *testing.T) {
	for _, o := range []map[string]string{
		{"min.compaction.lag.ms": "5000", "max.compaction.lag.ms": "4999"},
		{"max.compaction.lag.ms": "10"}, // below a default min of 20
	} {
		defaults := testDefaults
		defaults.MinCompactionLagMs = 20
		_, err := Resolve(defaults, o)
		if err == nil || !strings.Contains(err.Error(), "max.compaction.lag.ms") || !strings.Contains(err.Error(), "below min.compaction.lag.ms") {
			t.Errorf("Resolve(%v) error = %v, want one naming both lags", o, err)
		}
	}
	got, err := Resolve(testDefaults, map[string]string{"min.compaction.lag.ms": "5000", "max.compaction.lag.ms": "5000"})
	if err != nil || got.MinCompactionLagMs != 5000 || got.MaxCompactionLagMs != 5000 {
		t.Errorf("equal lags: %+v, %v", got, err)
	}
	if got, err := Resolve(testDefaults, map[string]string{"min.compaction.lag.ms": "9223372036854775807"}); err != nil || got.MinCompactionLagMs != math.MaxInt64 {
		t.Errorf("min lag at the default max: %v", err)
	}
}

func TestEditList(t *testing.T) {
	if !IsList("cleanup.policy") || IsList("retention.ms") || IsList("no.such.key") {
		t.Fatal("IsList: only cleanup.policy is a list")
	}
	for _, tc := range []struct {
		current, edit string
		subtract      bool
		want          string
	}{
		{"delete", "compact", false, "delete,compact"},
		{"delete", "delete", false, "delete"},
		{"compact, delete", "delete,compact", false, "compact,delete"},
		{"compact,delete", "delete", true, "compact"},
		{"compact,delete", "compact, delete", true, ""},
		{"delete", "compact", true, "delete"},
		{"", "compact", false, "compact"},
	} {
		if got := EditList(tc.current, tc.edit, tc.subtract); got != tc.want {
			t.Errorf("EditList(%q, %q, subtract=%v) = %q, want %q", tc.current, tc.edit, tc.subtract, got, tc.want)
		}
	}
}
