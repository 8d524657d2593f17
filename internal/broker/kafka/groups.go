package kafka

// The classic consumer-group APIs: 08_offset_commit.go, 09_offset_fetch.go,
// 11_join_group.go ... 16_list_groups.go, 42_delete_groups.go and
// 47_offset_delete.go, each declaring its versions. The coordinator
// (internal/broker/group) holds the semantics; the handlers run the calls
// that wait for other members (JoinGroup, SyncGroup) off the connection's
// read goroutine. __consumer_offsets is created by FindCoordinator, or by
// the first commit. This file holds what they share.

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientOf copies what the group coordinator shows of a member's client; the
// copy is taken on the read goroutine, before the Pending runs.
func clientOf(c *Conn) (clientID, host string) {
	if c.Remote != nil {
		host = c.Remote.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return c.ClientID, "/" + host
}

// withVersion makes sure the coordinator's response carries the request's version.
func withVersion[T kmsg.Response](req kmsg.Request, resp T) T {
	resp.SetVersion(req.GetVersion())
	return resp
}
