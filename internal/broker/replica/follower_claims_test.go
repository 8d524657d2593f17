package replica

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A follower's fetch offset is its claim to hold everything below it. A
// claim beyond the leader's log end (or below zero) is refused and leaves no
// trace: the high watermark does not move and the follower's recorded log
// end and catch-up time stay as they were.
func TestFollowerClaimBeyondTheLeadersLogEndIsRefused(t *testing.T) {
	p := lagPartition(t)
	appendDurable(t, p)
	appendDurable(t, p)
	end := p.LogEndOffset()
	if err := p.UpdateFollower(2, 1); err != nil {
		t.Fatalf("honest claim: %v", err)
	}
	if err := p.UpdateFollower(3, 1); err != nil {
		t.Fatalf("honest claim: %v", err)
	}
	hw := p.HighWatermark()
	before := p.Followers()

	for _, claim := range []int64{end + 1, end + 1_000_000, 1 << 62, -1, -1 << 62} {
		if err := p.UpdateFollower(3, claim); !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Fatalf("claim %d with log end %d: %v, want OFFSET_OUT_OF_RANGE", claim, end, err)
		}
	}
	if got := p.HighWatermark(); got != hw {
		t.Fatalf("high watermark moved from %d to %d on refused claims", hw, got)
	}
	after := p.Followers()
	for i := range before {
		if before[i].ID == 3 && (after[i].LogEndOffset != before[i].LogEndOffset || !after[i].LastFetch.Equal(before[i].LastFetch)) {
			t.Fatalf("follower 3 recorded a refused claim: before %+v after %+v", before[i], after[i])
		}
	}
	// The claim at exactly the log end is the honest caught-up one.
	if err := p.UpdateFollower(3, end); err != nil {
		t.Fatalf("claim at the log end: %v", err)
	}
}
