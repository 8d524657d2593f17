package testharness

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards the TCP connections made to its address to a target, until
// Cut: then it closes the connections it forwards and holds new ones open
// without reading or answering (as Silence does), so whoever dials it sees
// the target paused while the target itself runs. Heal forwards again. It
// is closed at the end of the test; its goroutines end with it.
type Proxy struct {
	Addr   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[net.Conn]struct{} // forwarded (both ends) and held connections
}

// StartProxy listens at addr (FreeAddr when empty) and forwards to target.
func StartProxy(t testing.TB, addr, target string) *Proxy {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("proxy %s: %v", addr, err)
	}
	p := &Proxy{Addr: addr, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // held: open and mute until Heal or close
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// track records c so Cut and close can close it; false once closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// forward pipes c to a new connection to the target, both ways, until
// either side closes.
func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	defer c.Close()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Closing both ends stops the other direction too.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// Cut stops forwarding: open connections are closed, new ones are held
// mute.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Heal forwards new connections again; held ones are closed so their
// dialers retry.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	for c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
