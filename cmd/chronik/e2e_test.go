package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// These tests run the real binary as a process, so they can kill -9 it.

var buildOnce struct {
	sync.Once
	bin string
	err error
}

// removeChronikBinary deletes the binary built for these tests (TestMain).
func removeChronikBinary() {
	if buildOnce.bin != "" {
		os.RemoveAll(filepath.Dir(buildOnce.bin))
	}
}

func chronikBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chronik-e2e-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.bin = filepath.Join(dir, "chronik")
		out, err := exec.Command("go", "build", "-o", buildOnce.bin, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

// freePort finds a port that is free now, for a process that binds it
// later. It picks below the kernel's ephemeral range (32768-60999), so the
// outgoing connections of tests running meanwhile cannot take it in between.
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue // taken
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

type process struct {
	cmd   *exec.Cmd
	kafka string
	admin string
	done  chan struct{} // closed when the process has exited
	err   error         // its exit status, valid after done
}

// startProcess runs `chronik serve` on dataDir and waits until /readyz answers.
func startProcess(t *testing.T, dataDir string, kafkaPort, adminPort int, extra ...string) *process {
	t.Helper()
	p := launchProcess(t, dataDir, kafkaPort, adminPort, extra...)
	p.waitReady(t)
	return p
}

// launchProcess runs `chronik serve` on dataDir without waiting for it.
func launchProcess(t *testing.T, dataDir string, kafkaPort, adminPort int, extra ...string) *process {
	t.Helper()
	p := &process{
		kafka: fmt.Sprintf("127.0.0.1:%d", kafkaPort),
		admin: fmt.Sprintf("127.0.0.1:%d", adminPort),
		done:  make(chan struct{}),
	}
	p.cmd = exec.Command(chronikBinary(t), "serve", "--data-dir", dataDir,
		"--kafka-addr", p.kafka, "--advertise-kafka-addr", p.kafka, "--admin-addr", p.admin,
		"--log-level", "warn")
	p.cmd.Args = append(p.cmd.Args, extra...)
	if !slices.Contains(extra, "--cluster-addr") {
		p.cmd.Args = append(p.cmd.Args, "--cluster-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "chronik.log"))
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); logFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("chronik log:\n%s", b)
		}
	})
	return p
}

// waitReady polls /readyz until the node serves.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("chronik exited before ready: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("chronik not ready after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKillDashNineLosesNoAcknowledgedWrite kills the broker with SIGKILL in
// the middle of a steady acks=all stream from an idempotent producer,
// restarts it on the same data dir, and lets the producer finish: every
// record must be there exactly once, in order.
func TestKillDashNineLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dataDir := t.TempDir()
	kport, aport := freePort(t), freePort(t)
	p := startProcess(t, dataDir, kport, aport)

	const total = 30000
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.DefaultProduceTopic("crash"), kgo.AllowAutoTopicCreation(),
		kgo.RecordRetries(1<<30), kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MaxBufferedRecords(500))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var mu sync.Mutex
	acked := 0
	var prodErr error
	killAt := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i++ {
			cl.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					prodErr = errors.Join(prodErr, err)
					return
				}
				acked++
				if acked == total/3 {
					once.Do(func() { close(killAt) })
				}
			})
		}
	}()

	<-killAt
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	mu.Lock()
	ackedAtKill := acked
	mu.Unlock()
	t.Logf("killed with %d records acknowledged", ackedAtKill)
	startProcess(t, dataDir, kport, aport)

	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if prodErr != nil {
		t.Fatalf("produce errors: %v", prodErr)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.ConsumeTopics("crash"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	next := 0
	for next < total {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", next, total)
		}
		for _, r := range fs.Records() {
			if string(r.Value) != strconv.Itoa(next) {
				t.Fatalf("offset %d holds record %s, want %d (lost or duplicated write)", r.Offset, r.Value, next)
			}
			if r.Offset != int64(next) {
				t.Fatalf("record %d at offset %d", next, r.Offset)
			}
			next++
		}
	}
}

// TestSIGTERMStopsGracefully: SIGTERM makes the process exit 0, and the data
// is there after a restart even with garbage appended to the segment.
func TestSIGTERMStopsGracefully(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dataDir := t.TempDir()
	kport, aport := freePort(t), freePort(t)
	p := startProcess(t, dataDir, kport, aport)
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.DefaultProduceTopic("term"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v, want exit code 0", p.err)
		}
	case <-ctx.Done():
		t.Fatal("no exit within 30s of SIGTERM")
	}
	// Garbage after the last batch (a torn write from some other crash) is
	// cut at start-up; the record before it is intact.
	seg := filepath.Join(dataDir, "logs", "term-0", "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open segment: %v", err)
	}
	if _, err := f.Write([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\xffgarbage-garbage-garbage")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p2 := startProcess(t, dataDir, kport, aport)
	cons, err := kgo.NewClient(kgo.SeedBrokers(p2.kafka), kgo.ConsumeTopics("term"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	fs := cons.PollFetches(ctx)
	if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != "kept" {
		t.Fatalf("after restart got %d records, want the one produced before SIGTERM", len(rs))
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(p2.kafka), kgo.DefaultProduceTopic("term"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	r, err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("next")}).First()
	if err != nil {
		t.Fatal(err)
	}
	if r.Offset != 1 {
		t.Fatalf("first record after recovery at offset %d, want 1", r.Offset)
	}
}

// TestThreeNodeClusterKillAllAndRaftStatus runs three real processes, creates
// a replicated topic, kills all three with SIGKILL, restarts them, and checks
// the topic is intact and that `chronik raft status -o json` reports one
// leader and the same commit index on every node.
func TestThreeNodeClusterKillAllAndRaftStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	type nodePorts struct{ kafka, admin, cluster int }
	ports := make([]nodePorts, 3)
	var peers []string
	for i := range ports {
		ports[i] = nodePorts{freePort(t), freePort(t), freePort(t)}
		peers = append(peers, fmt.Sprintf("%d=127.0.0.1:%d", i+1, ports[i].cluster))
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	startAll := func() []*process {
		// /readyz needs a quorum: launch all three, then wait for each.
		procs := make([]*process, 3)
		for i := range procs {
			procs[i] = launchProcess(t, dirs[i], ports[i].kafka, ports[i].admin,
				"--node-id", strconv.Itoa(i+1), "--cluster-addr", fmt.Sprintf("127.0.0.1:%d", ports[i].cluster),
				"--peers", strings.Join(peers, ","))
		}
		for _, p := range procs {
			p.waitReady(t)
		}
		return procs
	}
	procs := startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(procs[1].kafka))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := kadm.NewClient(adm).CreateTopic(ctx, 6, 3, nil, "survivor")
	if err == nil {
		err = resp.Err
	}
	adm.Close()
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	for _, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
	}
	procs = startAll()

	cl, err := kgo.NewClient(kgo.SeedBrokers(procs[2].kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Restarts move leaderships and drop the restarted replicas from ISRs
	// until they have caught up: every ISR is whole again on its own.
	isrDeadline := time.Now().Add(20 * time.Second)
	for {
		topics, err := kadm.NewClient(cl).ListTopics(ctx, "survivor")
		if err != nil {
			t.Fatal(err)
		}
		td := topics["survivor"]
		if td.Err != nil || len(td.Partitions) != 6 {
			t.Fatalf("after kill -9 of all nodes: %v, %d partitions", td.Err, len(td.Partitions))
		}
		whole := true
		for _, p := range td.Partitions {
			if len(p.Replicas) != 3 {
				t.Fatalf("partition %d after restart: replicas %v", p.Partition, p.Replicas)
			}
			whole = whole && len(p.ISR) == 3
		}
		if whole {
			break
		}
		if time.Now().After(isrDeadline) {
			t.Fatalf("ISRs not whole 20 s after the restart: %v", td.Partitions)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var admins []string
	for _, p := range procs {
		admins = append(admins, "http://"+p.admin)
	}
	type result struct {
		Admin  string          `json:"admin"`
		NodeID *int32          `json:"node_id"`
		Data   *map[string]any `json:"data"`
		Error  string          `json:"error"`
	}
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, chronikBinary(t), "raft", "status", "-o", "json",
			"--admin", strings.Join(admins, ",")).CombinedOutput()
		last = string(out)
		var results []result
		if err == nil && json.Unmarshal(out, &results) == nil && len(results) == 3 {
			leaders, commits := 0, map[float64]bool{}
			for _, r := range results {
				d := *r.Data
				if d["role"] == "leader" {
					leaders++
					if peers, _ := d["peers"].([]any); len(peers) != 3 {
						t.Fatalf("leader lists %d peers: %s", len(peers), out)
					}
				}
				commits[d["commit"].(float64)] = true
			}
			if leaders == 1 && len(commits) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("raft status never showed one leader and one commit index:\n%s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// kill -9 the raft leader: the survivors elect a new one within 3 s and
	// metadata changes continue.
	leaderOf := func(p *process) (uint64, bool) {
		resp, err := http.Get("http://" + p.admin + "/v1/raft")
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var env struct {
			Data struct {
				Role     string `json:"role"`
				LeaderID uint64 `json:"leader_id"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&env) != nil {
			return 0, false
		}
		return env.Data.LeaderID, env.Data.Role == "leader"
	}
	old, _ := leaderOf(procs[0])
	if old < 1 || old > 3 {
		t.Fatalf("no raft leader known before the kill (%d)", old)
	}
	if err := procs[old-1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[old-1].done
	killed := time.Now()
	var survivor *process
	for survivor == nil {
		for i, p := range procs {
			if uint64(i+1) == old {
				continue
			}
			if id, isLeader := leaderOf(p); isLeader && id != old {
				survivor = p
			}
		}
		if time.Since(killed) > 3*time.Second {
			t.Fatalf("no new raft leader within 3 s of killing leader %d", old)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("new raft leader %v after killing node %d", time.Since(killed).Round(time.Millisecond), old)
	acl, err := kgo.NewClient(kgo.SeedBrokers(survivor.kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer acl.Close()
	created, err := kadm.NewClient(acl).CreateTopic(ctx, 1, 2, nil, "after-kill")
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatalf("create a topic after the leader was killed: %v", err)
	}
}
