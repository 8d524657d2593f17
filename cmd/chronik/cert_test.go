package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCertCommandsWriteACluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	e := newTestEnv(t)
	if code := e.run(t, "cert", "create-ca", "--certs-dir", dir); code != exitOK {
		t.Fatalf("create-ca: %d: %s", code, e.errOut)
	}
	for _, id := range []string{"1", "2", "3"} {
		if code := e.run(t, "cert", "create-node", "--certs-dir", dir, "--node-id", id, "--host", "localhost,127.0.0.1"); code != exitOK {
			t.Fatalf("create-node %s: %d: %s", id, code, e.errOut)
		}
	}
	if code := e.run(t, "cert", "create-client", "--certs-dir", dir, "alice"); code != exitOK {
		t.Fatalf("create-client: %d: %s", code, e.errOut)
	}
	for _, f := range []string{"ca.crt", "ca.key", "node.1.crt", "node.1.key", "node.3.key", "client.alice.crt", "client.alice.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".key") && fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %o", f, fi.Mode().Perm())
		}
		if !strings.Contains(e.out.String(), "wrote "+filepath.Join(dir, f)) {
			t.Fatalf("output does not list %s:\n%s", f, e.out)
		}
	}

	// Again: refused, exit 1, nothing replaced; --overwrite replaces.
	before, _ := os.ReadFile(filepath.Join(dir, "node.2.key"))
	e = newTestEnv(t)
	if code := e.run(t, "cert", "create-node", "--certs-dir", dir, "--node-id", "2", "--host", "h"); code != exitError ||
		!strings.Contains(e.errOut.String(), "pass --overwrite") {
		t.Fatalf("overwrite without --overwrite: %d: %s", code, e.errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "node.2.key")); string(after) != string(before) {
		t.Fatal("node.2.key replaced")
	}
	if code := e.run(t, "cert", "create-node", "--certs-dir", dir, "--node-id", "2", "--host", "h", "--overwrite"); code != exitOK {
		t.Fatalf("--overwrite: %d: %s", code, e.errOut)
	}
}

func TestCertUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cert", "create-node", "--host", "h"}, "--node-id: must be >= 1, got 0"},
		{[]string{"cert", "create-node", "--node-id", "0", "--host", "h"}, "--node-id: must be >= 1"},
		{[]string{"cert", "create-node", "--node-id", "1"}, "--host: at least one"},
		{[]string{"cert", "create-client"}, "accepts 1 arg"},
		{[]string{"cert", "create-ca", "--lifetime", "-1h"}, "--lifetime: must be positive"},
		{[]string{"cert", "create-cs"}, "create-ca"},
	} {
		e := newTestEnv(t)
		if code := e.run(t, tt.args...); code != exitUsage || !strings.Contains(e.errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, e.errOut, exitUsage, tt.want)
		}
	}
}

func TestCertOptions(t *testing.T) {
	e := newTestEnv(t)
	var got *CertOptions
	cmd := NewCmdCertCreateNode(e.f, func(o *CertOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--node-id", "7", "--host", " a , 10.0.0.1 ", "--lifetime", "24h", "--ca-key", "k"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.NodeID != 7 || len(got.Hosts) != 2 || got.Hosts[0] != "a" || got.Lifetime != 24*time.Hour ||
		got.Dir != defaultCertsDir || got.CAKey != "k" || got.Overwrite {
		t.Fatalf("options %+v", got)
	}
}
