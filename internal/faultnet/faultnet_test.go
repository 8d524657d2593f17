package faultnet

import (
	"bufio"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// echo answers each line with the same line until the test ends.
func echo(t *testing.T) string {
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

// ask sends a line on c and reads the answer within d.
func ask(c net.Conn, d time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCutHealDownUp(t *testing.T) {
	l, err := Start("test", "127.0.0.1:0", echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	c := dial(t, l.Addr())
	if got, err := ask(c, 2*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("before a cut: %q %v", got, err)
	}

	// A cut silences the open connection and new ones, twice nested.
	if err := l.Cut(); err != nil {
		t.Fatal(err)
	}
	if err := l.Cut(); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(c, 300*time.Millisecond); err == nil {
		t.Fatalf("a cut link answered %q", got)
	}
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(dial(t, l.Addr()), 300*time.Millisecond); err == nil {
		t.Fatalf("a link cut twice and healed once answered %q", got)
	}
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(dial(t, l.Addr()), 2*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("after the heal: %q %v", got, err)
	}

	// Down refuses dials, as a dead process's port does; Up serves again.
	addr := l.Addr()
	l.Down()
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial a link that is down: %v, want connection refused", err)
	}
	if err := l.Up(); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(dial(t, addr), 2*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("after Up: %q %v", got, err)
	}
}
