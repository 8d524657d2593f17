package transport

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// refusalLogInterval is how often one source of refusals is logged.
const refusalLogInterval = 10 * time.Second

// maxLimiterKeys bounds the limiter's memory when many sources misbehave;
// past it, entries older than the interval are swept.
const maxLimiterKeys = 1024

// logLimiter logs at most one line per key per interval and says how many
// were suppressed in between, so a host hammering the port cannot flood the
// log.
type logLimiter struct {
	interval time.Duration
	mu       sync.Mutex
	keys     map[string]*limitEntry
}

type limitEntry struct {
	last       time.Time
	suppressed int
}

func newLogLimiter(interval time.Duration) *logLimiter {
	return &logLimiter{interval: interval, keys: make(map[string]*limitEntry)}
}

// allow reports whether key may log now, and how many lines were
// suppressed since it last did.
func (l *logLimiter) allow(key string, now time.Time) (bool, int) {
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

// log writes msg with args at level unless key logged within the interval.
func (l *logLimiter) log(logger *slog.Logger, level slog.Level, msg, key string, args ...any) {
	ok, suppressed := l.allow(key, time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed_since_last", suppressed)
	}
	logger.Log(context.Background(), level, msg, args...)
}
