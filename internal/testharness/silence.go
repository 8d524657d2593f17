package testharness

import (
	"net"
	"sync"
	"testing"
)

// Silence listens at addr (where a stopped node listened) and holds every
// connection open without reading or answering: to its peers the node looks
// paused (dials connect, then time out), not gone (dials refused). The
// returned stop closes the listener and the held connections, so the node
// can bind addr again; it also runs at the end of the test.
func Silence(t testing.TB, addr string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("silence %s: %v", addr, err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by stop
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ln.Close()
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range held {
				c.Close()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
