// Package faultnet puts a TCP proxy on a link so fault tests can cut it:
// toxiproxy (github.com/Shopify/toxiproxy/v2), used as a library. A cut
// drops every byte both ways while connections stay open, as on a
// partitioned network; a heal closes the connections that lost bytes (TCP
// would have reset them too), so both sides redial. Down closes the
// listener, so dials are refused as they are when a process has died.
package faultnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// cutToxics are the toxics of a cut: a "timeout" toxic without a timeout
// on each direction drops every byte and never closes the connection.
var cutToxics = []struct{ name, json string }{
	{"cut-up", `{"name":"cut-up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`},
	{"cut-down", `{"name":"cut-down","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`},
}

// Link is one proxy from a listen address to an upstream address. Its
// methods are safe for concurrent use; cuts nest, so two faults that both
// cut a link heal it only when both have healed.
type Link struct {
	p *toxiproxy.Proxy

	mu   sync.Mutex
	cuts int
}

// Start listens at listen ("127.0.0.1:0" picks a port) and forwards every
// connection to upstream. Close stops it.
func Start(name, listen, upstream string) (*Link, error) {
	// One server per link: it only carries the proxy's logger and metrics,
	// both discarded.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, name, listen, upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start proxy %s on %s: %w", name, listen, err)
	}
	return &Link{p: p}, nil
}

// Addr is the address the link listens on.
func (l *Link) Addr() string { return l.p.Listen }

// Cut silences the link (or counts one more cut of an already cut link).
func (l *Link) Cut() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cuts++
	if l.cuts > 1 {
		return nil
	}
	for _, t := range cutToxics {
		if _, err := l.p.Toxics.AddToxicJson(strings.NewReader(t.json)); err != nil {
			return fmt.Errorf("cut %s: %w", l.p.Name, err)
		}
	}
	return nil
}

// Heal undoes one Cut; the last one forwards again.
func (l *Link) Heal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cuts == 0 {
		return nil
	}
	l.cuts--
	if l.cuts > 0 {
		return nil
	}
	for _, t := range cutToxics {
		if err := l.p.Toxics.RemoveToxic(context.Background(), t.name); err != nil {
			return fmt.Errorf("heal %s: %w", l.p.Name, err)
		}
	}
	return nil
}

// HealAll undoes every cut at once.
func (l *Link) HealAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cuts > 0 {
		l.p.Toxics.ResetToxics(context.Background())
	}
	l.cuts = 0
}

// Down stops listening and closes the link's connections: dials are
// refused until Up.
func (l *Link) Down() { l.p.Stop() }

// Up listens again on the same address after Down.
func (l *Link) Up() error {
	if err := l.p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		return fmt.Errorf("reopen proxy %s: %w", l.p.Name, err)
	}
	return nil
}

// Close stops the link for good.
func (l *Link) Close() { l.p.Stop() }
