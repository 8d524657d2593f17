package broker

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/netlimit"
)

// limitListener closes connections beyond a total and a per-IP count at
// accept, as the Kafka listener does (--max-connections,
// --max-connections-per-ip), so that idle or slow admin clients cannot take
// file handles without bound. Unlike golang.org/x/net/netutil's
// LimitListener it never blocks Accept: an excess connection is refused, not
// queued.
type limitListener struct {
	net.Listener
	conns    *netlimit.Conns
	log      *slog.Logger
	refusals *netlimit.LogLimiter // one line a second, with the count held back
}

func newLimitListener(ln net.Listener, maxConns, perIP int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, conns: netlimit.New(maxConns, perIP), log: log,
		refusals: netlimit.NewLogLimiter(time.Second)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := netlimit.RemoteIP(nc.RemoteAddr())
		if reason := l.conns.Admit(ip); reason != "" {
			nc.Close()
			if ok, suppressed := l.refusals.Allow("", time.Now()); ok {
				l.log.Warn("admin connection refused", "remote", nc.RemoteAddr().String(), "reason", reason,
					"refused_since_last_log", suppressed)
			}
			continue
		}
		return &countedConn{Conn: nc, release: func() { l.conns.Release(ip) }}, nil
	}
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
