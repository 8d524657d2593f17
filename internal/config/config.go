// Package config turns the `chronik serve` flags, CHRONIK_* environment
// variables and the optional config file into a validated broker.Config.
//
// Every setting has one name used in three places: the flag (--data-dir), the
// environment variable (CHRONIK_DATA_DIR) and the config file key (data-dir).
// Precedence is flag > environment > file > default, and the defaults come
// from broker.DefaultConfig so they are written down exactly once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// ConfigFlag is the flag (and, as CHRONIK_CONFIG, the environment variable)
// naming the optional config file. It is not itself a key inside the file.
const ConfigFlag = "config"

// EnvPrefix starts every environment variable chronik reads.
const EnvPrefix = "CHRONIK_"

// Log settings live next to the broker settings but are not part of
// broker.Config: they only shape the logger that Load builds.
const (
	defaultLogLevel  = "info"
	defaultLogFormat = "text"
)

// The fixed value sets are functions, not package variables, so no caller
// can change them for everyone.
func logLevels() []string  { return []string{"debug", "info", "warn", "error"} }
func logFormats() []string { return []string{"text", "json"} }
func logFlushes() []string {
	return []string{partlog.FlushAlways.String(), partlog.FlushInterval.String(), partlog.FlushNever.String()}
}

// settings is what the options fill: the broker config plus the log knobs.
type settings struct {
	cfg       broker.Config
	logLevel  string
	logFormat string
	// The Kafka listener settings are read as text and parsed together
	// (broker.ParseListeners) into cfg.Listeners, as they refer to each other.
	listeners           string
	advertisedListeners string
	protocolMap         string
	// saslMechanisms is --sasl-enabled-mechanisms as text, split into
	// cfg.SASLEnabledMechanisms after loading.
	saslMechanisms string
}

// option is one setting. field returns a pointer into s; its type decides how
// the flag is registered and how text values are parsed.
type option struct {
	name    string
	usage   string
	choices []string // non-empty for settings with a fixed set of values
	field   func(s *settings) any
}

// options lists every `chronik serve` setting, in help order.
func options() []option {
	return []option{
		{name: "node-id", usage: "this node's id, unique in the cluster",
			field: func(s *settings) any { return &s.cfg.NodeID }},
		{name: "data-dir", usage: "directory holding partition logs and metadata",
			field: func(s *settings) any { return &s.cfg.DataDir }},
		{name: "kafka-addr", usage: "Kafka listener address (\":0\" picks a free port)",
			field: func(s *settings) any { return &s.cfg.KafkaAddr }},
		{name: "advertise-kafka-addr", usage: "host:port clients are told to connect to (default localhost:<kafka port>)",
			field: func(s *settings) any { return &s.cfg.AdvertiseKafkaAddr }},
		{name: "listeners", usage: "Kafka listeners, Kafka's syntax: NAME://host:port,... e.g. \"PLAINTEXT://127.0.0.1:9092,SSL://:9093\" (instead of --kafka-addr)",
			field: func(s *settings) any { return &s.listeners }},
		{name: "advertised-listeners", usage: "addresses clients are told per listener, NAME://host:port,... (default: the listener's host and bound port, localhost for one binding every interface)",
			field: func(s *settings) any { return &s.advertisedListeners }},
		{name: "listener-security-protocol-map", usage: "security protocol of custom listener names, NAME:PROTOCOL,... e.g. INTERNAL:SASL_PLAINTEXT (listeners named PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL need no entry)",
			field: func(s *settings) any { return &s.protocolMap }},
		{name: "tls-cert-file", usage: "certificate (PEM, chain included) of the SSL and SASL_SSL listeners; reloaded on SIGHUP and when the file changes",
			field: func(s *settings) any { return &s.cfg.TLSCertFile }},
		{name: "tls-key-file", usage: "the key of --tls-cert-file",
			field: func(s *settings) any { return &s.cfg.TLSKeyFile }},
		{name: "tls-ca-file", usage: "CA (PEM) client certificates must chain to; a verified certificate's subject is the principal (User:CN=...)",
			field: func(s *settings) any { return &s.cfg.TLSCAFile }},
		{name: "tls-client-auth", usage: "client certificates on SSL listeners: none, requested or required (Kafka's ssl.client.auth; default required when --tls-ca-file is set, else none); SASL_SSL listeners never ask for them (KIP-684)", choices: broker.TLSClientAuthModes(),
			field: func(s *settings) any { return &s.cfg.TLSClientAuth }},
		{name: "sasl-enabled-mechanisms", usage: "SASL mechanisms the SASL_PLAINTEXT and SASL_SSL listeners offer, comma-separated: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (PLAIN sends the password: use it on SASL_SSL only)",
			field: func(s *settings) any { return &s.saslMechanisms }},
		{name: "connections-max-reauth-ms", usage: "SASL sessions last this many milliseconds; clients re-authenticate before the end (KIP-368) and a connection that did not is closed; 0 never ends them (Kafka's connections.max.reauth.ms)",
			field: func(s *settings) any { return &s.cfg.ConnectionsMaxReauthMs }},
		{name: "authorizer", usage: "how Kafka requests are authorized: none (everything allowed, as Kafka without authorizer.class.name) or acl (the ACLs in the cluster metadata, Kafka's semantics)", choices: broker.AuthorizerModes(),
			field: func(s *settings) any { return &s.cfg.Authorizer }},
		{name: "super-users", usage: "principals allowed everything with --authorizer acl, Kafka's super.users syntax: \"User:admin;User:CN=ops\"",
			field: func(s *settings) any { return &s.cfg.SuperUsers }},
		{name: "allow-everyone-if-no-acl-found", usage: "with --authorizer acl, allow an operation on a resource no ACL applies to (Kafka's allow.everyone.if.no.acl.found)",
			field: func(s *settings) any { return &s.cfg.AllowEveryoneIfNoACLFound }},
		{name: "rack", usage: "this broker's rack (Kafka's broker.rack): topic creation and `cluster rebalance` spread each partition's replicas over racks when every live broker has one",
			field: func(s *settings) any { return &s.cfg.Rack }},
		{name: "admin-addr", usage: "admin HTTP listener address (empty disables it)",
			field: func(s *settings) any { return &s.cfg.AdminAddr }},
		{name: "admin-token", usage: "bearer token the admin API's mutating endpoints require (required for a non-loopback --admin-addr)",
			field: func(s *settings) any { return &s.cfg.AdminToken }},
		{name: "admin-insecure", usage: "allow a non-loopback --admin-addr without --admin-token",
			field: func(s *settings) any { return &s.cfg.AdminInsecure }},
		{name: "admin-read-token", usage: "bearer token the admin API's read endpoints require (the admin token works too; /healthz and /readyz stay open)",
			field: func(s *settings) any { return &s.cfg.AdminReadToken }},
		{name: "admin-tls-cert-file", usage: "serve the admin API over HTTPS with this certificate (PEM)",
			field: func(s *settings) any { return &s.cfg.AdminTLSCertFile }},
		{name: "admin-tls-key-file", usage: "the key of --admin-tls-cert-file",
			field: func(s *settings) any { return &s.cfg.AdminTLSKeyFile }},
		{name: "admin-tls-ca-file", usage: "CA (PEM) admin client certificates may chain to; a verified client certificate counts as the admin token",
			field: func(s *settings) any { return &s.cfg.AdminTLSCAFile }},
		{name: "cluster-addr", usage: "cluster listener address (raft, replication), for the other nodes; off loopback it needs cluster TLS or a cluster secret",
			field: func(s *settings) any { return &s.cfg.ClusterAddr }},
		{name: "advertise-cluster-addr", usage: "host:port the other nodes dial (default localhost:<cluster port>)",
			field: func(s *settings) any { return &s.cfg.AdvertiseClusterAddr }},
		{name: "cluster-tls-cert-file", usage: "this node's certificate for mutual TLS between nodes (from `chronik cert create-node`)",
			field: func(s *settings) any { return &s.cfg.ClusterTLSCertFile }},
		{name: "cluster-tls-key-file", usage: "the key of --cluster-tls-cert-file",
			field: func(s *settings) any { return &s.cfg.ClusterTLSKeyFile }},
		{name: "cluster-tls-ca-file", usage: "the cluster CA every node's certificate must chain to",
			field: func(s *settings) any { return &s.cfg.ClusterTLSCAFile }},
		{name: "cluster-secret-file", usage: "file holding a secret shared by every node (at least 16 bytes): a challenge-response proves it, it never travels; authenticates but does not encrypt",
			field: func(s *settings) any { return &s.cfg.ClusterSecretFile }},
		{name: "cluster-insecure", usage: "allow a non-loopback --cluster-addr without cluster TLS or a cluster secret",
			field: func(s *settings) any { return &s.cfg.ClusterInsecure }},
		{name: "peers", usage: "initial voters' cluster addresses, 1=host:port,2=host:port,... (empty: a one-node cluster); ignored once raft state exists",
			field: func(s *settings) any { return &s.cfg.Peers }},
		{name: "initial-cluster-token", usage: "token the founding nodes share to recognise each other (default: derived from --peers, which must then be the same on every founder); ignored once raft state exists",
			field: func(s *settings) any { return &s.cfg.InitialClusterToken }},
		{name: "join", usage: "any member's cluster address (host:port): a node without raft state asks the cluster to add it, with the cluster's credentials, instead of founding one; ignored once raft state exists",
			field: func(s *settings) any { return &s.cfg.Join }},
		{name: "metadata-voters", usage: "raft voters the leader keeps by promoting caught-up joined nodes; brokers beyond it follow the metadata log as learners",
			field: func(s *settings) any { return &s.cfg.MetadataVoters }},
		{name: "raft-snapshot-entries", usage: "snapshot the metadata and compact the raft log every N applied entries",
			field: func(s *settings) any { return &s.cfg.RaftSnapshotEntries }},
		{name: "raft-tick-interval", usage: "raft's clock tick; heartbeats go out every tick",
			field: func(s *settings) any { return &s.cfg.RaftTickInterval }},
		{name: "raft-election-timeout", usage: "a follower that hears no leader for this long starts an election",
			field: func(s *settings) any { return &s.cfg.RaftElectionTimeout }},
		{name: "broker-session-timeout", usage: "a broker the controller has not heard from for this long is fenced",
			field: func(s *settings) any { return &s.cfg.BrokerSessionTimeout }},
		{name: "log-flush", usage: "when partition logs fsync: always (before acknowledging), interval or never", choices: logFlushes(),
			field: func(s *settings) any { return &s.cfg.LogFlush }},
		{name: "log-flush-interval", usage: "fsync period with --log-flush=interval",
			field: func(s *settings) any { return &s.cfg.LogFlushInterval }},
		{name: "log-level", usage: "log level: debug, info, warn or error", choices: logLevels(),
			field: func(s *settings) any { return &s.logLevel }},
		{name: "log-format", usage: "log format: text or json", choices: logFormats(),
			field: func(s *settings) any { return &s.logFormat }},
		{name: "max-request-bytes", usage: "largest request frame accepted, in bytes",
			field: func(s *settings) any { return &s.cfg.MaxRequestBytes }},
		{name: "fetch-max-bytes", usage: "most record bytes in one fetch response, whatever the request asks (Kafka's fetch.max.bytes; one larger batch still passes)",
			field: func(s *settings) any { return &s.cfg.FetchMaxBytes }},
		{name: "max-partition-fetch-bytes", usage: "most record bytes of one partition in a fetch response, whatever the request asks (one larger batch still passes)",
			field: func(s *settings) any { return &s.cfg.PartitionFetchMaxBytes }},
		{name: "max-incremental-fetch-session-cache-slots", usage: "incremental fetch sessions (KIP-227) the broker caches; 0 offers none (Kafka's max.incremental.fetch.session.cache.slots)",
			field: func(s *settings) any { return &s.cfg.FetchSessionSlots }},
		{name: "queued-max-request-bytes", usage: "most bytes of requests read and responses not yet written, broker-wide; reading stops and fetches shrink at the limit",
			field: func(s *settings) any { return &s.cfg.QueuedMaxRequestBytes }},
		{name: "queued-max-request-bytes-per-connection", usage: "the same limit for one connection",
			field: func(s *settings) any { return &s.cfg.ConnQueuedMaxBytes }},
		{name: "connections-max-idle", usage: "close Kafka and admin connections idle this long (Kafka's connections.max.idle.ms)",
			field: func(s *settings) any { return &s.cfg.ConnectionsMaxIdle }},
		{name: "request-read-timeout", usage: "close a connection whose request has not arrived in full this long after its first byte",
			field: func(s *settings) any { return &s.cfg.RequestReadTimeout }},
		{name: "connection-write-timeout", usage: "close a connection that takes none of a response's bytes for this long",
			field: func(s *settings) any { return &s.cfg.ConnectionWriteTimeout }},
		{name: "max-connections", usage: "most open connections of the Kafka listeners together, and of the admin listener; more are closed at accept",
			field: func(s *settings) any { return &s.cfg.MaxConnections }},
		{name: "max-connections-per-ip", usage: "most open connections from one IP address to the Kafka listeners together, and to the admin listener; more are closed at accept",
			field: func(s *settings) any { return &s.cfg.MaxConnectionsPerIP }},
		{name: "max-partitions-per-request", usage: "most partitions one CreateTopics or CreatePartitions request (or an auto-created topic) may add",
			field: func(s *settings) any { return &s.cfg.MaxPartitionsPerRequest }},
		{name: "max-partitions-per-broker", usage: "most partition replicas one broker may host (lowered to what the open-files limit serves)",
			field: func(s *settings) any { return &s.cfg.MaxPartitionsPerBroker }},
		{name: "max-open-segment-files", usage: "most files of inactive log segments kept open, closed while idle and reopened on demand (0: a quarter of the open-files limit left after a quarter reserved)",
			field: func(s *settings) any { return &s.cfg.MaxOpenSegmentFiles }},
		{name: "quota-window-num", usage: "samples a client quota's rate is measured over (Kafka's quota.window.num)",
			field: func(s *settings) any { return &s.cfg.QuotaWindowNum }},
		{name: "quota-window-size", usage: "time one client quota sample covers (Kafka's quota.window.size.seconds)",
			field: func(s *settings) any { return &s.cfg.QuotaWindowSize }},
		{name: "auto-create-topics", usage: "create topics on first produce or metadata request",
			field: func(s *settings) any { return &s.cfg.AutoCreateTopics }},
		{name: "default-partitions", usage: "partitions of auto-created topics",
			field: func(s *settings) any { return &s.cfg.DefaultPartitions }},
		{name: "default-replication-factor", usage: "replication factor of auto-created topics and of -1 in CreateTopics",
			field: func(s *settings) any { return &s.cfg.DefaultReplicationFactor }},
		{name: "max-message-bytes", usage: "default max.message.bytes: largest record batch accepted",
			field: func(s *settings) any { return &s.cfg.MaxMessageBytes }},
		{name: "segment-bytes", usage: "default segment.bytes: roll a log segment at this size",
			field: func(s *settings) any { return &s.cfg.SegmentBytes }},
		{name: "segment-ms", usage: "default segment.ms: roll a log segment at this age",
			field: func(s *settings) any { return &s.cfg.SegmentMs }},
		{name: "retention-ms", usage: "default retention.ms: delete segments older than this (-1 keeps forever)",
			field: func(s *settings) any { return &s.cfg.RetentionMs }},
		{name: "retention-bytes", usage: "default retention.bytes per partition (-1 means no limit)",
			field: func(s *settings) any { return &s.cfg.RetentionBytes }},
		{name: "min-insync-replicas", usage: "default min.insync.replicas for acks=all produces",
			field: func(s *settings) any { return &s.cfg.MinInsyncReplicas }},
		{name: "replica-lag-time-max", usage: "default replica.lag.time.max.ms: a follower not caught up for this long leaves the ISR",
			field: func(s *settings) any { return &s.cfg.ReplicaLagTimeMax }},
		{name: "leader-rebalance-interval", usage: "how often leadership moves back to preferred replicas (0 disables)",
			field: func(s *settings) any { return &s.cfg.LeaderRebalanceInterval }},
		{name: "reassignment-throttle", usage: "bytes per second this broker fetches, at most, for replicas a partition reassignment adds to it (0: no limit); other replication is never throttled",
			field: func(s *settings) any { return &s.cfg.ReassignmentThrottle }},
		{name: "retention-check-interval", usage: "how often retention runs",
			field: func(s *settings) any { return &s.cfg.RetentionCheckInterval }},
		{name: "cleanup-policy", usage: "default cleanup.policy: delete, compact (keep the latest record per key) or compact,delete",
			field: func(s *settings) any { return &s.cfg.CleanupPolicy }},
		{name: "min-cleanable-dirty-ratio", usage: "default min.cleanable.dirty.ratio: compact a partition once this share of its log is uncleaned (0 to 1)",
			field: func(s *settings) any { return &s.cfg.MinCleanableDirtyRatio }},
		{name: "min-compaction-lag-ms", usage: "default min.compaction.lag.ms: records stay uncompacted at least this long",
			field: func(s *settings) any { return &s.cfg.MinCompactionLagMs }},
		{name: "max-compaction-lag-ms", usage: "default max.compaction.lag.ms: records older than this are compacted whatever the ratio",
			field: func(s *settings) any { return &s.cfg.MaxCompactionLagMs }},
		{name: "delete-retention-ms", usage: "default delete.retention.ms: how long compacted topics keep tombstones",
			field: func(s *settings) any { return &s.cfg.DeleteRetentionMs }},
		{name: "log-cleaner-enable", usage: "run the log cleaner, which compacts topics whose cleanup.policy includes compact",
			field: func(s *settings) any { return &s.cfg.LogCleanerEnable }},
		{name: "log-cleaner-dedupe-buffer-size", usage: "memory of the log cleaner's key map, in bytes (at least 1 MiB); a pass cleans as much as it maps",
			field: func(s *settings) any { return &s.cfg.LogCleanerDedupeBufferSize }},
		{name: "log-cleaner-io-max-bytes-per-second", usage: "most bytes per second the log cleaner reads and writes (0: unlimited)",
			field: func(s *settings) any { return &s.cfg.LogCleanerIOMaxBytesPerSecond }},
		{name: "log-cleaner-backoff", usage: "how long the log cleaner sleeps when no partition needs cleaning (Kafka's log.cleaner.backoff.ms)",
			field: func(s *settings) any { return &s.cfg.LogCleanerBackoff }},
		{name: "offsets-topic-partitions", usage: "partitions of __consumer_offsets",
			field: func(s *settings) any { return &s.cfg.OffsetsTopicPartitions }},
		{name: "group-initial-rebalance-delay", usage: "wait this long for more members before a new group's first rebalance",
			field: func(s *settings) any { return &s.cfg.GroupInitialRebalanceDelay }},
		{name: "group-min-session-timeout", usage: "smallest session timeout a group member may ask for",
			field: func(s *settings) any { return &s.cfg.GroupMinSessionTimeout }},
		{name: "group-max-session-timeout", usage: "largest session timeout a group member may ask for",
			field: func(s *settings) any { return &s.cfg.GroupMaxSessionTimeout }},
		{name: "transaction-state-partitions", usage: "partitions of __transaction_state (Kafka's transaction.state.log.num.partitions)",
			field: func(s *settings) any { return &s.cfg.TransactionStatePartitions }},
		{name: "transaction-max-timeout", usage: "largest transaction.timeout.ms a transactional producer may ask for (Kafka's transaction.max.timeout.ms)",
			field: func(s *settings) any { return &s.cfg.TransactionMaxTimeout }},
		{name: "transactional-id-expiration", usage: "forget a transactional id idle this long (Kafka's transactional.id.expiration.ms)",
			field: func(s *settings) any { return &s.cfg.TransactionalIDExpiration }},
		{name: "profile-block-rate", usage: "turn on the block profile of /debug/pprof/block: one sample per this many nanoseconds blocked (runtime.SetBlockProfileRate; 1 samples every event, 10000 is a light start; 0: off)",
			field: func(s *settings) any { return &s.cfg.ProfileBlockRate }},
		{name: "profile-mutex-fraction", usage: "turn on the mutex profile of /debug/pprof/mutex: sample 1 in this many contention events (runtime.SetMutexProfileFraction; 0: off)",
			field: func(s *settings) any { return &s.cfg.ProfileMutexFraction }},
	}
}

func defaults() settings {
	s := settings{cfg: broker.DefaultConfig(), logLevel: defaultLogLevel, logFormat: defaultLogFormat}
	s.saslMechanisms = strings.Join(s.cfg.SASLEnabledMechanisms, ",")
	return s
}

// Keys returns every setting name, which is also its flag name and config file key.
func Keys() []string {
	opts := options()
	keys := make([]string, len(opts))
	for i, o := range opts {
		keys[i] = o.name
	}
	return keys
}

// Choices returns the allowed values of a setting with a fixed set of values
// (log-flush, log-level, log-format), or nil for any other setting.
func Choices(key string) []string {
	for _, o := range options() {
		if o.name == key {
			return slices.Clone(o.choices)
		}
	}
	return nil
}

// EnvVar returns the environment variable for a setting:
// "data-dir" -> "CHRONIK_DATA_DIR".
func EnvVar(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// AddFlags registers --config and one flag per setting on fs, with defaults
// from broker.DefaultConfig.
func AddFlags(fs *pflag.FlagSet) {
	fs.String(ConfigFlag, "", "config file (YAML, JSON or TOML) whose keys are the flag names, e.g. \"data-dir: /var/lib/chronik\" (env "+EnvVar(ConfigFlag)+")")
	def := defaults()
	for _, o := range options() {
		usage := o.usage + " (env " + EnvVar(o.name) + ")"
		switch p := o.field(&def).(type) {
		case *int32:
			fs.Int32(o.name, *p, usage)
		case *int64:
			fs.Int64(o.name, *p, usage)
		case *float64:
			fs.Float64(o.name, *p, usage)
		case *bool:
			fs.Bool(o.name, *p, usage)
		case *time.Duration:
			fs.Duration(o.name, *p, usage)
		case *partlog.FlushPolicy:
			fs.Var(&choiceValue{value: p.String(), choices: o.choices}, o.name, usage)
		case *broker.Peers:
			fs.String(o.name, p.String(), usage)
		case *string:
			if len(o.choices) > 0 {
				fs.Var(&choiceValue{value: *p, choices: o.choices}, o.name, usage)
			} else {
				fs.String(o.name, *p, usage)
			}
		default:
			// A programming error in options(), caught by any test that calls AddFlags.
			panic(fmt.Sprintf("config: option %s has unsupported type %T", o.name, p))
		}
	}
}

// Load reads the settings from fs (parsed, with AddFlags registered on it),
// the CHRONIK_* environment and the config file, validates them, and returns
// the broker config with a logger that writes to logOut (os.Stderr if nil).
func Load(fs *pflag.FlagSet, logOut io.Writer) (broker.Config, error) {
	if logOut == nil {
		logOut = os.Stderr
	}
	v := viper.New()

	path, err := configPath(fs)
	if err != nil {
		return broker.Config{}, err
	}
	if path != "" {
		if err := readFile(v, path); err != nil {
			return broker.Config{}, err
		}
	}

	opts := options()
	for _, o := range opts {
		if f := fs.Lookup(o.name); f != nil {
			if err := v.BindPFlag(o.name, f); err != nil {
				return broker.Config{}, fmt.Errorf("bind flag --%s: %w", o.name, err)
			}
		}
		if err := v.BindEnv(o.name, EnvVar(o.name)); err != nil {
			return broker.Config{}, fmt.Errorf("bind environment variable %s: %w", EnvVar(o.name), err)
		}
	}

	s := defaults()
	for _, o := range opts {
		src := source(fs, v, o.name, path)
		if src == "" {
			continue // keep the default as a typed value, no text round trip
		}
		raw, err := scalarText(v.Get(o.name))
		if err == nil {
			err = parseInto(o.field(&s), raw, o.choices)
		}
		if err != nil {
			return broker.Config{}, fmt.Errorf("--%s / %s / %s: invalid value %q (from %s): %w",
				o.name, EnvVar(o.name), o.name, raw, src, err)
		}
	}

	if err := applyListeners(&s, func(key string) bool { return source(fs, v, key, path) != "" }); err != nil {
		return broker.Config{}, err
	}
	if err := applySASLMechanisms(&s); err != nil {
		return broker.Config{}, err
	}
	if err := s.cfg.Validate(); err != nil {
		return broker.Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	logger, err := NewLogger(s.logLevel, s.logFormat, logOut)
	if err != nil {
		return broker.Config{}, err
	}
	s.cfg.Logger = logger
	if path != "" {
		logger.Debug("read config file", "path", path)
	}
	return s.cfg, nil
}

// NewLogger builds the slog logger for a log level (debug|info|warn|error)
// and format (text|json) writing to w.
func NewLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("log-level: want one of %s, got %q", strings.Join(logLevels(), ", "), level)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	default:
		return nil, fmt.Errorf("log-format: want one of %s, got %q", strings.Join(logFormats(), ", "), format)
	}
}

// configPath returns the config file named by --config or CHRONIK_CONFIG.
func configPath(fs *pflag.FlagSet) (string, error) {
	if f := fs.Lookup(ConfigFlag); f != nil && f.Changed {
		if f.Value.String() == "" {
			return "", fmt.Errorf("--%s: must not be empty", ConfigFlag)
		}
		return f.Value.String(), nil
	}
	return os.Getenv(EnvVar(ConfigFlag)), nil
}

// readFile loads the config file into v and rejects keys that are not
// settings, because a misspelt key silently falling back to a default is the
// kind of surprise that costs an afternoon.
func readFile(v *viper.Viper, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		// The path is already in our prefix; keep the cause without repeating it.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	v.SetConfigType(fileType(path))
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("config file %s: parse: %w", path, err)
	}
	known := Keys()
	// Before any flag or env binding, AllKeys holds exactly the file's keys;
	// nested maps show up as dotted keys ("a.b"), which are never known.
	fileKeys := v.AllKeys()
	slices.Sort(fileKeys)
	for _, k := range fileKeys {
		if slices.Contains(known, k) {
			continue
		}
		if hint := suggest(k, known); hint != "" {
			return fmt.Errorf("config file %s: unknown key %q (did you mean %q?)", path, k, hint)
		}
		return fmt.Errorf("config file %s: unknown key %q", path, k)
	}
	return nil
}

// fileType maps a file extension to a viper codec; anything unrecognised is
// read as YAML, the documented format.
func fileType(path string) string {
	switch strings.ToLower(strings.TrimPrefix(filepath.Ext(path), ".")) {
	case "json":
		return "json"
	case "toml":
		return "toml"
	default:
		return "yaml"
	}
}

// source says where the winning value of key comes from, for error messages,
// or "" when nothing overrides the default. It mirrors viper's precedence.
func source(fs *pflag.FlagSet, v *viper.Viper, key, path string) string {
	if f := fs.Lookup(key); f != nil && f.Changed {
		return "flag --" + key
	}
	// viper ignores empty variables, so an empty one does not override either.
	if val, ok := os.LookupEnv(EnvVar(key)); ok && val != "" {
		return "environment variable " + EnvVar(key)
	}
	if path != "" && v.InConfig(key) {
		return "config file " + path
	}
	return ""
}

// scalarText renders a value from viper (a flag's text, an environment
// string, or whatever the file decoder produced) as text to parse.
func scalarText(val any) (string, error) {
	switch x := val.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case float64:
		// JSON and YAML decoders hand numbers over as float64; 1e6 must read as 1000000.
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case time.Duration:
		return x.String(), nil
	case []any, map[string]any:
		return fmt.Sprint(x), errors.New("want a single value, not a list or map")
	default:
		return fmt.Sprint(x), nil
	}
}

// parseInto parses raw into the field p points at.
func parseInto(p any, raw string, choices []string) error {
	raw = strings.TrimSpace(raw)
	switch p := p.(type) {
	case *int32:
		n, err := strconv.ParseInt(raw, 10, 32)
		if err != nil {
			return errors.New("want an integer between -2147483648 and 2147483647")
		}
		*p = int32(n)
	case *int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return errors.New("want an integer")
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return errors.New("want a number")
		}
		*p = f
	case *bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return errors.New("want true or false")
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return errors.New("want a duration such as 500ms, 1s or 5m")
		}
		*p = d
	case *partlog.FlushPolicy:
		c, err := choose(raw, choices)
		if err != nil {
			return err
		}
		if *p, err = partlog.ParseFlushPolicy(c); err != nil {
			return err
		}
	case *broker.Peers:
		peers, err := parsePeers(raw)
		if err != nil {
			return err
		}
		*p = peers
	case *string:
		if len(choices) == 0 {
			*p = raw
			return nil
		}
		c, err := choose(raw, choices)
		if err != nil {
			return err
		}
		*p = c
	default:
		return fmt.Errorf("unsupported setting type %T", p)
	}
	return nil
}

// parsePeers parses --peers, "1=host:port,2=host:port", into node id ->
// cluster address; empty is no peers. Whether this node is among them is
// broker.Config.Validate's question, as it depends on --node-id.
func parsePeers(raw string) (broker.Peers, error) {
	if raw == "" {
		return nil, nil
	}
	out := broker.Peers{}
	for _, part := range strings.Split(raw, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
		if !ok || err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not <node id>=<host:port>", part)
		}
		addr = strings.TrimSpace(addr)
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("node %d: address %q: %w", n, addr, err)
		}
		if _, dup := out[int32(n)]; dup {
			return nil, fmt.Errorf("node %d listed twice", n)
		}
		out[int32(n)] = addr
	}
	return out, nil
}

// choose matches raw against choices, ignoring case.
func choose(raw string, choices []string) (string, error) {
	for _, c := range choices {
		if strings.EqualFold(raw, c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("want one of %s", strings.Join(choices, ", "))
}

// choiceValue is a pflag.Value restricted to a fixed set of strings, so a
// bad --log-flush is a usage error at parse time, like a bad --node-id.
type choiceValue struct {
	value   string
	choices []string
}

func (c *choiceValue) String() string { return c.value }

func (c *choiceValue) Set(s string) error {
	v, err := choose(s, c.choices)
	if err != nil {
		return err
	}
	c.value = v
	return nil
}

// Type is what help shows after the flag name; viper reads it as a plain string.
func (c *choiceValue) Type() string { return "string" }

// suggest returns the known key closest to an unknown one, if it is close
// enough to be a likely typo (data_dir, datadir, data-dirr).
func suggest(unknown string, known []string) string {
	norm := strings.ReplaceAll(unknown, "_", "-")
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(norm, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyListeners turns the listener settings into cfg.Listeners. --listeners
// replaces --kafka-addr and --advertise-kafka-addr; setting both kinds is an
// error rather than a guess at which one was meant.
func applyListeners(s *settings, set func(key string) bool) error {
	if s.listeners == "" {
		for _, k := range []string{"advertised-listeners", "listener-security-protocol-map"} {
			if set(k) {
				return fmt.Errorf("--%s needs --listeners", k)
			}
		}
		return nil
	}
	for _, k := range []string{"kafka-addr", "advertise-kafka-addr"} {
		if set(k) {
			return fmt.Errorf("--%s and --listeners: set one of them (--kafka-addr is the shorthand for --listeners PLAINTEXT://<addr>)", k)
		}
	}
	ls, err := broker.ParseListeners(s.listeners, s.advertisedListeners, s.protocolMap)
	if err != nil {
		return err
	}
	s.cfg.Listeners = ls
	return nil
}

// applySASLMechanisms splits --sasl-enabled-mechanisms into
// cfg.SASLEnabledMechanisms; an empty list is an error, not "all".
func applySASLMechanisms(s *settings) error {
	var mechs []string
	for _, m := range strings.Split(s.saslMechanisms, ",") {
		if m = strings.TrimSpace(m); m != "" {
			mechs = append(mechs, strings.ToUpper(m))
		}
	}
	if len(mechs) == 0 {
		return errors.New("--sasl-enabled-mechanisms: name at least one mechanism")
	}
	s.cfg.SASLEnabledMechanisms = mechs
	return nil
}
