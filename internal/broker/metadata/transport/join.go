package transport

import (
	"context"
	"fmt"
	"net"
	"time"
)

// DialJoin opens a PurposeJoin connection from node from, which is not a
// member yet, to whichever member listens at addr: TLS with the cluster CA
// (any node's certificate is accepted, since the joiner does not know the
// member's id), the handshake without a cluster token and, with a secret,
// the challenge. The caller owns the connection; ctx and dialTimeout (0:
// DefaultDialTimeout) bound dialing and the handshake only.
func DialJoin(ctx context.Context, from uint64, addr string, sec Security, dialTimeout time.Duration) (net.Conn, error) {
	t := New(Config{NodeID: from, Security: sec, DialTimeout: dialTimeout})
	c, _, err := t.dialConn(ctx, 0, addr, PurposeJoin)
	if err != nil {
		return nil, fmt.Errorf("dial %s to join: %w", addr, err)
	}
	return c, nil
}
