package kafka

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Pending finishes a request whose answer has to wait: acks=all, a fetch long
// poll, a group rebalance. The server runs it on its own goroutine; ctx ends
// when the connection or the server closes. Responses still go out in request
// order.
type Pending func(ctx context.Context) kmsg.Response

// HandlerFunc serves one decoded request. It runs on the connection's read
// goroutine, in request order, so whatever must happen in order (appends to a
// log) happens here and whatever waits goes into the returned Pending. It
// returns either a response or a Pending. An error closes the connection.
type HandlerFunc func(ctx context.Context, c *Conn, req kmsg.Request) (kmsg.Response, Pending, error)

// API is one served API key: the version range and its handler.
type API struct {
	Min, Max int16
	Handle   HandlerFunc
}

// served is one API as its NN_name.go file declares it: the key, the version
// range and the handler. Each file declares its API once, in a method of
// Backend next to the handler, and its header comment's first line repeats
// the range in the fixed form "// <Name>, versions <min>-<max>." (checked by
// TestHeaderCommentsMatchDeclaredVersions). Backend.APIs collects them.
type served struct {
	key int16
	API
}

// APIs maps an API key to how it is served. Keys absent from the map are
// unknown to the broker. ApiVersions (key 18) is answered by the server itself
// from this table.
type APIs map[int16]API

// Conn is what a handler knows about the connection a request came on.
type Conn struct {
	Remote   net.Addr
	ClientID string // from the latest request header
	// Replica is the broker at the other end of an authenticated cluster
	// connection (Server.ServeConn): its node id as the cluster transport
	// proved it and the registration incarnation it claimed. Nil on the
	// Kafka listeners, whose clients are never trusted as followers: a
	// Fetch's ReplicaID counts only when it equals Replica.ID.
	Replica *ReplicaPeer
	// Listener is the name of the Kafka listener the connection came in on
	// (its --listeners name, e.g. "PLAINTEXT" or "SASL_SSL"); empty on
	// cluster connections. Metadata answers with that listener's addresses.
	Listener string

	// principal is who the connection proved to be (Principal); set by the
	// TLS handshake or SASL on the read goroutine, read by Pendings too.
	principal atomic.Pointer[Principal]
	// sasl is the connection's SASL exchange and session (sasl.go).
	sasl saslConn
	// mutedUntil (unix nanoseconds) holds back reading the next request
	// until then: quota throttling mutes the channel as Kafka does (KIP-219).
	mutedUntil atomic.Int64
}

// Principal is an authenticated identity in Kafka's form, Type:Name
// ("User:alice"). Connections that proved nothing are User:ANONYMOUS.
type Principal struct {
	Type, Name string
}

// PrincipalUserType is Kafka's principal type for users and client
// certificates.
const PrincipalUserType = "User"

// AnonymousPrincipal is the principal of a connection that has not
// authenticated (PLAINTEXT, or SSL without a client certificate).
func AnonymousPrincipal() Principal { return Principal{Type: PrincipalUserType, Name: "ANONYMOUS"} }

func (p Principal) String() string { return p.Type + ":" + p.Name }

// Principal is who the connection authenticated as; AnonymousPrincipal
// until something proved otherwise.
func (c *Conn) Principal() Principal {
	if p := c.principal.Load(); p != nil {
		return *p
	}
	return AnonymousPrincipal()
}

// SetPrincipal records who the connection proved to be.
func (c *Conn) SetPrincipal(p Principal) { c.principal.Store(&p) }

// MuteUntil stops the server reading this connection's next request before
// t (quota throttling); a later t extends it, an earlier one changes nothing.
func (c *Conn) MuteUntil(t time.Time) {
	n := t.UnixNano()
	for {
		cur := c.mutedUntil.Load()
		if n <= cur || c.mutedUntil.CompareAndSwap(cur, n) {
			return
		}
	}
}

// MutedUntil is when reading may resume; the zero time when not muted.
func (c *Conn) MutedUntil() time.Time {
	if n := c.mutedUntil.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}
