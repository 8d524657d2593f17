package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// loadServe runs `serve args...` with runF capturing the loaded options.
func loadServe(t *testing.T, e *testEnv, args ...string) (*ServeOptions, error) {
	t.Helper()
	var got *ServeOptions
	cmd := NewCmdServe(e.f, func(o *ServeOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs(args)
	cmd.SetOut(e.out)
	cmd.SetErr(e.errOut)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return got, err
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chronik.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeDefaults(t *testing.T) {
	e := newTestEnv(t)
	opts, err := loadServe(t, e)
	if err != nil {
		t.Fatal(err)
	}
	cfg := opts.Config
	if cfg.Logger == nil {
		t.Fatal("config has no logger")
	}
	if cfg.AdminHandler == nil {
		t.Fatal("serve does not install the admin API")
	}
	cfg.Logger, cfg.AdminHandler = nil, nil
	if !reflect.DeepEqual(cfg, broker.DefaultConfig()) {
		t.Fatalf("serve with no flags:\n got %+v\nwant %+v", cfg, broker.DefaultConfig())
	}
}

func TestServePrecedence(t *testing.T) {
	e := newTestEnv(t)
	path := writeConfig(t, "node-id: 3\nkafka-addr: file:9092\nadmin-addr: file:9644\nadmin-insecure: true\nlog-flush: never\n")
	t.Setenv("CHRONIK_NODE_ID", "2")
	t.Setenv("CHRONIK_KAFKA_ADDR", "env:9092")
	opts, err := loadServe(t, e, "--config", path, "--node-id=1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := opts.Config
	if cfg.NodeID != 1 {
		t.Errorf("node-id = %d, want 1 (flag beats env and file)", cfg.NodeID)
	}
	if cfg.KafkaAddr != "env:9092" {
		t.Errorf("kafka-addr = %q, want env:9092 (env beats file)", cfg.KafkaAddr)
	}
	if cfg.AdminAddr != "file:9644" || cfg.LogFlush != partlog.FlushNever {
		t.Errorf("admin-addr = %q, log-flush = %q, want file values", cfg.AdminAddr, cfg.LogFlush)
	}
	if cfg.DataDir != broker.DefaultConfig().DataDir {
		t.Errorf("data-dir = %q, want the default", cfg.DataDir)
	}
}

func TestServeConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string // config file content; --config is added when set
		code int
		want []string
	}{
		{name: "node-id from env", env: map[string]string{"CHRONIK_NODE_ID": "abc"}, code: exitError,
			want: []string{`Error: --node-id / CHRONIK_NODE_ID / node-id: invalid value "abc" (from environment variable CHRONIK_NODE_ID)`}},
		{name: "node-id flag", args: []string{"--node-id=abc"}, code: exitUsage,
			want: []string{`Error: invalid argument "abc" for "--node-id" flag`, "Run 'chronik serve --help' for usage."}},
		{name: "log-flush from file", file: "log-flush: sometimes\n", code: exitError,
			want: []string{`Error: --log-flush / CHRONIK_LOG_FLUSH / log-flush: invalid value "sometimes" (from config file `, "want one of always, interval, never"}},
		{name: "log-flush flag", args: []string{"--log-flush", "sometimes"}, code: exitUsage,
			want: []string{`invalid argument "sometimes" for "--log-flush" flag: want one of always, interval, never`}},
		{name: "log-format from env", env: map[string]string{"CHRONIK_LOG_FORMAT": "xml"}, code: exitError,
			want: []string{`Error: --log-format / CHRONIK_LOG_FORMAT / log-format: invalid value "xml" (from environment variable CHRONIK_LOG_FORMAT): want one of text, json`}},
		{name: "log-format flag", args: []string{"--log-format=xml"}, code: exitUsage,
			want: []string{`"--log-format" flag: want one of text, json`}},
		{name: "unknown file key", file: "data_dirr: /x\n", code: exitError,
			want: []string{`: unknown key "data_dirr" (did you mean "data-dir"?)`}},
		{name: "missing config file", args: []string{"--config", filepath.Join(os.TempDir(), "chronik-no-such-dir", "chronik.yaml")}, code: exitError,
			want: []string{"Error: config file " + filepath.Join(os.TempDir(), "chronik-no-such-dir", "chronik.yaml") + ": no such file or directory"}},
		{name: "validation", args: []string{"--default-partitions=0"}, code: exitError,
			want: []string{"Error: invalid configuration: default-partitions: must be >= 1, got 0"}},
		{name: "unknown flag", args: []string{"--data-dirr=/x"}, code: exitUsage,
			want: []string{"Error: unknown flag: --data-dirr"}},
		{name: "argument", args: []string{"extra"}, code: exitUsage,
			want: []string{`Error: unknown command "extra" for "chronik serve"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"serve"}, tt.args...)
			if tt.file != "" {
				path := writeConfig(t, tt.file)
				args = append(args, "--config", path)
				tt.want = append(tt.want, "config file "+path)
			}
			code := e.run(t, args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			stderr := e.errOut.String()
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if n := strings.Count(stderr, "Error:"); n != 1 {
				t.Errorf("error printed %d times:\n%s", n, stderr)
			}
			if strings.Contains(stderr, "Usage:") {
				t.Errorf("usage dumped on error:\n%s", stderr)
			}
			if e.out.String() != "" {
				t.Errorf("stdout not empty: %q", e.out.String())
			}
		})
	}
}

// fakeServe reports the config it got and ready addresses, then behaves as told.
type fakeServe struct {
	started chan broker.Config
	release chan struct{} // closed to let a serve that ignores ctx return
}

func newFakeServe() *fakeServe {
	return &fakeServe{started: make(chan broker.Config, 1), release: make(chan struct{})}
}

func (fs *fakeServe) graceful(ctx context.Context, cfg broker.Config, ready func(broker.Addrs)) error {
	ready(broker.Addrs{Kafka: "127.0.0.1:19092", AdvertiseKafka: "localhost:19092", Admin: "127.0.0.1:19644"})
	fs.started <- cfg
	<-ctx.Done()
	return nil
}

func (fs *fakeServe) stubborn(_ context.Context, cfg broker.Config, ready func(broker.Addrs)) error {
	ready(broker.Addrs{Kafka: "127.0.0.1:19092"})
	fs.started <- cfg
	<-fs.release
	return nil
}

func waitStarted(t *testing.T, fs *fakeServe) broker.Config {
	t.Helper()
	select {
	case cfg := <-fs.started:
		return cfg
	case <-time.After(10 * time.Second):
		t.Fatal("Serve was not called within 10s")
		return broker.Config{}
	}
}

func TestServeGracefulStop(t *testing.T) {
	e := newTestEnv(t)
	fs := newFakeServe()
	e.f.Serve = fs.graceful
	dir := t.TempDir()
	r := e.start(t, "serve", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--admin-addr", "")
	cfg := waitStarted(t, fs)
	if cfg.DataDir != dir || cfg.KafkaAddr != "127.0.0.1:0" || cfg.AdminAddr != "" {
		t.Fatalf("Serve got data-dir=%q kafka-addr=%q admin-addr=%q", cfg.DataDir, cfg.KafkaAddr, cfg.AdminAddr)
	}
	e.sigs <- syscall.SIGTERM
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, e.errOut.String())
	}
	stderr := e.errOut.String()
	for _, want := range []string{
		`msg="chronik serving" kafka=127.0.0.1:19092 advertised=localhost:19092 admin=127.0.0.1:19644`,
		"shutting down",
		"signal=terminated",
		`msg="chronik stopped"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("log lacks %q:\n%s", want, stderr)
		}
	}
	select {
	case code := <-e.exits:
		t.Fatalf("Exit(%d) called on a graceful stop", code)
	default:
	}
}

func TestServeSecondSignalExits(t *testing.T) {
	e := newTestEnv(t)
	fs := newFakeServe()
	e.f.Serve = fs.stubborn
	r := e.start(t, "serve", "--data-dir", t.TempDir())
	waitStarted(t, fs)

	e.sigs <- os.Interrupt
	e.sigs <- os.Interrupt
	select {
	case code := <-e.exits:
		if code != exitError {
			t.Errorf("Exit(%d), want Exit(1)", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second signal did not exit")
	}
	if !strings.Contains(e.errOut.String(), "second signal") {
		t.Errorf("second signal not logged:\n%s", e.errOut.String())
	}
	// In production the process is gone now; here let the fake return.
	close(fs.release)
	r.wait(t)
}

func TestServeErrorPrintedOnce(t *testing.T) {
	e := newTestEnv(t)
	e.f.Serve = func(context.Context, broker.Config, func(broker.Addrs)) error {
		return errors.New("listen tcp :9092: address already in use")
	}
	code := e.run(t, "serve", "--data-dir", t.TempDir())
	if code != exitError {
		t.Fatalf("exit code %d, want 1", code)
	}
	stderr := e.errOut.String()
	if !strings.Contains(stderr, "Error: serve: listen tcp :9092: address already in use\n") || strings.Count(stderr, "address already in use") != 1 {
		t.Fatalf("stderr:\n%s", stderr)
	}
}

func TestServeLogFormatJSON(t *testing.T) {
	e := newTestEnv(t)
	fs := newFakeServe()
	e.f.Serve = fs.graceful
	t.Setenv("CHRONIK_LOG_FORMAT", "json")
	r := e.start(t, "serve", "--data-dir", t.TempDir())
	waitStarted(t, fs)
	e.sigs <- syscall.SIGTERM
	if code := r.wait(t); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(e.errOut.String(), `"msg":"chronik serving","kafka":"127.0.0.1:19092"`) {
		t.Fatalf("no JSON serving line:\n%s", e.errOut.String())
	}
}

// A node that stopped itself on a storage failure exits with code 74, not
// the generic 1, and the error is printed once.
func TestServeStorageFailureExitCode(t *testing.T) {
	e := newTestEnv(t)
	e.f.Serve = func(context.Context, broker.Config, func(broker.Addrs)) error {
		return &broker.StorageError{DataDir: "/data", Err: errors.New("partition log /data/logs/t-0: write 00000000000000000000.log: no space left on device")}
	}
	code := e.run(t, "serve", "--data-dir", t.TempDir())
	if code != exitStorage {
		t.Fatalf("exit code %d, want %d", code, exitStorage)
	}
	if stderr := e.errOut.String(); strings.Count(stderr, "no space left on device") != 1 || !strings.Contains(stderr, "Error: serve: storage failure in data dir /data") {
		t.Fatalf("stderr:\n%s", stderr)
	}
}
