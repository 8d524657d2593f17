package kafka

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replica fetches travel over the cluster listener, never over a Kafka
// listener (docs/security.md, "Replica fetches"). The cluster transport
// authenticates the dialing broker (mutual TLS or the shared-secret
// challenge, current voters only) and the node checks the incarnation the
// follower claims against its registration; then the connection is handed
// to ServeConn, which serves it like any Kafka connection with the proven
// identity recorded in Conn.Replica. The Fetch handler honours a ReplicaID
// only on such a connection and only when it is that broker's id
// (checkReplicaFetch).

// clusterConnsKey is the key ServeConn's connections are counted under in
// the per-IP connection counts; no IP address spells it.
const clusterConnsKey = "(cluster)"

// ReplicaPeer is the broker at the other end of a cluster connection.
type ReplicaPeer struct {
	// ID is the broker's node id, proven by the cluster transport.
	ID int32
	// Incarnation is the broker registration (state.Broker.Incarnation)
	// the follower said it dialed as; a Fetch is served only while it is
	// still the broker's current one (KIP-903's broker epoch).
	Incarnation uint64
}

// ServeConn serves the Kafka protocol on nc, an accepted and authenticated
// cluster connection from broker peer, with the listener connections' code:
// the same framing, budgets, timeouts, request order and shutdown. Unlike a
// listener's connections it is not subject to MaxConnections or
// MaxConnectionsPerIP (clients must not be able to starve replication); it
// still counts toward MaxConnections. It returns when the connection ends:
// the peer closes it, ctx ends (the cluster transport stops), or the server
// stops; nc is closed then. After Shutdown it refuses at once.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn, peer ReplicaPeer) error {
	c, _ := s.trackAs(nc, true)
	if c == nil {
		_ = nc.Close()
		return errors.New("serve cluster connection: kafka server is shut down")
	}
	c.info.Replica = &peer
	c.log = c.log.With("replica", peer.ID)
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	c.serve()
	return nil
}

// CloseAfterResponse makes the connection of the request whose handler or
// Pending got ctx close once that request's response is written (and
// flushed): what is refused for the life of a connection (a stale broker
// incarnation) is answered, then the connection ends. Without a request in
// ctx it does nothing.
func CloseAfterResponse(ctx context.Context) {
	if it, _ := ctx.Value(inflightKey{}).(*inflight); it != nil {
		it.closeAfter.Store(true)
	}
}

// CurrentIncarnation reports whether incarnation is broker id's registration
// in the applied metadata: a connection from an earlier life of the broker
// (it restarted and registered again) or from an unregistered one is stale.
func (b *Backend) CurrentIncarnation(id int32, incarnation uint64) bool {
	br, ok := b.Meta.State().Brokers[id]
	return ok && br.Incarnation == incarnation
}

// checkReplicaFetch decides a Fetch that claims a replica id before anything
// is read or recorded. A ReplicaID counts only on a cluster connection of
// that very broker; anywhere else (a Kafka listener, or a broker claiming
// another's id) every partition is refused with TOPIC_AUTHORIZATION_FAILED,
// as Kafka refuses a follower fetch without ClusterAction, and a
// rate-limited line is logged. A connection whose incarnation is no longer
// the broker's current registration gets STALE_BROKER_EPOCH and is closed
// after the answer. It returns the refusal, or nil when the fetch may go on.
// It runs again before each read of a long poll, so a re-registration
// while one waits is seen too.
func (b *Backend) checkReplicaFetch(ctx context.Context, c *Conn, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	if req.ReplicaID < 0 {
		return nil
	}
	if c.Replica == nil || c.Replica.ID != req.ReplicaID {
		if ok, suppressed := b.forgedFetches.Allow("", time.Now()); ok {
			proven := int32(-1)
			if c.Replica != nil {
				proven = c.Replica.ID
			}
			b.Logger.Warn("kafka fetch claiming a replica id refused: not on that broker's authenticated cluster connection",
				"remote", addrString(c.Remote), "client_id", c.ClientID, "claimed_replica", req.ReplicaID,
				"authenticated_replica", proven, "refused_since_last_log", suppressed)
		}
		return unauthorizedFetch(req)
	}
	if !b.CurrentIncarnation(c.Replica.ID, c.Replica.Incarnation) {
		if ok, suppressed := b.forgedFetches.Allow("", time.Now()); ok {
			b.Logger.Warn("replica fetch from a previous incarnation of the broker refused; closing its connection",
				"remote", addrString(c.Remote), "replica", c.Replica.ID, "incarnation", c.Replica.Incarnation,
				"refused_since_last_log", suppressed)
		}
		resp := respond[*kmsg.FetchResponse](req)
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		CloseAfterResponse(ctx)
		return resp
	}
	return nil
}

// unauthorizedFetch answers every partition of req with
// TOPIC_AUTHORIZATION_FAILED and nothing else.
func unauthorizedFetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	resp := respond[*kmsg.FetchResponse](req)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.RecordBatches = []byte{} // empty, not null (librdkafka)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
