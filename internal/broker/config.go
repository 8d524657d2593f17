package broker

import (
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/chronik-dev/chronik/internal/broker/quota"
	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
)

// Config is everything a node needs to run. cmd/chronik fills it from flags,
// CHRONIK_* environment variables and the config file; tests fill it directly.
type Config struct {
	NodeID             int32
	DataDir            string
	KafkaAddr          string // listen address, e.g. ":9092"; ":0" picks a free port
	AdvertiseKafkaAddr string // host:port clients are told to use; empty = localhost:<bound port>
	AdminAddr          string // admin HTTP listen address; empty disables it
	Rack               string // Kafka's broker.rack; empty: no rack
	// AdminToken, when set, is required (Authorization: Bearer) by the
	// admin API's mutating endpoints. AdminInsecure allows a non-loopback
	// admin listener without one.
	AdminToken    string
	AdminInsecure bool
	// AdminReadToken, when set, is required by every admin read endpoint
	// but /healthz and /readyz (the admin token is accepted too).
	// AdminTLS* serve the admin API over HTTPS; with the CA file, client
	// certificates chaining to it authenticate like the admin token.
	AdminReadToken   string
	AdminTLSCertFile string
	AdminTLSKeyFile  string
	AdminTLSCAFile   string

	// Listeners are the Kafka listeners (listeners.go); empty means one
	// PLAINTEXT listener on KafkaAddr advertised as AdvertiseKafkaAddr.
	Listeners []Listener
	// TLSCertFile and TLSKeyFile are the certificate of the SSL and
	// SASL_SSL listeners; TLSCAFile the CA client certificates must chain
	// to. TLSClientAuth is none, requested or required (Kafka's
	// ssl.client.auth) on SSL listeners; empty means
	// EffectiveTLSClientAuth's default. SASL_SSL listeners ask for no
	// client certificate (KIP-684). The files are reloaded on SIGHUP and
	// when they change.
	TLSCertFile   string
	TLSKeyFile    string
	TLSCAFile     string
	TLSClientAuth string

	// SASLEnabledMechanisms are the mechanisms the SASL listeners offer
	// (Kafka's sasl.enabled.mechanisms; empty: all of them).
	// ConnectionsMaxReauthMs is Kafka's connections.max.reauth.ms: how long
	// a SASL session lasts before the client must re-authenticate (KIP-368);
	// 0, the default as in Kafka, never ends one.
	SASLEnabledMechanisms  []string
	ConnectionsMaxReauthMs int64

	// Authorizer is none or acl (authorization.go); SuperUsers is Kafka's
	// super.users ("User:admin;User:CN=ops"), AllowEveryoneIfNoACLFound
	// Kafka's allow.everyone.if.no.acl.found.
	Authorizer                string
	SuperUsers                string
	AllowEveryoneIfNoACLFound bool

	// ClusterAddr is the raft listener; AdvertiseClusterAddr what peers dial
	// (empty: localhost:<bound port>).
	ClusterAddr          string
	AdvertiseClusterAddr string
	// Cluster listener authentication (docs/security.md): mutual TLS with
	// the cluster CA (all three files), and/or a shared secret file. A
	// non-loopback ClusterAddr needs one of them unless ClusterInsecure.
	ClusterTLSCertFile string
	ClusterTLSKeyFile  string
	ClusterTLSCAFile   string
	ClusterSecretFile  string
	ClusterInsecure    bool
	// Peers are the initial voters' cluster addresses (--peers, parsed by
	// internal/config); empty means a one-node cluster of this node. Ignored
	// once raft state exists.
	Peers Peers
	// InitialClusterToken replaces the handshake token founders derive from
	// Peers, for founders whose --peers differ; ignored once raft state exists.
	InitialClusterToken string
	// Join is any member's cluster address (--join): a node with no raft
	// state asks the cluster to add it (as a raft learner) instead of
	// founding one; ignored once raft state exists.
	Join string
	// MetadataVoters is how many raft voters the leader keeps by promoting
	// caught-up learners (--metadata-voters); brokers beyond it stay learners.
	MetadataVoters int32

	RaftSnapshotEntries int64
	RaftTickInterval    time.Duration
	RaftElectionTimeout time.Duration
	// BrokerSessionTimeout: a broker the controller has not heard from for
	// this long is fenced.
	BrokerSessionTimeout time.Duration

	// LogFlush says when partition logs fsync appended batches: always
	// (group commit before acknowledging), every LogFlushInterval, or never
	// (left to the operating system, Kafka's default trade-off).
	LogFlush         partlog.FlushPolicy
	LogFlushInterval time.Duration

	MaxRequestBytes int32 // largest request frame accepted

	// Memory and connection limits of the Kafka listener (docs/security.md);
	// the defaults are the kafka package's Default* constants.
	//
	// FetchMaxBytes and PartitionFetchMaxBytes cap a fetch response's record
	// bytes and one partition's, whatever the request asks.
	FetchMaxBytes          int32
	PartitionFetchMaxBytes int32
	// FetchSessionSlots is how many incremental fetch sessions (KIP-227)
	// the broker caches; 0 offers none (Kafka's
	// max.incremental.fetch.session.cache.slots).
	FetchSessionSlots int32
	// QueuedMaxRequestBytes caps the bytes of requests read and responses
	// built but not yet written, broker-wide; ConnQueuedMaxBytes per
	// connection.
	QueuedMaxRequestBytes int64
	ConnQueuedMaxBytes    int64
	// ConnectionsMaxIdle closes connections (Kafka and admin HTTP) that send
	// nothing for this long with nothing in flight.
	ConnectionsMaxIdle time.Duration
	// RequestReadTimeout: a request (Kafka or admin HTTP) must arrive in full
	// within this long of its first byte.
	RequestReadTimeout time.Duration
	// ConnectionWriteTimeout closes a connection that takes no response bytes
	// for this long.
	ConnectionWriteTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP cap the open connections of
	// each listener, Kafka and admin HTTP (counted apart); more are closed at
	// accept.
	MaxConnections      int32
	MaxConnectionsPerIP int32

	// MaxPartitionsPerRequest bounds the partitions one CreateTopics or
	// CreatePartitions request (or an auto-created topic) adds.
	MaxPartitionsPerRequest int32
	// MaxPartitionsPerBroker bounds the partition replicas one broker
	// hosts; what the open-files limit serves may lower it (limits.go).
	MaxPartitionsPerBroker int32
	// MaxOpenSegmentFiles caps the files of inactive segments kept open
	// (closed while idle, reopened on demand); 0 derives it from the
	// open-files limit.
	MaxOpenSegmentFiles int32

	// QuotaWindowNum and QuotaWindowSize are the samples a client quota's
	// rate keeps and the time each covers (Kafka's quota.window.num and
	// quota.window.size.seconds): rates are measured over the last
	// QuotaWindowNum windows, at least QuotaWindowNum-1 of them.
	QuotaWindowNum  int32
	QuotaWindowSize time.Duration

	AutoCreateTopics  bool
	DefaultPartitions int32
	// DefaultReplicationFactor is the replication factor of auto-created
	// topics and of CreateTopics asking for -1.
	DefaultReplicationFactor int32

	// Broker-wide defaults for topic configs (each can be overridden per topic).
	MaxMessageBytes   int32
	SegmentBytes      int64
	SegmentMs         int64
	RetentionMs       int64
	RetentionBytes    int64
	MinInsyncReplicas int32
	// ReplicaLagTimeMax: a follower not caught up for this long leaves the ISR.
	ReplicaLagTimeMax time.Duration
	// CleanupPolicy (delete, compact or compact,delete) and the compaction
	// knobs: topic defaults of cleanup.policy, min.cleanable.dirty.ratio,
	// min.compaction.lag.ms, max.compaction.lag.ms and delete.retention.ms.
	CleanupPolicy          string
	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
	DeleteRetentionMs      int64
	// LeaderRebalanceInterval: how often the controller moves leadership
	// back to each partition's preferred (first) replica; 0 disables it.
	LeaderRebalanceInterval time.Duration
	// ReassignmentThrottle limits, in bytes per second, what this broker
	// fetches for the replicas a reassignment adds here (Kafka's
	// follower.replication.throttled.rate); other replication is never
	// throttled. 0: no limit.
	ReassignmentThrottle int64

	RetentionCheckInterval time.Duration

	// The log cleaner (Kafka's log.cleaner.enable, .dedupe.buffer.size,
	// .io.max.bytes.per.second, .backoff.ms): without it compacted topics
	// are never cleaned. An I/O limit of 0 is unlimited.
	LogCleanerEnable              bool
	LogCleanerDedupeBufferSize    int64
	LogCleanerIOMaxBytesPerSecond int64
	LogCleanerBackoff             time.Duration

	OffsetsTopicPartitions     int32
	GroupInitialRebalanceDelay time.Duration
	GroupMinSessionTimeout     time.Duration
	GroupMaxSessionTimeout     time.Duration

	// The transaction coordinator: partitions of __transaction_state
	// (transaction.state.log.num.partitions), the largest
	// transaction.timeout.ms a producer may ask for
	// (transaction.max.timeout.ms) and how long an idle transactional id is
	// kept (transactional.id.expiration.ms).
	TransactionStatePartitions int32
	TransactionMaxTimeout      time.Duration
	TransactionalIDExpiration  time.Duration

	// ProfileBlockRate (nanoseconds blocked per sample,
	// runtime.SetBlockProfileRate) and ProfileMutexFraction (1/n of
	// contention events, runtime.SetMutexProfileFraction) turn on the block
	// and mutex profiles of /debug/pprof/; 0 leaves them off. Process-wide:
	// Start applies them (profiling.go).
	ProfileBlockRate     int64
	ProfileMutexFraction int32

	Logger *slog.Logger
	// testCommands are metadata commands the product does not have, added
	// only by tests (export_test.go) to build states it never creates.
	testCommands state.Commands
	// testTxnAbortInterval, when set by tests, is how often the transaction
	// coordinator looks for timed-out transactions (Kafka's 10 s default
	// otherwise).
	testTxnAbortInterval time.Duration
	// testBeforeFsync runs before every partition log's fsync pass; tests
	// (export_test.go) make it fail to play a failing disk.
	testBeforeFsync func() error
	// testBeforeSave runs before every write of the raft store; tests
	// (export_test.go) make it fail to play a failing disk.
	testBeforeSave func() error
	// AdminHandler builds the admin HTTP API over the running node; nil
	// serves only /healthz and /readyz. (The admin package sits above the
	// broker, so the command wires it in.)
	AdminHandler func(*Node) http.Handler
}

// DefaultConfig returns the configuration `chronik serve` uses with no flags.
func DefaultConfig() Config {
	return Config{
		NodeID:                     1,
		DataDir:                    "./chronik-data",
		KafkaAddr:                  ":9092",
		AdminAddr:                  "127.0.0.1:9644",
		ClusterAddr:                "127.0.0.1:9093",
		RaftSnapshotEntries:        10000,
		MetadataVoters:             3,
		RaftTickInterval:           100 * time.Millisecond,
		RaftElectionTimeout:        time.Second,
		BrokerSessionTimeout:       1500 * time.Millisecond,
		LogFlush:                   partlog.FlushAlways,
		LogFlushInterval:           time.Second,
		MaxRequestBytes:            kafka.DefaultMaxRequestBytes,
		FetchMaxBytes:              kafka.DefaultFetchMaxBytes,
		PartitionFetchMaxBytes:     kafka.DefaultPartitionFetchMaxBytes,
		FetchSessionSlots:          kafka.DefaultFetchSessionSlots,
		QueuedMaxRequestBytes:      kafka.DefaultQueuedMaxBytes,
		ConnQueuedMaxBytes:         kafka.DefaultConnQueuedMaxBytes,
		ConnectionsMaxIdle:         kafka.DefaultIdleTimeout,
		RequestReadTimeout:         kafka.DefaultRequestReadTimeout,
		ConnectionWriteTimeout:     kafka.DefaultWriteTimeout,
		MaxConnections:             kafka.DefaultMaxConnections,
		MaxConnectionsPerIP:        kafka.DefaultMaxConnectionsPerIP,
		SASLEnabledMechanisms:      kafka.SASLMechanisms(),
		MaxPartitionsPerRequest:    DefaultMaxPartitionsPerRequest,
		MaxPartitionsPerBroker:     DefaultMaxPartitionsPerBroker,
		QuotaWindowNum:             quota.DefaultWindowNum,
		QuotaWindowSize:            quota.DefaultWindowSize,
		Authorizer:                 AuthorizerNone,
		AutoCreateTopics:           true,
		DefaultPartitions:          1,
		DefaultReplicationFactor:   1,
		MaxMessageBytes:            1048588,
		SegmentBytes:               1 << 30,
		SegmentMs:                  7 * 24 * 3600 * 1000,
		RetentionMs:                7 * 24 * 3600 * 1000,
		RetentionBytes:             -1,
		MinInsyncReplicas:          1,
		ReplicaLagTimeMax:          10 * time.Second,
		LeaderRebalanceInterval:    5 * time.Minute,
		RetentionCheckInterval:     5 * time.Minute,
		CleanupPolicy:              topicconfig.PolicyDelete,
		MinCleanableDirtyRatio:     topicconfig.DefaultMinCleanableDirtyRatio,
		MinCompactionLagMs:         topicconfig.DefaultMinCompactionLagMs,
		MaxCompactionLagMs:         topicconfig.DefaultMaxCompactionLagMs,
		DeleteRetentionMs:          topicconfig.DefaultDeleteRetentionMs,
		LogCleanerEnable:           true,
		LogCleanerDedupeBufferSize: 128 << 20,
		LogCleanerBackoff:          15 * time.Second,
		OffsetsTopicPartitions:     50,
		GroupInitialRebalanceDelay: 3 * time.Second,
		GroupMinSessionTimeout:     6 * time.Second,
		GroupMaxSessionTimeout:     30 * time.Minute,
		TransactionStatePartitions: 50,
		TransactionMaxTimeout:      15 * time.Minute,
		TransactionalIDExpiration:  7 * 24 * time.Hour,
	}
}

// Validate reports the first invalid setting, naming it the way the flag does.
func (c *Config) Validate() error {
	if err := state.CheckRack(c.Rack); err != nil {
		return fmt.Errorf("rack: %w", err)
	}
	switch {
	case c.NodeID < 1:
		return fmt.Errorf("node-id: must be >= 1, got %d", c.NodeID)
	case c.ClusterAddr == "":
		return fmt.Errorf("cluster-addr: must not be empty")
	case c.MetadataVoters < 1:
		return fmt.Errorf("metadata-voters: must be >= 1, got %d", c.MetadataVoters)
	case c.RaftSnapshotEntries < 1:
		return fmt.Errorf("raft-snapshot-entries: must be >= 1, got %d", c.RaftSnapshotEntries)
	case c.RaftTickInterval <= 0:
		return fmt.Errorf("raft-tick-interval: must be > 0")
	case c.RaftElectionTimeout < 3*c.RaftTickInterval:
		return fmt.Errorf("raft-election-timeout: must be at least three raft ticks (%v), got %v", 3*c.RaftTickInterval, c.RaftElectionTimeout)
	case c.BrokerSessionTimeout < c.RaftElectionTimeout:
		return fmt.Errorf("broker-session-timeout: must be at least the raft election timeout (%v), got %v", c.RaftElectionTimeout, c.BrokerSessionTimeout)
	case c.AdminAddr != "" && !loopbackAddr(c.AdminAddr) && c.AdminToken == "" && c.AdminTLSCAFile == "" && !c.AdminInsecure:
		return offLoopbackError("admin-addr", c.AdminAddr, "admin-token is set", "--admin-token (or CHRONIK_ADMIN_TOKEN) or --admin-tls-ca-file", "admin-insecure")
	case !c.clusterTLSComplete() && (c.ClusterTLSCertFile != "" || c.ClusterTLSKeyFile != "" || c.ClusterTLSCAFile != ""):
		return fmt.Errorf("cluster-tls-cert-file, cluster-tls-key-file, cluster-tls-ca-file: set all three or none")
	case !loopbackAddr(c.ClusterAddr) && !c.clusterTLSComplete() && c.ClusterSecretFile == "" && !c.ClusterInsecure:
		return offLoopbackError("cluster-addr", c.ClusterAddr, "cluster authentication is configured",
			"--cluster-tls-cert-file, --cluster-tls-key-file and --cluster-tls-ca-file (make them with `chronik cert`), or --cluster-secret-file", "cluster-insecure")
	case c.ReplicaLagTimeMax < 100*time.Millisecond:
		return fmt.Errorf("replica-lag-time-max: must be at least 100ms, got %v", c.ReplicaLagTimeMax)
	case c.LeaderRebalanceInterval < 0:
		return fmt.Errorf("leader-rebalance-interval: must be >= 0 (0 disables), got %v", c.LeaderRebalanceInterval)
	case c.ReassignmentThrottle < 0:
		return fmt.Errorf("reassignment-throttle: must be >= 0 bytes per second (0: no limit), got %d", c.ReassignmentThrottle)
	case c.DataDir == "":
		return fmt.Errorf("data-dir: must not be empty")
	case c.MaxRequestBytes < 1024:
		return fmt.Errorf("max-request-bytes: must be >= 1024, got %d", c.MaxRequestBytes)
	case c.FetchMaxBytes < 1024:
		return fmt.Errorf("fetch-max-bytes: must be >= 1024, got %d", c.FetchMaxBytes)
	case c.PartitionFetchMaxBytes < 1024:
		return fmt.Errorf("max-partition-fetch-bytes: must be >= 1024, got %d", c.PartitionFetchMaxBytes)
	case c.FetchSessionSlots < 0:
		return fmt.Errorf("max-incremental-fetch-session-cache-slots: must be >= 0 (0: no fetch sessions), got %d", c.FetchSessionSlots)
	case c.QueuedMaxRequestBytes < int64(c.MaxRequestBytes) || c.QueuedMaxRequestBytes < int64(c.FetchMaxBytes):
		return fmt.Errorf("queued-max-request-bytes: must be at least max-request-bytes (%d) and fetch-max-bytes (%d), got %d",
			c.MaxRequestBytes, c.FetchMaxBytes, c.QueuedMaxRequestBytes)
	case c.ConnQueuedMaxBytes < 1024 || c.ConnQueuedMaxBytes > c.QueuedMaxRequestBytes:
		return fmt.Errorf("queued-max-request-bytes-per-connection: must be between 1024 and queued-max-request-bytes (%d), got %d",
			c.QueuedMaxRequestBytes, c.ConnQueuedMaxBytes)
	case c.ConnectionsMaxIdle <= 0:
		return fmt.Errorf("connections-max-idle: must be > 0, got %v", c.ConnectionsMaxIdle)
	case c.RequestReadTimeout <= 0:
		return fmt.Errorf("request-read-timeout: must be > 0, got %v", c.RequestReadTimeout)
	case c.ConnectionWriteTimeout <= 0:
		return fmt.Errorf("connection-write-timeout: must be > 0, got %v", c.ConnectionWriteTimeout)
	case c.MaxConnections < 1:
		return fmt.Errorf("max-connections: must be >= 1, got %d", c.MaxConnections)
	case c.MaxConnectionsPerIP < 1:
		return fmt.Errorf("max-connections-per-ip: must be >= 1, got %d", c.MaxConnectionsPerIP)
	case c.MaxPartitionsPerRequest < 1:
		return fmt.Errorf("max-partitions-per-request: must be >= 1, got %d", c.MaxPartitionsPerRequest)
	case c.MaxPartitionsPerBroker < 1:
		return fmt.Errorf("max-partitions-per-broker: must be >= 1, got %d", c.MaxPartitionsPerBroker)
	case c.MaxOpenSegmentFiles != 0 && c.MaxOpenSegmentFiles < partlog.FilesPerSegment:
		return fmt.Errorf("max-open-segment-files: must be 0 (derived from the open-files limit) or >= %d (one segment), got %d", partlog.FilesPerSegment, c.MaxOpenSegmentFiles)
	case c.ProfileBlockRate < 0:
		return fmt.Errorf("profile-block-rate: must be >= 0 (0: off), got %d", c.ProfileBlockRate)
	case c.ProfileMutexFraction < 0:
		return fmt.Errorf("profile-mutex-fraction: must be >= 0 (0: off), got %d", c.ProfileMutexFraction)
	case c.QuotaWindowNum < 2 || c.QuotaWindowNum > 1000:
		return fmt.Errorf("quota-window-num: must be between 2 and 1000, got %d", c.QuotaWindowNum)
	case c.QuotaWindowSize < 10*time.Millisecond:
		return fmt.Errorf("quota-window-size: must be at least 10ms, got %v", c.QuotaWindowSize)
	case c.ConnectionsMaxReauthMs < 0:
		return fmt.Errorf("connections-max-reauth-ms: must be >= 0 (0: sessions never expire), got %d", c.ConnectionsMaxReauthMs)
	case c.DefaultReplicationFactor < 1:
		return fmt.Errorf("default-replication-factor: must be >= 1, got %d", c.DefaultReplicationFactor)
	case c.DefaultPartitions < 1:
		return fmt.Errorf("default-partitions: must be >= 1, got %d", c.DefaultPartitions)
	case c.OffsetsTopicPartitions < 1:
		return fmt.Errorf("offsets-topic-partitions: must be >= 1, got %d", c.OffsetsTopicPartitions)
	case c.TransactionStatePartitions < 1:
		return fmt.Errorf("transaction-state-partitions: must be >= 1, got %d", c.TransactionStatePartitions)
	case c.TransactionMaxTimeout < time.Millisecond:
		return fmt.Errorf("transaction-max-timeout: must be >= 1ms, got %s", c.TransactionMaxTimeout)
	case c.TransactionalIDExpiration < time.Millisecond:
		return fmt.Errorf("transactional-id-expiration: must be >= 1ms, got %s", c.TransactionalIDExpiration)
	case c.MaxMessageBytes < 1:
		return fmt.Errorf("max-message-bytes: must be >= 1, got %d", c.MaxMessageBytes)
	case c.SegmentBytes < topicconfig.MinSegmentBytes || c.SegmentBytes > topicconfig.MaxSegmentBytes:
		return fmt.Errorf("segment-bytes: must be between %d (1 MiB) and %d, got %d", topicconfig.MinSegmentBytes, topicconfig.MaxSegmentBytes, c.SegmentBytes)
	case c.RetentionCheckInterval <= 0:
		return fmt.Errorf("retention-check-interval: must be > 0")
	}
	if err := c.validateListeners(); err != nil {
		return err
	}
	if err := c.validateAuthorization(); err != nil {
		return err
	}
	if len(c.SASLEnabledMechanisms) > 0 {
		if err := kafka.ValidateSASLMechanisms(c.SASLEnabledMechanisms); err != nil {
			return fmt.Errorf("sasl-enabled-mechanisms: %w", err)
		}
	}
	if _, ok := c.Peers[c.NodeID]; len(c.Peers) > 0 && !ok {
		return fmt.Errorf("peers: this node (node-id %d) is not among them", c.NodeID)
	}
	if err := c.validateCleaner(); err != nil {
		return err
	}
	switch c.LogFlush {
	case partlog.FlushAlways, partlog.FlushNever:
	case partlog.FlushInterval:
		if c.LogFlushInterval <= 0 {
			return fmt.Errorf("log-flush-interval: must be > 0 with --log-flush=interval")
		}
	default:
		return fmt.Errorf("log-flush: must be always, interval or never, got %q", c.LogFlush)
	}
	return nil
}

func (c *Config) topicDefaults() topicconfig.Config {
	return topicconfig.Config{
		RetentionMs:         c.RetentionMs,
		RetentionBytes:      c.RetentionBytes,
		SegmentBytes:        c.SegmentBytes,
		SegmentMs:           c.SegmentMs,
		MinInsyncReplicas:   c.MinInsyncReplicas,
		MaxMessageBytes:     c.MaxMessageBytes,
		ReplicaLagTimeMaxMs: c.ReplicaLagTimeMax.Milliseconds(),

		CleanupPolicy:          c.cleanupPolicy(),
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
		MinCompactionLagMs:     c.MinCompactionLagMs,
		MaxCompactionLagMs:     c.MaxCompactionLagMs,
		DeleteRetentionMs:      c.DeleteRetentionMs,
	}
}

// brokerConfigEntries is what DescribeConfigs shows for this broker, named
// like Kafka's broker configs so existing tools understand them.
func (c *Config) brokerConfigEntries() []kafka.ConfigEntry {
	d := DefaultConfig()
	entry := func(name string, v, def any) kafka.ConfigEntry {
		return kafka.ConfigEntry{Name: name, Value: fmt.Sprint(v), IsDefault: fmt.Sprint(v) == fmt.Sprint(def)}
	}
	return []kafka.ConfigEntry{
		entry("broker.id", c.NodeID, d.NodeID),
		entry("node.id", c.NodeID, d.NodeID),
		entry("listeners", FormatListeners(c.KafkaListeners(), false), FormatListeners(d.KafkaListeners(), false)),
		entry("ssl.client.auth", c.EffectiveTLSClientAuth(), d.EffectiveTLSClientAuth()),
		entry("chronik.authorizer", c.Authorizer, d.Authorizer),
		entry("super.users", c.SuperUsers, d.SuperUsers),
		entry("allow.everyone.if.no.acl.found", c.AllowEveryoneIfNoACLFound, d.AllowEveryoneIfNoACLFound),
		entry("chronik.peers", c.Peers, d.Peers),
		entry("broker.session.timeout.ms", c.BrokerSessionTimeout.Milliseconds(), d.BrokerSessionTimeout.Milliseconds()),
		entry("log.dirs", c.DataDir, d.DataDir),
		entry("auto.create.topics.enable", c.AutoCreateTopics, d.AutoCreateTopics),
		entry("num.partitions", c.DefaultPartitions, d.DefaultPartitions),
		entry("default.replication.factor", c.DefaultReplicationFactor, d.DefaultReplicationFactor),
		entry("min.insync.replicas", c.MinInsyncReplicas, d.MinInsyncReplicas),
		entry("replica.lag.time.max.ms", c.ReplicaLagTimeMax.Milliseconds(), d.ReplicaLagTimeMax.Milliseconds()),
		entry("leader.imbalance.check.interval.seconds", int64(c.LeaderRebalanceInterval.Seconds()), int64(d.LeaderRebalanceInterval.Seconds())),
		entry("auto.leader.rebalance.enable", c.LeaderRebalanceInterval > 0, d.LeaderRebalanceInterval > 0),
		entry("follower.replication.throttled.rate", c.ReassignmentThrottle, d.ReassignmentThrottle),
		entry("message.max.bytes", c.MaxMessageBytes, d.MaxMessageBytes),
		entry("log.segment.bytes", c.SegmentBytes, d.SegmentBytes),
		entry("log.roll.ms", c.SegmentMs, d.SegmentMs),
		entry("log.retention.ms", c.RetentionMs, d.RetentionMs),
		entry("log.retention.bytes", c.RetentionBytes, d.RetentionBytes),
		entry("log.retention.check.interval.ms", c.RetentionCheckInterval.Milliseconds(), d.RetentionCheckInterval.Milliseconds()),
		entry("log.cleanup.policy", topicconfig.FormatCleanupPolicy(c.cleanupPolicy()), topicconfig.FormatCleanupPolicy(d.cleanupPolicy())),
		entry("log.cleaner.min.cleanable.ratio", c.MinCleanableDirtyRatio, d.MinCleanableDirtyRatio),
		entry("log.cleaner.min.compaction.lag.ms", c.MinCompactionLagMs, d.MinCompactionLagMs),
		entry("log.cleaner.max.compaction.lag.ms", c.MaxCompactionLagMs, d.MaxCompactionLagMs),
		entry("log.cleaner.delete.retention.ms", c.DeleteRetentionMs, d.DeleteRetentionMs),
		entry("log.cleaner.enable", c.LogCleanerEnable, d.LogCleanerEnable),
		entry("log.cleaner.dedupe.buffer.size", c.LogCleanerDedupeBufferSize, d.LogCleanerDedupeBufferSize),
		entry("log.cleaner.io.max.bytes.per.second", c.LogCleanerIOMaxBytesPerSecond, d.LogCleanerIOMaxBytesPerSecond),
		entry("log.cleaner.backoff.ms", c.LogCleanerBackoff.Milliseconds(), d.LogCleanerBackoff.Milliseconds()),
		entry("socket.request.max.bytes", c.MaxRequestBytes, d.MaxRequestBytes),
		entry("fetch.max.bytes", c.FetchMaxBytes, d.FetchMaxBytes),
		entry("chronik.max.partition.fetch.bytes", c.PartitionFetchMaxBytes, d.PartitionFetchMaxBytes),
		entry("max.incremental.fetch.session.cache.slots", c.FetchSessionSlots, d.FetchSessionSlots),
		entry("queued.max.request.bytes", c.QueuedMaxRequestBytes, d.QueuedMaxRequestBytes),
		entry("chronik.queued.max.request.bytes.per.connection", c.ConnQueuedMaxBytes, d.ConnQueuedMaxBytes),
		entry("connections.max.idle.ms", c.ConnectionsMaxIdle.Milliseconds(), d.ConnectionsMaxIdle.Milliseconds()),
		entry("chronik.request.read.timeout.ms", c.RequestReadTimeout.Milliseconds(), d.RequestReadTimeout.Milliseconds()),
		entry("chronik.connection.write.timeout.ms", c.ConnectionWriteTimeout.Milliseconds(), d.ConnectionWriteTimeout.Milliseconds()),
		entry("max.connections", c.MaxConnections, d.MaxConnections),
		entry("max.connections.per.ip", c.MaxConnectionsPerIP, d.MaxConnectionsPerIP),
		entry("sasl.enabled.mechanisms", strings.Join(c.SASLEnabledMechanisms, ","), strings.Join(d.SASLEnabledMechanisms, ",")),
		entry("connections.max.reauth.ms", c.ConnectionsMaxReauthMs, d.ConnectionsMaxReauthMs),
		entry("quota.window.num", c.QuotaWindowNum, d.QuotaWindowNum),
		entry("quota.window.size.seconds", c.QuotaWindowSize.Seconds(), d.QuotaWindowSize.Seconds()),
		entry("offsets.topic.num.partitions", c.OffsetsTopicPartitions, d.OffsetsTopicPartitions),
		entry("transaction.state.log.num.partitions", c.TransactionStatePartitions, d.TransactionStatePartitions),
		entry("transaction.max.timeout.ms", c.TransactionMaxTimeout.Milliseconds(), d.TransactionMaxTimeout.Milliseconds()),
		entry("transactional.id.expiration.ms", c.TransactionalIDExpiration.Milliseconds(), d.TransactionalIDExpiration.Milliseconds()),
		entry("group.initial.rebalance.delay.ms", c.GroupInitialRebalanceDelay.Milliseconds(), d.GroupInitialRebalanceDelay.Milliseconds()),
		entry("group.min.session.timeout.ms", c.GroupMinSessionTimeout.Milliseconds(), d.GroupMinSessionTimeout.Milliseconds()),
		entry("group.max.session.timeout.ms", c.GroupMaxSessionTimeout.Milliseconds(), d.GroupMaxSessionTimeout.Milliseconds()),
		entry("chronik.log.flush", c.LogFlush, d.LogFlush),
	}
}

// Peers maps node id to cluster address (host:port).
type Peers map[int32]string

// String renders the peers the way --peers takes them, "1=host:port,2=host:port".
func (p Peers) String() string {
	parts := make([]string, 0, len(p))
	for _, id := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, strconv.Itoa(int(id))+"="+p[id])
	}
	return strings.Join(parts, ",")
}

// clusterTLSComplete reports whether all three cluster TLS files are set.
func (c *Config) clusterTLSComplete() bool {
	return c.ClusterTLSCertFile != "" && c.ClusterTLSKeyFile != "" && c.ClusterTLSCAFile != ""
}

// offLoopbackError is the one rule for every listener that needs
// authentication off loopback: the admin API and the cluster listener.
func offLoopbackError(flag, addr, missing, fix, insecureFlag string) error {
	return fmt.Errorf("%s: %s is reachable from other machines and no %s; set %s, or --%s to allow it anyway",
		flag, addr, missing, fix, insecureFlag)
}

// loopbackAddr reports whether a listen address binds only loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
