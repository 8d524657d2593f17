package replica

import (
	"testing"
	"time"
)

// The leader records when a follower's log end last moved forward: a fetch
// at the same offset does not count as progress, one further on does.
func TestFollowerLastAdvance(t *testing.T) {
	p := lagPartition(t)
	appendDurable(t, p)
	appendDurable(t, p)
	find := func(id int32) FollowerInfo {
		for _, f := range p.Followers() {
			if f.ID == id {
				return f
			}
		}
		t.Fatalf("no follower %d", id)
		return FollowerInfo{}
	}
	if !find(2).LastAdvance.IsZero() {
		t.Fatal("an advance before any fetch")
	}
	if err := p.UpdateFollower(2, 1); err != nil {
		t.Fatal(err)
	}
	first := find(2).LastAdvance
	if first.IsZero() {
		t.Fatal("the first fetch is not recorded")
	}
	time.Sleep(5 * time.Millisecond) // distinct timestamps, not a wait for a condition
	if err := p.UpdateFollower(2, 1); err != nil {
		t.Fatal(err)
	}
	if got := find(2).LastAdvance; !got.Equal(first) {
		t.Fatalf("a fetch at the same offset moved the last advance from %v to %v", first, got)
	}
	if err := p.UpdateFollower(2, 2); err != nil {
		t.Fatal(err)
	}
	if got := find(2).LastAdvance; !got.After(first) {
		t.Fatalf("a fetch further on did not move the last advance (%v)", got)
	}
	if r := find(2).OffsetsPerSecond; r != 0 {
		t.Fatalf("a rate %v before a whole window", r)
	}
}
