package kafka

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/txn"
	"github.com/chronik-dev/chronik/internal/netlimit"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConfigEntry is one broker config shown by DescribeConfigs.
type ConfigEntry struct {
	Name, Value string
	IsDefault   bool
}

// Metadata is the replicated cluster metadata as the handlers see it.
type Metadata interface {
	// State is the latest applied state; handlers must not modify it.
	State() *state.State
	// LeaderID is the raft leader, which is the controller; 0 if unknown.
	LeaderID() uint64
}

// BackendConfig is the node state the API handlers serve from; the
// handlers never own any of it.
type BackendConfig struct {
	NodeID           int32
	AutoCreateTopics bool
	BrokerConfigs    []ConfigEntry
	// FetchMaxBytes and PartitionFetchMaxBytes cap a fetch response and one
	// partition in it, whatever the request asks; defaults
	// DefaultFetchMaxBytes and DefaultPartitionFetchMaxBytes.
	FetchMaxBytes          int32
	PartitionFetchMaxBytes int32
	// FetchSessionSlots is how many incremental fetch sessions are cached
	// (0: none are offered) and FetchSessionMaxPartitions the most
	// partitions one may hold (fetch_session.go).
	FetchSessionSlots         int
	FetchSessionMaxPartitions int
	// PeerReach reports how this node's cluster connection to broker id
	// stands: Metadata answers the partitions of a broker whose address
	// refuses connections (its process is gone) LEADER_NOT_AVAILABLE, and
	// holds its answer while a connection that just broke is being
	// redialed (see 03_metadata.go). Nil: every broker is reachable.
	PeerReach func(id int32) PeerReach
	// GoneLeaderWait is how long a Metadata request naming a topic whose
	// partition leader is gone waits for a new leader before it is
	// answered LEADER_NOT_AVAILABLE; 0 answers at once.
	GoneLeaderWait time.Duration

	// SASL configures authentication on the SASL listeners (sasl.go).
	SASL SASLConfig

	// Authorizer checks every request against the metadata's ACLs
	// (authorize.go); nil allows everything, as Kafka without an authorizer.
	Authorizer *acl.Authorizer

	// TxnVerifier checks with the transaction coordinator that a
	// partition was added to a transaction before its first transactional
	// batch there is appended (KIP-890 part 1); nil: transactional
	// produce is refused with INVALID_TXN_STATE.
	TxnVerifier replica.TxnVerifier
	// OnTxnMarker is called after a transaction marker was committed on a
	// partition this node leads (markerOffset is the marker's offset);
	// the group coordinator applies or drops pending transactional
	// offsets of __consumer_offsets with it. Nil: nobody is told.
	OnTxnMarker func(topic string, partition int32, producerID int64, commit bool, markerOffset int64)

	Meta       Metadata
	Replicas   *replica.Manager
	Controller *controller.Controller
	Groups     *group.Coordinator
	// Txn is the transaction coordinator; nil refuses transactional
	// producers (transactions.go).
	Txn    *txn.Coordinator
	Logger *slog.Logger
}

// PeerReach is what the cluster transport knows now about reaching one
// broker.
type PeerReach struct {
	// Connected reports an established connection.
	Connected bool
	// DownSince is when the connection first failed since it was last
	// established; zero while connected.
	DownSince time.Time
	// RefusedDials counts dials in a row its address refused.
	RefusedDials int
}

// Backend serves the Kafka APIs from a BackendConfig.
type Backend struct {
	BackendConfig

	stopping chan struct{} // closed by Stop
	stopOnce sync.Once
	// forgedFetches rate-limits the log of refused replica fetches
	// (checkReplicaFetch), which any client can cause at will.
	forgedFetches *netlimit.LogLimiter
	sasl          *saslAuth // SASL mechanisms, credentials and failure limits
	sessions      *fetchSessions
}

// NewBackend returns a backend over cfg, built once everything cfg names exists.
func NewBackend(cfg BackendConfig) *Backend {
	return &Backend{BackendConfig: cfg, stopping: make(chan struct{}), forgedFetches: newLogLimiter(),
		sasl: newSASLAuth(cfg.SASL, cfg.Meta), sessions: newFetchSessions(cfg.FetchSessionSlots, cfg.FetchSessionMaxPartitions)}
}

// FetchSessions reports the incremental fetch session cache (for /metrics).
func (b *Backend) FetchSessions() FetchSessionStats { return b.sessions.Stats() }

// Stop makes waiting requests (fetch long polls) answer now with what they
// have, so a graceful shutdown does not wait out their timeouts.
func (b *Backend) Stop() {
	b.stopOnce.Do(func() { close(b.stopping) })
}

// APIs is the table of served API keys, their version ranges and handlers,
// collected from the declarations in the NN_name.go files (one per key).
// Of the inter-broker APIs only WriteTxnMarkers is listed, served to
// brokers alone (27_write_txn_markers.go); clients learn from ApiVersions
// that the others are unsupported; the transaction APIs are listed
// only to refuse them with error codes (transactions.go). ApiVersions (18)
// is the server's own (18_api_versions.go).
func (b *Backend) APIs() APIs {
	apis := make(APIs)
	for _, s := range b.served() {
		if isAudited(s.key) {
			s.Handle = b.audited(s.Handle)
		}
		apis[s.key] = s.API
	}
	return apis
}

// served lists every API file's declaration, in key order.
func (b *Backend) served() []served {
	return []served{
		b.produceAPI(),
		b.fetchAPI(),
		b.listOffsetsAPI(),
		b.metadataAPI(),
		b.offsetCommitAPI(),
		b.offsetFetchAPI(),
		b.findCoordinatorAPI(),
		b.joinGroupAPI(),
		b.heartbeatAPI(),
		b.leaveGroupAPI(),
		b.syncGroupAPI(),
		b.describeGroupsAPI(),
		b.listGroupsAPI(),
		b.saslHandshakeAPI(),
		b.createTopicsAPI(),
		b.deleteTopicsAPI(),
		b.initProducerIDAPI(),
		b.offsetForLeaderEpochAPI(),
		b.addPartitionsToTxnAPI(),
		b.addOffsetsToTxnAPI(),
		b.endTxnAPI(),
		b.writeTxnMarkersAPI(),
		b.txnOffsetCommitAPI(),
		b.describeAclsAPI(),
		b.createAclsAPI(),
		b.deleteAclsAPI(),
		b.describeConfigsAPI(),
		b.saslAuthenticateAPI(),
		b.createPartitionsAPI(),
		b.deleteGroupsAPI(),
		b.electLeadersAPI(),
		b.incrementalAlterConfigsAPI(),
		b.alterPartitionReassignmentsAPI(),
		b.listPartitionReassignmentsAPI(),
		b.offsetDeleteAPI(),
		b.describeClientQuotasAPI(),
		b.alterClientQuotasAPI(),
		b.describeUserSCRAMCredentialsAPI(),
		b.alterUserSCRAMCredentialsAPI(),
		b.describeClusterAPI(),
		b.describeProducersAPI(),
		b.describeTransactionsAPI(),
		b.listTransactionsAPI(),
	}
}

// done wraps an immediate response for a HandlerFunc's return.
func done(r kmsg.Response) (kmsg.Response, Pending, error) { return r, nil, nil }

// respond builds the response of req's kind at req's version.
func respond[T kmsg.Response](req kmsg.Request) T {
	r := req.ResponseKind()
	r.SetVersion(req.GetVersion())
	return r.(T)
}

// autoCreateTimeout bounds a topic auto-creation done inside a request that
// has no timeout of its own (Metadata, Produce).
const autoCreateTimeout = 5 * time.Second

// lookupTopic returns the named topic, auto-creating it when allowed.
func (b *Backend) lookupTopic(ctx context.Context, name string, autoCreate bool) (*state.Topic, error) {
	if t, ok := b.Meta.State().Topics[name]; ok {
		return t, nil
	}
	if err := controller.ValidateTopicName(name); err != nil {
		return nil, err
	}
	if !autoCreate || !b.AutoCreateTopics {
		return nil, errUnknownTopic
	}
	ctx, cancel := context.WithTimeout(ctx, autoCreateTimeout)
	defer cancel()
	t, err := b.Controller.EnsureTopic(ctx, name)
	if err != nil {
		b.Logger.Warn("auto-create topic failed", "topic", name, "err", err)
		if controller.Code(err) == kerr.PolicyViolation {
			// A partition limit: asking again will not help.
			return nil, err
		}
		return nil, kerr.LeaderNotAvailable // retriable: the client asks again
	}
	return t, nil
}

// servedReplica is this node's replica of a partition, or the error a client
// should see. A partition the metadata has but this node does not serve (it
// is not a replica, or its replica has not started yet) answers
// NOT_LEADER_OR_FOLLOWER, as Kafka does: clients retry that against the
// leader, which Produce's leader hints name. Only a partition the metadata
// does not have is UNKNOWN_TOPIC_OR_PARTITION.
func (b *Backend) servedReplica(topic string, partition int32) (*replica.Partition, error) {
	t, ok := b.Meta.State().Topics[topic]
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	if p := b.Replicas.Get(topic, partition); p != nil {
		return p, nil
	}
	return nil, kerr.NotLeaderForPartition
}

// ensureOffsetsTopic creates __consumer_offsets when a client first looks for
// a group coordinator.
func (b *Backend) ensureOffsetsTopic(ctx context.Context) (*state.Topic, error) {
	ctx, cancel := context.WithTimeout(ctx, autoCreateTimeout)
	defer cancel()
	return b.Controller.EnsureTopic(ctx, controller.OffsetsTopic)
}

// controllerID is the node id clients are told is the controller.
func (b *Backend) controllerID() int32 {
	if id := b.Meta.LeaderID(); id != 0 {
		return int32(id)
	}
	return -1
}

// splitHostPort parses a registered Kafka address.
func splitHostPort(addr string) (string, int32) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, -1
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return host, -1
	}
	return host, int32(n)
}

// liveBrokers are the registered, unfenced brokers clients may use, by id.
func liveBrokers(s *state.State) []*state.Broker {
	var out []*state.Broker
	for _, id := range s.LiveBrokers() {
		out = append(out, s.Brokers[id])
	}
	return out
}

// withTimeout derives the context a blocking admin request runs under from
// its TimeoutMillis (at least a second, so a zero timeout still commits).
func withTimeout(ctx context.Context, ms int32) (context.Context, context.CancelFunc) {
	d := time.Duration(ms) * time.Millisecond
	if d < time.Second {
		d = time.Second
	}
	return context.WithTimeout(ctx, d)
}

// pending adapts a typed blocking call (group join, sync) to a Pending.
func pending[T kmsg.Response](fn func(ctx context.Context) T) Pending {
	return func(ctx context.Context) kmsg.Response { return fn(ctx) }
}
