package testharness

import (
	"testing"

	"github.com/chronik-dev/chronik/internal/faultnet"
)

// Proxy forwards the TCP connections made to its address to a target until
// Cut; then every byte both ways is dropped while connections stay open, so
// whoever dials it sees the target silent while the target itself runs.
// Heal forwards again and closes the connections that lost bytes, so their
// dialers redial. It is a faultnet.Link closed at the end of the test.
type Proxy struct {
	Addr string
	link *faultnet.Link
}

// StartProxy listens at addr (FreeAddr when empty) and forwards to target.
func StartProxy(t testing.TB, addr, target string) *Proxy {
	t.Helper()
	if addr == "" {
		addr = FreeAddr(t)
	}
	l, err := faultnet.Start("proxy-"+addr, addr, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return &Proxy{Addr: l.Addr(), link: l}
}

// Cut silences the link.
func (p *Proxy) Cut() {
	if err := p.link.Cut(); err != nil {
		panic(err) // only a malformed built-in toxic fails
	}
}

// Heal forwards again.
func (p *Proxy) Heal() {
	if err := p.link.Heal(); err != nil {
		panic(err)
	}
}
