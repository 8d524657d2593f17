package main

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// newConnTestEnv is a testEnv with every connection variable blanked and
// a profiles file of its own (not created yet); it returns the file's path.
func newConnTestEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	for _, k := range append([]string{EnvBrokers, EnvAdmin, EnvAdminToken, EnvProfile, "NO_COLOR"}, securityEnvVars()...) {
		t.Setenv(k, "")
	}
	e := newTestEnv(t)
	path := filepath.Join(t.TempDir(), "chronik", "config.yaml")
	e.f.ConfigPath = func() (string, error) { return path, nil }
	return e, path
}

// startTopicTestBroker runs a real single-node chronik in this process, on
// random ports in a temp dir, and returns its Kafka address.
func startTopicTestBroker(t *testing.T) string {
	t.Helper()
	cfg := inproc.Config(t)
	cfg.OffsetsTopicPartitions = 1
	return inproc.StartNode(t, cfg).Addrs().Kafka
}

func TestTopicCreateOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		profile string // profiles file content
		want    TopicCreateOptions
	}{
		{name: "defaults", args: []string{"orders"},
			want: TopicCreateOptions{Name: "orders", Partitions: -1, ReplicationFactor: -1, Configs: map[string]string{},
				TopicOptions: TopicOptions{Brokers: []string{"127.0.0.1:9092"}, BrokersFrom: SourceDefault, Output: "table", Timeout: 15 * time.Second}}},
		{name: "flags", args: []string{"orders", "-p", "6", "--replication-factor=3", "--config", "retention.ms=1000",
			"--config", "cleanup.policy=compact,delete", "--brokers", "k1:9092,k2", "-o", "json", "--timeout=2s"},
			want: TopicCreateOptions{Name: "orders", Partitions: 6, ReplicationFactor: 3,
				Configs:      map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"},
				TopicOptions: TopicOptions{Brokers: []string{"k1:9092", "k2:9092"}, BrokersFrom: "--brokers", Output: "json", Timeout: 2 * time.Second}}},
		{name: "environment", args: []string{"orders"}, env: map[string]string{EnvBrokers: "e1:1,e2:2"},
			want: TopicCreateOptions{Name: "orders", Partitions: -1, ReplicationFactor: -1, Configs: map[string]string{},
				TopicOptions: TopicOptions{Brokers: []string{"e1:1", "e2:2"}, BrokersFrom: EnvBrokers, Output: "table", Timeout: 15 * time.Second}}},
		{name: "current profile", args: []string{"orders"}, profile: "current: prod\nprofiles:\n  prod: {brokers: [p1:9092]}\n",
			want: TopicCreateOptions{Name: "orders", Partitions: -1, ReplicationFactor: -1, Configs: map[string]string{},
				TopicOptions: TopicOptions{Brokers: []string{"p1:9092"}, BrokersFrom: `profile "prod" (PATH)`, Output: "table", Timeout: 15 * time.Second}}},
		{name: "--profile", args: []string{"orders", "--profile", "qa"}, env: map[string]string{EnvProfile: "prod"},
			profile: "current: prod\nprofiles:\n  prod: {brokers: [p1:9092]}\n  qa: {brokers: [q1:9092]}\n",
			want: TopicCreateOptions{Name: "orders", Partitions: -1, ReplicationFactor: -1, Configs: map[string]string{},
				TopicOptions: TopicOptions{Brokers: []string{"q1:9092"}, BrokersFrom: `profile "qa" (PATH)`, Output: "table", Timeout: 15 * time.Second}}},
		{name: "flag beats profile", args: []string{"orders", "--brokers=f:1"}, profile: "current: prod\nprofiles:\n  prod: {brokers: [p1:9092]}\n",
			want: TopicCreateOptions{Name: "orders", Partitions: -1, ReplicationFactor: -1, Configs: map[string]string{},
				TopicOptions: TopicOptions{Brokers: []string{"f:1"}, BrokersFrom: "--brokers", Output: "table", Timeout: 15 * time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, path := newConnTestEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.profile != "" {
				writeProfiles(t, path, tt.profile)
			}
			var got *TopicCreateOptions
			cmd := NewCmdTopicCreate(e.f, func(o *TopicCreateOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			w := tt.want
			w.BrokersFrom = strings.ReplaceAll(w.BrokersFrom, "PATH", path)
			if got.Name != w.Name || got.Partitions != w.Partitions || got.ReplicationFactor != w.ReplicationFactor ||
				!maps.Equal(got.Configs, w.Configs) || !slices.Equal(got.Brokers, w.Brokers) || got.BrokersFrom != w.BrokersFrom ||
				got.Output != w.Output || got.Timeout != w.Timeout || got.IsTTY || got.Color {
				t.Errorf("options\n got %+v\nwant %+v", *got, w)
			}
		})
	}
}

func TestTopicAlterConfigOptions(t *testing.T) {
	e, _ := newConnTestEnv(t)
	var got *TopicAlterConfigOptions
	cmd := NewCmdTopicAlterConfig(e.f, func(o *TopicAlterConfigOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"orders", "--set", "a=1", "--set=b=x=y", "--delete", "c,d", "--delete", "e"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "orders" || !maps.Equal(got.Set, map[string]string{"a": "1", "b": "x=y"}) || !slices.Equal(got.Delete, []string{"c", "d", "e"}) {
		t.Errorf("options %+v", got)
	}
}

func TestTopicOtherOptions(t *testing.T) {
	e, _ := newConnTestEnv(t)
	var list *TopicListOptions
	cmd := NewCmdTopicList(e.f, func(o *TopicListOptions) error { list = o; return nil })
	cmd.SetArgs([]string{"-o", "yaml"})
	if err := cmd.Execute(); err != nil || list.Output != "yaml" {
		t.Errorf("list: %v, %+v", err, list)
	}
	var desc *TopicDescribeOptions
	cmd = NewCmdTopicDescribe(e.f, func(o *TopicDescribeOptions) error { desc = o; return nil })
	cmd.SetArgs([]string{"orders"})
	if err := cmd.Execute(); err != nil || desc.Name != "orders" {
		t.Errorf("describe: %v, %+v", err, desc)
	}
	var del *TopicDeleteOptions
	cmd = NewCmdTopicDelete(e.f, func(o *TopicDeleteOptions) error { del = o; return nil })
	cmd.SetArgs([]string{"orders", "--brokers", "h"})
	if err := cmd.Execute(); err != nil || del.Name != "orders" || !slices.Equal(del.Brokers, []string{"h:9092"}) {
		t.Errorf("delete: %v, %+v", err, del)
	}
}

func TestTopicBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"output", []string{"topic", "list", "-o", "xml"}, nil, exitUsage, `Error: --output: want one of table, json, yaml, got "xml"`},
		{"timeout", []string{"topic", "list", "--timeout=0s"}, nil, exitUsage, "Error: --timeout: must be positive, got 0s"},
		{"brokers scheme", []string{"topic", "list", "--brokers=kafka://h:9092"}, nil, exitUsage, `Error: --brokers: Kafka address "kafka://h:9092": want host:port, without a scheme`},
		{"brokers empty", []string{"topic", "list", "--brokers="}, nil, exitUsage, "Error: --brokers: no Kafka address given"},
		{"brokers env", []string{"topic", "list"}, map[string]string{EnvBrokers: "h:x"}, exitError, `Error: environment variable CHRONIK_BROKERS: Kafka address "h:x": bad port "x"`},
		{"unknown profile", []string{"topic", "list", "--profile", "nope"}, nil, exitError, `Error: --profile: no profile "nope" in `},
		{"partitions", []string{"topic", "create", "t", "--partitions", "0"}, nil, exitUsage, "Error: --partitions: must be at least 1, or -1 for the broker default, got 0"},
		{"partitions not a number", []string{"topic", "create", "t", "--partitions", "many"}, nil, exitUsage, `invalid argument "many" for "-p, --partitions"`},
		{"replication factor", []string{"topic", "create", "t", "-r", "-2"}, nil, exitUsage, "Error: --replication-factor: must be at least 1, or -1 for the broker default, got -2"},
		{"config without =", []string{"topic", "create", "t", "--config", "retention.ms"}, nil, exitUsage, `Error: --config: want key=value, got "retention.ms"`},
		{"config twice", []string{"topic", "create", "t", "--config", "a=1", "--config", "a=2"}, nil, exitUsage, "Error: --config: a given twice"},
		{"create without name", []string{"topic", "create"}, nil, exitUsage, "Error: accepts 1 arg(s), received 0"},
		{"describe two names", []string{"topic", "describe", "a", "b"}, nil, exitUsage, "Error: accepts 1 arg(s), received 2"},
		{"list with argument", []string{"topic", "list", "x"}, nil, exitUsage, `Error: unknown command "x" for "chronik topic list"`},
		{"alter nothing", []string{"topic", "alter-config", "t"}, nil, exitUsage, "Error: nothing to change: give --set key=value or --delete key"},
		{"alter set and delete", []string{"topic", "alter-config", "t", "--set", "a=1", "--delete", "a"}, nil, exitUsage, "Error: a is both set and deleted"},
		{"unknown subcommand", []string{"topic", "lst"}, nil, exitUsage, "Error: unknown command \"lst\" for \"chronik topic\"\n\nDid you mean this?\n\tlist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newConnTestEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code := e.run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			stderr := e.errOut.String()
			if !strings.Contains(stderr, tt.want) || strings.Count(stderr, "Error:") != 1 {
				t.Errorf("stderr %q, want %q once", stderr, tt.want)
			}
			if tt.code == exitUsage && !strings.Contains(stderr, "--help' for usage.") {
				t.Errorf("no help hint in %q", stderr)
			}
			if e.out.String() != "" {
				t.Errorf("stdout not empty: %q", e.out.String())
			}
		})
	}
}

// TestTopicCommands runs every topic command against a real node.
func TestTopicCommands(t *testing.T) {
	addr := startTopicTestBroker(t)
	run := func(t *testing.T, wantCode int, args ...string) (stdout, stderr string) {
		t.Helper()
		e, _ := newConnTestEnv(t)
		t.Setenv(EnvBrokers, addr) // the environment, to check it is used
		code := e.run(t, args...)
		if code != wantCode {
			t.Fatalf("%v: exit code %d, want %d; stderr:\n%s", args, code, wantCode, e.errOut.String())
		}
		return e.out.String(), e.errOut.String()
	}

	out, _ := run(t, exitOK, "topic", "create", "orders", "--partitions", "2", "--replication-factor", "1", "--config", "retention.ms=60000")
	if want := "0\t1\t"; !strings.HasPrefix(out, want) || !strings.Contains(out, "\n1\t1\t") || !strings.HasSuffix(out, "\n\nretention.ms\t60000\n") {
		t.Errorf("create printed %q", out)
	}

	_, stderr := run(t, exitError, "topic", "create", "orders")
	if want := `Error: create topic "orders": Kafka at ` + addr + " answered TOPIC_ALREADY_EXISTS"; !strings.HasPrefix(stderr, want) {
		t.Errorf("create twice: stderr %q, want prefix %q", stderr, want)
	}
	_, stderr = run(t, exitError, "topic", "create", "wide", "-r", "3")
	if !strings.Contains(stderr, "INVALID_REPLICATION_FACTOR") || !strings.Contains(stderr, "only 1 broker is alive") {
		t.Errorf("RF 3 on one node: stderr %q", stderr)
	}

	out, _ = run(t, exitOK, "topic", "list")
	if !strings.Contains(out, "orders\t2\t1\tno\n") {
		t.Errorf("list printed %q", out)
	}
	out, _ = run(t, exitOK, "topic", "list", "-o", "json")
	var ls []topicadmin.Listing
	if err := json.Unmarshal([]byte(out), &ls); err != nil || !slices.ContainsFunc(ls, func(l topicadmin.Listing) bool {
		return l.Name == "orders" && l.Partitions == 2 && l.ReplicationFactor == 1 && l.ID != ""
	}) {
		t.Errorf("list -o json: %v\n%s", err, out)
	}

	out, _ = run(t, exitOK, "topic", "alter-config", "orders", "--set", "max.message.bytes=4096", "--delete", "retention.ms")
	if want := "Updated topic orders: set max.message.bytes=4096; deleted retention.ms.\nmax.message.bytes\t4096\n"; out != want {
		t.Errorf("alter-config printed %q, want %q", out, want)
	}

	out, _ = run(t, exitOK, "topic", "describe", "orders", "-o", "yaml")
	var d map[string]any
	if err := yaml.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("describe -o yaml: %v\n%s", err, out)
	}
	parts, _ := d["partitions"].([]any)
	configs, _ := d["configs"].([]any)
	if d["name"] != "orders" || d["replication_factor"] != 1 || len(parts) != 2 || len(configs) != 1 {
		t.Errorf("describe -o yaml: %v", d)
	}
	if p0, _ := parts[0].(map[string]any); p0["leader"] != 1 || p0["leader_epoch"] == nil || p0["offline_replicas"] == nil {
		t.Errorf("partition 0: %v", p0)
	}

	out, _ = run(t, exitOK, "topic", "delete", "orders")
	if out != "Deleted topic orders (2 partitions).\n" {
		t.Errorf("delete printed %q", out)
	}
	_, stderr = run(t, exitError, "topic", "describe", "orders")
	if !strings.Contains(stderr, `describe topic "orders": Kafka at `+addr+" answered UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("describe deleted topic: stderr %q", stderr)
	}
}

func TestTopicUnreachable(t *testing.T) {
	dead := testharness.FreeAddr(t) // nothing listens there
	e, _ := newConnTestEnv(t)
	if code := e.run(t, "topic", "list", "--brokers", dead); code != exitError {
		t.Errorf("exit code %d, want 1", code)
	}
	want := "Error: list topics: cannot reach Kafka at " + dead + " (connection refused) — is chronik running, is --brokers right?\n"
	if e.errOut.String() != want {
		t.Errorf("stderr %q, want %q", e.errOut.String(), want)
	}
}

// TestTopicNameCompletion: describe, delete and alter-config complete
// topic names from the brokers, and nothing when they do not answer.
func TestTopicNameCompletion(t *testing.T) {
	addr := startTopicTestBroker(t)
	e, _ := newConnTestEnv(t)
	if code := e.run(t, "topic", "create", "orders", "--brokers", addr); code != exitOK {
		t.Fatalf("create: %s", e.errOut.String())
	}
	if code := e.run(t, "topic", "create", "audit", "--brokers", addr); code != exitOK {
		t.Fatalf("create: %s", e.errOut.String())
	}
	for _, sub := range []string{"describe", "delete", "alter-config"} {
		e, _ := newConnTestEnv(t)
		if code := e.run(t, "__complete", "topic", sub, "--brokers", addr, "or"); code != exitOK {
			t.Fatalf("%s: exit code %d: %s", sub, code, e.errOut.String())
		}
		if want := "orders\n:4\n"; !strings.HasPrefix(e.out.String(), want) {
			t.Errorf("%s completions %q, want %q", sub, e.out.String(), want)
		}
	}
	e, _ = newConnTestEnv(t)
	start := time.Now()
	if code := e.run(t, "__complete", "topic", "describe", "--brokers", testharness.FreeAddr(t), ""); code != exitOK {
		t.Fatalf("exit code %d: %s", code, e.errOut.String())
	}
	if !strings.HasPrefix(e.out.String(), ":4\n") {
		t.Errorf("unreachable brokers: completions %q, want none", e.out.String())
	}
	if d := time.Since(start); d > completionTimeout+time.Second {
		t.Errorf("completion took %v", d)
	}
}
