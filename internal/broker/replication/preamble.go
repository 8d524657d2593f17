package replication

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The replica connection preamble.
//
// A follower fetches from its leader over the cluster listener: a
// connection of purpose transport.PurposeReplica, whose handshake has
// already proven which broker dialed (mutual TLS or the shared-secret
// challenge, current voters only). Before the Kafka protocol starts on it,
// the follower says which life of that broker it is, as Kafka's KIP-903
// carries the broker epoch in replica fetches:
//
//	follower -> leader: incarnation   uint64, big endian (state.Broker.Incarnation it registered with)
//	leader -> follower: error code    int16, big endian: 0, or STALE_BROKER_EPOCH (77)
//
// The leader answers 0 when the incarnation is the broker's current
// registration in its metadata; otherwise it answers STALE_BROKER_EPOCH and
// closes the connection. After a 0 the connection carries Kafka requests
// from the follower, and every Fetch on it checks the incarnation again (a
// broker that restarted and registered anew makes its earlier connections
// stale: their fetches are refused with STALE_BROKER_EPOCH and the
// connection is closed).

// PreambleTimeout bounds writing and answering the preamble on both ends.
const PreambleTimeout = 5 * time.Second

// OpenReplicaConn sends the follower's preamble on c and reads the leader's
// answer, both before deadline; the deadline is cleared afterwards. A
// refusal is returned as an error wrapping the Kafka error
// (kerr.StaleBrokerEpoch).
func OpenReplicaConn(c net.Conn, incarnation uint64, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return fmt.Errorf("replica preamble: %w", err)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], incarnation)
	if _, err := c.Write(b[:]); err != nil {
		return fmt.Errorf("send replica preamble: %w", err)
	}
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return fmt.Errorf("read replica preamble answer: %w", err)
	}
	if code := int16(binary.BigEndian.Uint16(b[:2])); code != 0 {
		return fmt.Errorf("leader refused incarnation %d: %w", incarnation, kerr.ErrorForCode(code))
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("replica preamble: %w", err)
	}
	return nil
}

// AcceptReplicaConn reads a follower's preamble from c and answers it, both
// before deadline (cleared afterwards when accepted): 0 when current says
// the incarnation is the dialing broker's current registration, else
// STALE_BROKER_EPOCH, returned as an error wrapping kerr.StaleBrokerEpoch
// (the caller closes c). It returns the incarnation.
func AcceptReplicaConn(c net.Conn, deadline time.Time, current func(incarnation uint64) bool) (uint64, error) {
	if err := c.SetDeadline(deadline); err != nil {
		return 0, fmt.Errorf("replica preamble: %w", err)
	}
	var b [8]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, fmt.Errorf("read replica preamble: %w", err)
	}
	inc := binary.BigEndian.Uint64(b[:])
	var code int16
	if !current(inc) {
		code = kerr.StaleBrokerEpoch.Code
	}
	binary.BigEndian.PutUint16(b[:2], uint16(code))
	if _, err := c.Write(b[:2]); err != nil {
		return inc, fmt.Errorf("answer replica preamble: %w", err)
	}
	if code != 0 {
		return inc, fmt.Errorf("incarnation %d is not the broker's current registration: %w", inc, kerr.StaleBrokerEpoch)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		return inc, fmt.Errorf("replica preamble: %w", err)
	}
	return inc, nil
}
