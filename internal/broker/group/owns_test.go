package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// A node answers only for the groups whose offsets partition it leads; the
// others get NOT_COORDINATOR so the client asks FindCoordinator again.
func TestNotCoordinatorForOtherGroups(t *testing.T) {
	cfg := testConfig(t)
	cfg.Owns = func(g string) bool { return g == "mine" }
	c := newLoaded(t, newMemLog(), cfg)
	ctx := testharness.Context(t, testTimeout)

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "theirs", "m", 1
	if got := c.Heartbeat(ctx, hb).ErrorCode; got != kerr.NotCoordinator.Code {
		t.Errorf("heartbeat for another node's group: %d, want NOT_COORDINATOR", got)
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 9
	join.Group, join.ProtocolType, join.SessionTimeoutMillis = "theirs", "consumer", 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	if got := c.JoinGroup(ctx, join).ErrorCode; got != kerr.NotCoordinator.Code {
		t.Errorf("join another node's group: %d, want NOT_COORDINATOR", got)
	}
	desc := kmsg.NewPtrDescribeGroupsRequest()
	desc.Groups = []string{"mine", "theirs"}
	resp := c.DescribeGroups(ctx, desc)
	if resp.Groups[0].ErrorCode != 0 || resp.Groups[1].ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("describe: codes %d, %d; want 0 and NOT_COORDINATOR", resp.Groups[0].ErrorCode, resp.Groups[1].ErrorCode)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "mine"}, {Group: "theirs"}}
	fr := c.OffsetFetch(ctx, fetch)
	if fr.Groups[0].ErrorCode != 0 || fr.Groups[1].ErrorCode != kerr.NotCoordinator.Code {
		t.Errorf("offset fetch v8: codes %d, %d; want 0 and NOT_COORDINATOR", fr.Groups[0].ErrorCode, fr.Groups[1].ErrorCode)
	}
}
