package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/server"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/certs"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// TestDoctorSecurityPostureE2E: a node with a PLAINTEXT listener on every
// interface, no authorizer and certificates that end in 10 days, its admin
// API on HTTPS with a read token. The doctor reaches it with the admin
// security flags and reports each finding; without the read token it gets
// nothing. The SSL listener serves `topic list` with --tls-ca-file.
func TestDoctorSecurityPostureE2E(t *testing.T) {
	dir := testCerts(t, 10*24*time.Hour)
	crt, key, ca := filepath.Join(dir, certs.NodeCertFile(1)), filepath.Join(dir, certs.NodeKeyFile(1)), filepath.Join(dir, certs.CACertFile)
	cfg := inproc.Config(t)
	cfg.OffsetsTopicPartitions = 1
	cfg.Listeners = []broker.Listener{
		{Name: "PLAINTEXT", Protocol: kafka.ProtocolPlaintext, Addr: ":0"},
		{Name: "SSL", Protocol: kafka.ProtocolSSL, Addr: "127.0.0.1:0"},
	}
	cfg.TLSCertFile, cfg.TLSKeyFile = crt, key
	cfg.AdminTLSCertFile, cfg.AdminTLSKeyFile = crt, key
	cfg.AdminReadToken = "read-s3cret"
	cfg.AdminHandler = server.HandlerFor(cfg.Logger, cfg.AdminToken)
	n := inproc.StartNode(t, cfg)
	admin := "https://" + n.Addrs().Admin
	var ssl string
	for _, l := range n.Addrs().Listeners {
		if l.Name == "SSL" {
			ssl = l.Addr
		}
	}

	_, path := newConnTestEnv(t)
	cli := cliRunner{t: t, path: path}
	cli.env = map[string]string{EnvAdminReadToken: "read-s3cret"}
	out, _ := cli.run(3, "", "doctor", "-o", "json", "--admin", admin, "--admin-ca-file", ca)
	var rep diagnose.DoctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor -o json: %v\n%s", err, out)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Code+" "+f.Severity)
	}
	slices.Sort(got)
	want := []string{"CERT_EXPIRING warning", "CERT_EXPIRING warning", "SECURITY_OPEN_ACCESS warning", "SECURITY_PLAINTEXT_LISTENER warning"}
	if !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v\n%s", got, want, out)
	}
	for _, f := range rep.Findings {
		if f.Code == diagnose.CodeCertExpiring && (f.Evidence["days_left"].(float64) > 10 || f.Evidence["days_left"].(float64) < 9) {
			t.Errorf("days_left %v, want about 10", f.Evidence["days_left"])
		}
	}

	// The same node through a profile, read by raft status and cluster status.
	cli.run(exitOK, "", "profile", "create", "tls", "--admin", admin, "--admin-ca-file", ca, "--admin-read-token", "read-s3cret")
	cli.env = nil
	cli.run(exitOK, "", "raft", "status", "--profile", "tls")
	cli.run(exitOK, "", "cluster", "status", "--profile", "tls")

	// Without the read token, or without the CA, no node answers.
	_, stderr := cli.run(exitError, "", "doctor", "--admin", admin, "--admin-ca-file", ca)
	if !strings.Contains(stderr, "401") {
		t.Errorf("doctor without the read token: %s", stderr)
	}
	_, stderr = cli.run(exitError, "", "doctor", "--admin", admin)
	if !strings.Contains(stderr, "certificate") {
		t.Errorf("doctor without the CA: %s", stderr)
	}

	// Kafka over SSL: --tls-ca-file is all it takes.
	cli.run(exitOK, "", "topic", "create", "t", "--brokers", ssl, "--tls-ca-file", ca)
	var topics []topicadmin.Listing
	cli.json(&topics, "topic", "list", "--brokers", ssl, "--tls-ca-file", ca)
	if len(topics) != 1 || topics[0].Name != "t" {
		t.Errorf("topic list over SSL: %+v", topics)
	}
}

// TestAdminClientCertificateCLI: an admin API that verifies client
// certificates takes one (--admin-cert-file/--admin-key-file) in place of
// the read token; without it, a read is refused.
func TestAdminClientCertificateCLI(t *testing.T) {
	dir := testCerts(t, 0, "ops")
	ca := filepath.Join(dir, certs.CACertFile)
	cfg := inproc.Config(t)
	cfg.OffsetsTopicPartitions = 1
	cfg.AdminTLSCertFile, cfg.AdminTLSKeyFile = filepath.Join(dir, certs.NodeCertFile(1)), filepath.Join(dir, certs.NodeKeyFile(1))
	cfg.AdminTLSCAFile = ca
	cfg.AdminReadToken = "read-s3cret"
	cfg.AdminHandler = server.HandlerFor(cfg.Logger, cfg.AdminToken)
	n := inproc.StartNode(t, cfg)
	admin := "https://" + n.Addrs().Admin

	_, path := newConnTestEnv(t)
	cli := cliRunner{t: t, path: path}
	out, _ := cli.run(exitOK, "", "raft", "status", "-o", "json", "--admin", admin, "--admin-ca-file", ca,
		"--admin-cert-file", filepath.Join(dir, certs.ClientCertFile("ops")), "--admin-key-file", filepath.Join(dir, certs.ClientKeyFile("ops")))
	if !strings.Contains(out, `"node_id": 1`) {
		t.Errorf("raft status with a client certificate:\n%s", out)
	}
	_, stderr := cli.run(exitError, "", "raft", "status", "--admin", admin, "--admin-ca-file", ca)
	if !strings.Contains(stderr, "401") {
		t.Errorf("raft status with neither certificate nor token: %s", stderr)
	}
}
