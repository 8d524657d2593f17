// Package netlimit holds the limits every listener shares: the count of
// open connections in total and per remote IP, and a keyed rate limit on
// log lines so that a host hammering a port cannot flood the log. It uses
// the standard library only.
package netlimit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// RemoteIP is the host part of a peer address, what per-IP limits count.
func RemoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// Conns counts open connections, in total and by remote IP, and admits a
// new one only below both limits (--max-connections,
// --max-connections-per-ip). It is safe for concurrent use.
type Conns struct {
	max, perIP int

	mu   sync.Mutex
	open int
	byIP map[string]int
}

// New returns a counter that admits at most max connections, and at most
// perIP from one IP.
func New(max, perIP int) *Conns {
	return &Conns{max: max, perIP: perIP, byIP: make(map[string]int)}
}

// Admit counts a new connection from ip, or returns why it is refused
// (and counts nothing).
func (c *Conns) Admit(ip string) (refusal string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.open >= c.max:
		return fmt.Sprintf("max-connections (%d) reached", c.max)
	case c.byIP[ip] >= c.perIP:
		return fmt.Sprintf("max-connections-per-ip (%d) reached for %s", c.perIP, ip)
	}
	c.add(ip)
	return ""
}

// AdmitAlways counts a connection under key that no limit refuses (a
// cluster connection, which clients must not be able to starve); it still
// counts toward the total others are admitted against.
func (c *Conns) AdmitAlways(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(key)
}

func (c *Conns) add(ip string) {
	c.open++
	c.byIP[ip]++
}

// Release uncounts a connection admitted from ip.
func (c *Conns) Release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if c.byIP[ip]--; c.byIP[ip] <= 0 {
		delete(c.byIP, ip)
	}
}

// Open is the number of connections counted.
func (c *Conns) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// maxLimiterKeys bounds a LogLimiter's memory when many sources misbehave;
// past it, entries older than the interval are swept.
const maxLimiterKeys = 1024

// LogLimiter lets a line through at most once per key per interval and
// counts the lines it held back in between. It is safe for concurrent use.
type LogLimiter struct {
	interval time.Duration
	mu       sync.Mutex
	keys     map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

// NewLogLimiter returns a limiter that lets one line per key through each
// interval.
func NewLogLimiter(interval time.Duration) *LogLimiter {
	return &LogLimiter{interval: interval, keys: make(map[string]*limitEntry)}
}

// Allow reports whether key may log at now, and how many of its lines were
// suppressed since it last did.
func (l *LogLimiter) Allow(key string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= maxLimiterKeys {
			for k, old := range l.keys {
				if now.Sub(old.last) >= l.interval {
					delete(l.keys, k)
				}
			}
			if len(l.keys) >= maxLimiterKeys {
				return false, 0 // every slot is busy: drop rather than grow
			}
		}
		l.keys[key] = &limitEntry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < l.interval {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// Log writes msg with args at level unless key logged within the interval;
// when lines were suppressed it adds their count as suppressed_since_last.
func (l *LogLimiter) Log(logger *slog.Logger, level slog.Level, msg, key string, args ...any) {
	ok, suppressed := l.Allow(key, time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	logger.Log(context.Background(), level, msg, args...)
}
