package testharness

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// fatalTB records Fatalf instead of ending the test; Eventually returns after
// it because the recorded call does not stop the goroutine.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	if f.msg == "" {
		f.msg = fmt.Sprintf(format, args...)
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	f := &fatalTB{TB: t}
	Eventually(f, 5*time.Second, "third look", func() bool { n++; return n == 3 })
	if f.msg != "" || n != 3 {
		t.Fatalf("looked %d times, failure %q", n, f.msg)
	}
}

func TestEventuallyEveryPausesBetweenLooks(t *testing.T) {
	n := 0
	f := &fatalTB{TB: t}
	start := time.Now()
	EventuallyEvery(f, 5*time.Second, 50*time.Millisecond, "third look", func() bool { n++; return n == 3 })
	if took := time.Since(start); f.msg != "" || n != 3 || took < 100*time.Millisecond {
		t.Fatalf("looked %d times in %v, failure %q", n, took, f.msg)
	}
}

func TestEventuallyFailsWithWhatAndDetail(t *testing.T) {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The recorded Fatalf does not stop the loop; the condition turns
		// true after the failure so that the goroutine ends.
		Eventually(f, 30*time.Millisecond, "never", func() bool { return f.msg != "" }, func() string { return "state 7" })
	}()
	<-done
	if !strings.Contains(f.msg, "waiting for never; state 7") {
		t.Fatalf("failure message %q", f.msg)
	}
}

func TestFreeAddrIsBindableAndBelowTheEphemeralRange(t *testing.T) {
	addr := FreeAddr(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("bind %s: %v", addr, err)
	}
	defer ln.Close()
	if p := ln.Addr().(*net.TCPAddr).Port; p < portLow || p >= portLow+portRange {
		t.Fatalf("port %d outside [%d, %d)", p, portLow, portLow+portRange)
	}
}

func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
