package netlimit

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	l := NewLogLimiter(time.Minute)
	t0 := time.Unix(1000, 0)
	if ok, _ := l.Allow("a", t0); !ok {
		t.Fatal("first line suppressed")
	}
	for i := range 5 {
		if ok, _ := l.Allow("a", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("line within the interval logged")
		}
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatal("another key suppressed")
	}
	ok, suppressed := l.Allow("a", t0.Add(time.Minute))
	if !ok || suppressed != 5 {
		t.Fatalf("after the interval: ok=%v suppressed=%d, want true 5", ok, suppressed)
	}
	// Memory stays bounded when every line has its own key.
	for i := range 3 * maxLimiterKeys {
		l.Allow(fmt.Sprint("k", i), t0.Add(2*time.Minute))
	}
	if len(l.keys) > maxLimiterKeys {
		t.Fatalf("%d keys kept, max %d", len(l.keys), maxLimiterKeys)
	}
}

func TestConns(t *testing.T) {
	c := New(3, 2)
	for _, ip := range []string{"a", "a", "b"} {
		if r := c.Admit(ip); r != "" {
			t.Fatalf("admit %s: %s", ip, r)
		}
	}
	if r, want := c.Admit("c"), "max-connections (3) reached"; r != want {
		t.Fatalf("over the total: %q, want %q", r, want)
	}
	c.Release("b")
	if r, want := c.Admit("a"), "max-connections-per-ip (2) reached for a"; r != want {
		t.Fatalf("over the per-IP limit: %q, want %q", r, want)
	}
	if n := c.Open(); n != 2 {
		t.Fatalf("open %d, want 2 (refusals count nothing)", n)
	}
	// An unrefusable connection counts toward the total all the same.
	c.AdmitAlways("(cluster)")
	if r := c.Admit("c"); r == "" {
		t.Fatal("admitted past the total filled by an unrefusable connection")
	}
	c.Release("(cluster)")
	if r := c.Admit("c"); r != "" {
		t.Fatalf("admit after release: %s", r)
	}
	if n := c.Open(); n != 3 {
		t.Fatalf("open %d, want 3", n)
	}
}

func TestRemoteIP(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 9092}, "10.0.0.1"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 9092}, "::1"},
		{&net.UDPAddr{IP: net.ParseIP("10.0.0.2"), Port: 1}, "10.0.0.2"},
		{&net.UnixAddr{Name: "sock", Net: "unix"}, "sock"},
	} {
		if got := RemoteIP(tc.addr); got != tc.want {
			t.Errorf("RemoteIP(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
