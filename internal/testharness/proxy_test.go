package testharness

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers each line with the same line until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// roundTrip dials addr, sends a line and reads the answer within d.
func roundTrip(addr string, d time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestProxyForwardsCutsAndHeals(t *testing.T) {
	p := StartProxy(t, "", echoServer(t))
	if got, err := roundTrip(p.Addr, 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}
	// An open connection goes silent at Cut; a new one connects but hears nothing.
	open, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := open.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(open).ReadString('\n'); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	p.Cut()
	_ = open.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := open.Write([]byte("b\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := open.Read(make([]byte, 1)); err == nil {
		t.Error("a forwarded connection answered through the cut")
	}
	if got, err := roundTrip(p.Addr, 300*time.Millisecond); err == nil {
		t.Errorf("answered while cut: %q", got)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("while cut: %v, want a timeout (held, not refused)", err)
	}
	p.Heal()
	Eventually(t, 5*time.Second, "the proxy forwarding again", func() bool {
		got, err := roundTrip(p.Addr, time.Second)
		return err == nil && got == "ping\n"
	})
}
