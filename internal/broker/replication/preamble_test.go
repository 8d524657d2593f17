package replication

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// preambleRound runs both ends of the replica preamble over a real socket
// pair: the follower claims claimed, the leader knows current.
func preambleRound(t *testing.T, claimed, current uint64) (dialErr, acceptErr error, seen uint64, follower net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		inc uint64
		err error
	}
	done := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- accepted{err: err}
			return
		}
		defer c.Close()
		inc, err := AcceptReplicaConn(c, time.Now().Add(5*time.Second), func(inc uint64) bool { return inc == current })
		done <- accepted{inc, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	dialErr = OpenReplicaConn(c, claimed, time.Now().Add(5*time.Second))
	a := <-done
	return dialErr, a.err, a.inc, c
}

// The follower's incarnation is what the leader sees; the current one is
// accepted on both ends, with the deadlines cleared.
func TestReplicaPreambleAcceptsTheCurrentIncarnation(t *testing.T) {
	dialErr, acceptErr, seen, _ := preambleRound(t, 0x0102030405060708, 0x0102030405060708)
	if dialErr != nil || acceptErr != nil {
		t.Fatalf("dial: %v, accept: %v", dialErr, acceptErr)
	}
	if seen != 0x0102030405060708 {
		t.Fatalf("leader read incarnation %#x", seen)
	}
}

// Another incarnation is refused on both ends with STALE_BROKER_EPOCH.
func TestReplicaPreambleRefusesAStaleIncarnation(t *testing.T) {
	dialErr, acceptErr, seen, _ := preambleRound(t, 41, 42)
	if !errors.Is(dialErr, kerr.StaleBrokerEpoch) {
		t.Fatalf("dialer got %v, want STALE_BROKER_EPOCH", dialErr)
	}
	if !errors.Is(acceptErr, kerr.StaleBrokerEpoch) {
		t.Fatalf("acceptor got %v, want STALE_BROKER_EPOCH", acceptErr)
	}
	if seen != 41 {
		t.Fatalf("leader read incarnation %d, want 41", seen)
	}
}

// A leader that never answers fails the dial at the deadline instead of
// hanging the fetch loop.
func TestReplicaPreambleTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			held <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	err = OpenReplicaConn(c, 1, time.Now().Add(200*time.Millisecond))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	(<-held).Close()
}
