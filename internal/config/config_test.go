package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// isolate blanks every CHRONIK_* variable for the test, so the developer's
// environment cannot leak into results (empty counts as unset).
func isolate(t *testing.T) {
	t.Helper()
	t.Setenv(EnvVar(ConfigFlag), "")
	for _, k := range Keys() {
		t.Setenv(EnvVar(k), "")
	}
}

func parseFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return fs
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, args ...string) (broker.Config, error) {
	t.Helper()
	return Load(parseFlags(t, args...), io.Discard)
}

// stripLogger lets configs be compared with reflect.DeepEqual.
func stripLogger(c broker.Config) broker.Config {
	c.Logger = nil
	return c
}

func TestDefaultsComeFromBroker(t *testing.T) {
	isolate(t)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		t.Fatal("Load left Logger nil")
	}
	if got, want := stripLogger(cfg), broker.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults differ:\n got %+v\nwant %+v", got, want)
	}
}

func TestEveryFlagHasEnvAndUsage(t *testing.T) {
	fs := parseFlags(t)
	for _, k := range Keys() {
		f := fs.Lookup(k)
		if f == nil {
			t.Fatalf("no flag --%s", k)
		}
		if !strings.Contains(f.Usage, EnvVar(k)) {
			t.Errorf("--%s usage %q does not mention %s", k, f.Usage, EnvVar(k))
		}
	}
	if got := EnvVar("advertise-kafka-addr"); got != "CHRONIK_ADVERTISE_KAFKA_ADDR" {
		t.Fatalf("EnvVar = %q", got)
	}
}

// everyKey sets every setting to a non-default value; want is the result.
func everyKey() (values map[string]string, want broker.Config) {
	values = map[string]string{
		"node-id":  "7",
		"data-dir": "/var/lib/chronik",
		// kafka-addr and advertise-kafka-addr exclude --listeners:
		// TestKafkaAddrShorthand covers them.
		"listeners":                                 "PLAINTEXT://127.0.0.1:19092,INTERNAL://:19094",
		"advertised-listeners":                      "PLAINTEXT://kafka.example:19092,INTERNAL://kafka.internal:19094",
		"listener-security-protocol-map":            "INTERNAL:SSL",
		"tls-cert-file":                             "/etc/chronik/kafka.crt",
		"tls-key-file":                              "/etc/chronik/kafka.key",
		"tls-ca-file":                               "/etc/chronik/clients-ca.crt",
		"tls-client-auth":                           "requested",
		"admin-read-token":                          "r3ad",
		"authorizer":                                "acl",
		"super-users":                               "User:admin;User:CN=ops,O=example",
		"allow-everyone-if-no-acl-found":            "true",
		"admin-tls-cert-file":                       "/etc/chronik/admin.crt",
		"admin-tls-key-file":                        "/etc/chronik/admin.key",
		"admin-tls-ca-file":                         "/etc/chronik/admin-ca.crt",
		"rack":                                      "eu-west-1a",
		"admin-addr":                                "127.0.0.1:19644",
		"admin-token":                               "s3cret",
		"admin-insecure":                            "true",
		"cluster-addr":                              "127.0.0.1:19093",
		"advertise-cluster-addr":                    "node7.example:19093",
		"cluster-tls-cert-file":                     "/etc/chronik/node.7.crt",
		"cluster-tls-key-file":                      "/etc/chronik/node.7.key",
		"cluster-tls-ca-file":                       "/etc/chronik/ca.crt",
		"cluster-secret-file":                       "/etc/chronik/cluster-secret",
		"cluster-insecure":                          "true",
		"peers":                                     "7=node7.example:19093,8=node8.example:19093",
		"initial-cluster-token":                     "prod-east",
		"join":                                      "node1.example:19093",
		"metadata-voters":                           "5",
		"raft-snapshot-entries":                     "500",
		"raft-tick-interval":                        "50ms",
		"raft-election-timeout":                     "2s",
		"broker-session-timeout":                    "5s",
		"replica-lag-time-max":                      "3s",
		"leader-rebalance-interval":                 "1m",
		"log-flush":                                 "interval",
		"log-flush-interval":                        "250ms",
		"log-level":                                 "debug",
		"log-format":                                "json",
		"max-request-bytes":                         "2048",
		"max-partitions-per-request":                "10",
		"max-partitions-per-broker":                 "20",
		"max-open-segment-files":                    "30",
		"quota-window-num":                          "5",
		"quota-window-size":                         "500ms",
		"fetch-max-bytes":                           "4096",
		"max-partition-fetch-bytes":                 "2048",
		"max-incremental-fetch-session-cache-slots": "7",
		"queued-max-request-bytes":                  "1048576",
		"queued-max-request-bytes-per-connection":   "65536",
		"connections-max-idle":                      "5m",
		"request-read-timeout":                      "10s",
		"connection-write-timeout":                  "20s",
		"max-connections":                           "500",
		"max-connections-per-ip":                    "50",
		"sasl-enabled-mechanisms":                   "SCRAM-SHA-512, plain",
		"connections-max-reauth-ms":                 "60000",
		"auto-create-topics":                        "false",
		"default-partitions":                        "3",
		"default-replication-factor":                "2",
		"max-message-bytes":                         "4096",
		"segment-bytes":                             "1048576",
		"segment-ms":                                "60000",
		"retention-ms":                              "-1",
		"retention-bytes":                           "1073741824",
		"min-insync-replicas":                       "2",
		"retention-check-interval":                  "30s",
		"cleanup-policy":                            "delete,compact",
		"min-cleanable-dirty-ratio":                 "0.25",
		"min-compaction-lag-ms":                     "1000",
		"max-compaction-lag-ms":                     "600000",
		"delete-retention-ms":                       "5000",
		"log-cleaner-enable":                        "false",
		"log-cleaner-dedupe-buffer-size":            "2097152",
		"log-cleaner-io-max-bytes-per-second":       "1000000",
		"log-cleaner-backoff":                       "2s",
		"reassignment-throttle":                     "1048576",
		"offsets-topic-partitions":                  "5",
		"group-initial-rebalance-delay":             "0s",
		"group-min-session-timeout":                 "1s",
		"group-max-session-timeout":                 "10m",
		"transaction-state-partitions":              "3",
		"transaction-max-timeout":                   "5m",
		"transactional-id-expiration":               "48h",
		"profile-block-rate":                        "10000",
		"profile-mutex-fraction":                    "5",
	}
	want = broker.Config{
		NodeID:    7,
		DataDir:   "/var/lib/chronik",
		KafkaAddr: broker.DefaultConfig().KafkaAddr,
		Listeners: []broker.Listener{
			{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: "127.0.0.1:19092", Advertised: "kafka.example:19092"},
			{Name: "INTERNAL", Protocol: "SSL", Addr: ":19094", Advertised: "kafka.internal:19094"},
		},
		TLSCertFile:                   "/etc/chronik/kafka.crt",
		TLSKeyFile:                    "/etc/chronik/kafka.key",
		TLSCAFile:                     "/etc/chronik/clients-ca.crt",
		TLSClientAuth:                 "requested",
		AdminReadToken:                "r3ad",
		Authorizer:                    "acl",
		SuperUsers:                    "User:admin;User:CN=ops,O=example",
		AllowEveryoneIfNoACLFound:     true,
		AdminTLSCertFile:              "/etc/chronik/admin.crt",
		AdminTLSKeyFile:               "/etc/chronik/admin.key",
		AdminTLSCAFile:                "/etc/chronik/admin-ca.crt",
		Rack:                          "eu-west-1a",
		AdminAddr:                     "127.0.0.1:19644",
		AdminToken:                    "s3cret",
		AdminInsecure:                 true,
		ClusterAddr:                   "127.0.0.1:19093",
		AdvertiseClusterAddr:          "node7.example:19093",
		ClusterTLSCertFile:            "/etc/chronik/node.7.crt",
		ClusterTLSKeyFile:             "/etc/chronik/node.7.key",
		ClusterTLSCAFile:              "/etc/chronik/ca.crt",
		ClusterSecretFile:             "/etc/chronik/cluster-secret",
		ClusterInsecure:               true,
		Peers:                         broker.Peers{7: "node7.example:19093", 8: "node8.example:19093"},
		InitialClusterToken:           "prod-east",
		Join:                          "node1.example:19093",
		MetadataVoters:                5,
		RaftSnapshotEntries:           500,
		RaftTickInterval:              50 * time.Millisecond,
		RaftElectionTimeout:           2 * time.Second,
		BrokerSessionTimeout:          5 * time.Second,
		LogFlush:                      partlog.FlushInterval,
		LogFlushInterval:              250 * time.Millisecond,
		MaxRequestBytes:               2048,
		MaxPartitionsPerRequest:       10,
		MaxPartitionsPerBroker:        20,
		MaxOpenSegmentFiles:           30,
		QuotaWindowNum:                5,
		QuotaWindowSize:               500 * time.Millisecond,
		FetchMaxBytes:                 4096,
		PartitionFetchMaxBytes:        2048,
		FetchSessionSlots:             7,
		QueuedMaxRequestBytes:         1 << 20,
		ConnQueuedMaxBytes:            65536,
		ConnectionsMaxIdle:            5 * time.Minute,
		RequestReadTimeout:            10 * time.Second,
		ConnectionWriteTimeout:        20 * time.Second,
		MaxConnections:                500,
		MaxConnectionsPerIP:           50,
		SASLEnabledMechanisms:         []string{"SCRAM-SHA-512", "PLAIN"},
		ConnectionsMaxReauthMs:        60000,
		AutoCreateTopics:              false,
		DefaultPartitions:             3,
		DefaultReplicationFactor:      2,
		MaxMessageBytes:               4096,
		SegmentBytes:                  1 << 20,
		SegmentMs:                     60000,
		RetentionMs:                   -1,
		RetentionBytes:                1 << 30,
		MinInsyncReplicas:             2,
		ReplicaLagTimeMax:             3 * time.Second,
		LeaderRebalanceInterval:       time.Minute,
		ReassignmentThrottle:          1 << 20,
		RetentionCheckInterval:        30 * time.Second,
		CleanupPolicy:                 "delete,compact",
		MinCleanableDirtyRatio:        0.25,
		MinCompactionLagMs:            1000,
		MaxCompactionLagMs:            600000,
		DeleteRetentionMs:             5000,
		LogCleanerEnable:              false,
		LogCleanerDedupeBufferSize:    2 << 20,
		LogCleanerIOMaxBytesPerSecond: 1000000,
		LogCleanerBackoff:             2 * time.Second,
		OffsetsTopicPartitions:        5,
		GroupInitialRebalanceDelay:    0,
		GroupMinSessionTimeout:        time.Second,
		GroupMaxSessionTimeout:        10 * time.Minute,
		TransactionStatePartitions:    3,
		TransactionMaxTimeout:         5 * time.Minute,
		TransactionalIDExpiration:     48 * time.Hour,
		ProfileBlockRate:              10000,
		ProfileMutexFraction:          5,
	}
	return values, want
}

// TestEveryKeyFromEachSource catches a setting wired to the wrong field.
func TestEveryKeyFromEachSource(t *testing.T) {
	values, want := everyKey()
	if len(values)+len(kafkaAddrShorthand()) != len(Keys()) {
		t.Fatalf("test covers %d keys, there are %d", len(values)+len(kafkaAddrShorthand()), len(Keys()))
	}

	t.Run("flags", func(t *testing.T) {
		isolate(t)
		var args []string
		for k, v := range values {
			args = append(args, "--"+k+"="+v)
		}
		cfg, err := load(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		if got := stripLogger(cfg); !reflect.DeepEqual(got, want) {
			t.Fatalf("from flags:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("env", func(t *testing.T) {
		isolate(t)
		for k, v := range values {
			t.Setenv(EnvVar(k), v)
		}
		cfg, err := load(t)
		if err != nil {
			t.Fatal(err)
		}
		if got := stripLogger(cfg); !reflect.DeepEqual(got, want) {
			t.Fatalf("from env:\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("yaml", func(t *testing.T) {
		isolate(t)
		var b strings.Builder
		for k, v := range values {
			b.WriteString(k + ": " + v + "\n")
		}
		path := writeFile(t, "chronik.yaml", b.String())
		cfg, err := load(t, "--config", path)
		if err != nil {
			t.Fatal(err)
		}
		if got := stripLogger(cfg); !reflect.DeepEqual(got, want) {
			t.Fatalf("from yaml:\n got %+v\nwant %+v", got, want)
		}
	})
}

func TestPrecedence(t *testing.T) {
	isolate(t)
	path := writeFile(t, "chronik.yaml", `
node-id: 3
data-dir: /from/file
log-flush-interval: 3s
default-partitions: 3
`)
	t.Setenv("CHRONIK_NODE_ID", "2")
	t.Setenv("CHRONIK_DATA_DIR", "/from/env")
	t.Setenv("CHRONIK_LOG_FLUSH_INTERVAL", "2s")
	cfg, err := load(t, "--config", path, "--node-id", "1", "--data-dir=/from/flag")
	if err != nil {
		t.Fatal(err)
	}
	def := broker.DefaultConfig()
	checks := []struct {
		key       string
		got, want any
	}{
		{"node-id (flag > env > file)", cfg.NodeID, int32(1)},
		{"data-dir (flag > env > file)", cfg.DataDir, "/from/flag"},
		{"log-flush-interval (env > file)", cfg.LogFlushInterval, 2 * time.Second},
		{"default-partitions (file > default)", cfg.DefaultPartitions, int32(3)},
		{"kafka-addr (default)", cfg.KafkaAddr, def.KafkaAddr},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.key, c.got, c.want)
		}
	}
}

func TestEmptyEnvDoesNotOverrideFile(t *testing.T) {
	isolate(t) // sets CHRONIK_DATA_DIR=""
	path := writeFile(t, "chronik.yaml", "data-dir: /from/file\n")
	cfg, err := load(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" {
		t.Fatalf("data-dir = %q, want /from/file", cfg.DataDir)
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	isolate(t)
	path := writeFile(t, "chronik.yaml", "node-id: 9\n")
	t.Setenv("CHRONIK_CONFIG", path)
	cfg, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeID != 9 {
		t.Fatalf("node-id = %d, want 9", cfg.NodeID)
	}
}

func TestFileFormats(t *testing.T) {
	tests := []struct {
		name, content string
	}{
		{"chronik.json", `{"node-id": 4, "log-flush-interval": "4s", "auto-create-topics": false, "segment-bytes": 2e6}`},
		{"chronik.toml", "node-id = 4\nlog-flush-interval = \"4s\"\nauto-create-topics = false\nsegment-bytes = 2000000\n"},
		{"chronik.yml", "node-id: 4\nlog-flush-interval: 4s\nauto-create-topics: false\nsegment-bytes: 2000000\n"},
		{"chronik.conf", "node-id: 4\nlog-flush-interval: 4s\nauto-create-topics: false\nsegment-bytes: 2000000\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			cfg, err := load(t, "--config", writeFile(t, tt.name, tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.NodeID != 4 || cfg.LogFlushInterval != 4*time.Second || cfg.AutoCreateTopics || cfg.SegmentBytes != 2000000 {
				t.Fatalf("got node-id=%d log-flush-interval=%v auto-create-topics=%v segment-bytes=%d",
					cfg.NodeID, cfg.LogFlushInterval, cfg.AutoCreateTopics, cfg.SegmentBytes)
			}
		})
	}
}

func TestUnknownFileKey(t *testing.T) {
	tests := []struct {
		content, want string
	}{
		{"data_dirr: /x\n", `unknown key "data_dirr" (did you mean "data-dir"?)`},
		{"node-id: 1\ncolour: blue\n", `unknown key "colour"`},
		{"log:\n  level: debug\n", `unknown key "log.level"`},
		{"config: other.yaml\n", `unknown key "config"`},
	}
	for _, tt := range tests {
		isolate(t)
		path := writeFile(t, "chronik.yaml", tt.content)
		_, err := load(t, "--config", path)
		if err == nil {
			t.Fatalf("%q: no error", tt.content)
		}
		want := "config file " + path + ": " + tt.want
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant it to contain %s", tt.content, err, want)
		}
	}
}

func TestMissingConfigFile(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := load(t, "--config", path)
	if err == nil {
		t.Fatal("no error for a missing config file")
	}
	if !strings.Contains(err.Error(), path) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %q should name %s and wrap fs.ErrNotExist", err, path)
	}
	if strings.Count(err.Error(), path) != 1 {
		t.Errorf("error %q repeats the path", err)
	}

	_, err = load(t, "--config", "")
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("empty --config: got %v", err)
	}
}

func TestMalformedConfigFile(t *testing.T) {
	isolate(t)
	path := writeFile(t, "chronik.yaml", "node-id: [1\n")
	_, err := load(t, "--config", path)
	if err == nil || !strings.Contains(err.Error(), "config file "+path+": parse:") {
		t.Fatalf("got %v", err)
	}
}

func TestBadValuesNameKeyAndSource(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // besides the key names and the value
	}{
		{"node-id", "abc", "want an integer"},
		{"node-id", "1.5", "want an integer"},
		{"node-id", "99999999999", "want an integer"},
		{"log-flush", "sometimes", "want one of always, interval, never"},
		{"log-format", "xml", "want one of text, json"},
		{"log-level", "verbose", "want one of debug, info, warn, error"},
		{"auto-create-topics", "maybe", "want true or false"},
		{"log-flush-interval", "5", "want a duration"},
		{"segment-bytes", "1GiB", "want an integer"},
	}
	for _, tt := range tests {
		names := "--" + tt.key + " / " + EnvVar(tt.key) + " / " + tt.key + `: invalid value "` + tt.value + `"`

		t.Run(tt.key+"="+tt.value+"/env", func(t *testing.T) {
			isolate(t)
			t.Setenv(EnvVar(tt.key), tt.value)
			_, err := load(t)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range []string{names, "(from environment variable " + EnvVar(tt.key) + ")", tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})

		t.Run(tt.key+"="+tt.value+"/file", func(t *testing.T) {
			isolate(t)
			path := writeFile(t, "chronik.yaml", tt.key+": "+tt.value+"\n")
			_, err := load(t, "--config", path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range []string{names, "(from config file " + path + ")", tt.want} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})

		t.Run(tt.key+"="+tt.value+"/flag", func(t *testing.T) {
			// Flags are checked while parsing, before Load, naming the flag.
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			AddFlags(fs)
			err := fs.Parse([]string{"--" + tt.key + "=" + tt.value})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "--"+tt.key) || !strings.Contains(err.Error(), tt.value) {
				t.Errorf("error %q does not name --%s and %q", err, tt.key, tt.value)
			}
		})
	}
}

func TestListValueInFile(t *testing.T) {
	isolate(t)
	path := writeFile(t, "chronik.yaml", "data-dir: [a, b]\n")
	_, err := load(t, "--config", path)
	if err == nil || !strings.Contains(err.Error(), "--data-dir / CHRONIK_DATA_DIR / data-dir") || !strings.Contains(err.Error(), "not a list") {
		t.Fatalf("got %v", err)
	}
}

func TestChoicesIgnoreCase(t *testing.T) {
	isolate(t)
	t.Setenv("CHRONIK_LOG_FLUSH", "NEVER")
	cfg, err := load(t, "--log-format=JSON")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogFlush != partlog.FlushNever {
		t.Fatalf("log-flush = %q", cfg.LogFlush)
	}
}

func TestValidateRuns(t *testing.T) {
	isolate(t)
	_, err := load(t, "--default-partitions=0")
	if err == nil || !strings.Contains(err.Error(), "invalid configuration: default-partitions") {
		t.Fatalf("got %v", err)
	}
	_, err = load(t, "--data-dir=")
	if err == nil || !strings.Contains(err.Error(), "data-dir") {
		t.Fatalf("got %v", err)
	}
}

// TestPeers: --peers is parsed here, once; the node takes the map.
func TestPeers(t *testing.T) {
	isolate(t)
	cfg, err := load(t, "--peers", " 1=127.0.0.1:9093, 2=h2:9093 ")
	if err != nil {
		t.Fatal(err)
	}
	if want := (broker.Peers{1: "127.0.0.1:9093", 2: "h2:9093"}); !reflect.DeepEqual(cfg.Peers, want) {
		t.Fatalf("peers %v, want %v", cfg.Peers, want)
	}
	for _, tt := range []struct{ value, want string }{
		{"garbage", `"garbage" is not <node id>=<host:port>`},
		{"0=h:1", "is not <node id>=<host:port>"},
		{"1=h:1,1=h:2", "node 1 listed twice"},
		{"1=nohostport", `node 1: address "nohostport"`},
		{"2=h:1,3=h:2", "invalid configuration: peers: this node (node-id 1) is not among them"},
	} {
		_, err := load(t, "--peers", tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--peers %q: got %v, want an error with %q", tt.value, err, tt.want)
		}
	}
	t.Setenv(EnvVar("peers"), "garbage")
	if _, err := load(t); err == nil || !strings.Contains(err.Error(), `--peers / CHRONIK_PEERS / peers: invalid value "garbage" (from environment variable CHRONIK_PEERS)`) {
		t.Fatalf("got %v", err)
	}
}

func TestLoggerLevelAndFormat(t *testing.T) {
	isolate(t)
	var buf bytes.Buffer
	cfg, err := Load(parseFlags(t, "--log-format=json", "--log-level=warn"), &buf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger.Info("hidden")
	cfg.Logger.Warn("shown", "k", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line, got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("log line %q is not JSON: %v", lines[0], err)
	}
	if rec["msg"] != "shown" || rec["level"] != "WARN" {
		t.Fatalf("log record = %v", rec)
	}

	buf.Reset()
	cfg, err = Load(parseFlags(t), &buf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger.Debug("hidden")
	cfg.Logger.Info("shown")
	if got := buf.String(); !strings.Contains(got, "level=INFO msg=shown") || strings.Contains(got, "hidden") {
		t.Fatalf("text logger wrote %q", got)
	}
}

func TestChoices(t *testing.T) {
	if got := Choices("log-flush"); !reflect.DeepEqual(got, []string{"always", "interval", "never"}) {
		t.Fatalf("Choices(log-flush) = %v", got)
	}
	if got := Choices("data-dir"); got != nil {
		t.Fatalf("Choices(data-dir) = %v", got)
	}
}

func TestSuggest(t *testing.T) {
	known := Keys()
	for in, want := range map[string]string{
		"data_dir":  "data-dir",
		"datadir":   "data-dir",
		"data-dirr": "data-dir",
		"nodeid":    "node-id",
		"colour":    "",
	} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
