package broker

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// limitListener closes connections beyond a total and a per-IP count at
// accept, as the Kafka listener does (--max-connections,
// --max-connections-per-ip), so that idle or slow admin clients cannot take
// file handles without bound. Unlike golang.org/x/net/netutil's
// LimitListener it never blocks Accept: an excess connection is refused, not
// queued.
type limitListener struct {
	net.Listener
	max, perIP int
	log        *slog.Logger

	mu         sync.Mutex
	open       int
	byIP       map[string]int
	lastLog    time.Time
	suppressed int
}

func newLimitListener(ln net.Listener, maxConns, perIP int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: ln, max: maxConns, perIP: perIP, log: log, byIP: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(nc.RemoteAddr())
		if reason := l.admit(ip); reason != "" {
			nc.Close()
			l.logRefusal(nc.RemoteAddr(), reason)
			continue
		}
		return &countedConn{Conn: nc, release: func() { l.done(ip) }}, nil
	}
}

// admit counts a new connection from ip, or says why it is refused.
func (l *limitListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.open >= l.max:
		return "max-connections reached"
	case l.byIP[ip] >= l.perIP:
		return "max-connections-per-ip reached for " + ip
	}
	l.open++
	l.byIP[ip]++
	return ""
}

func (l *limitListener) done(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// logRefusal logs at most once a second, with the count held back.
func (l *limitListener) logRefusal(remote net.Addr, reason string) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.lastLog) < time.Second {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.lastLog, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn("admin connection refused", "remote", remote.String(), "reason", reason, "refused_since_last_log", suppressed)
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

// hostOf is the IP of a peer address.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
