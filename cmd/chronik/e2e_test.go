package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/chronik-dev/chronik/internal/testharness"
)

// These tests run the real binary as a process, so they can kill -9 it.

var buildOnce struct {
	sync.Once
	dir string
	bin string
	err error
}

// removeChronikBinary deletes the binary built for these tests (TestMain).
func removeChronikBinary() {
	if buildOnce.dir != "" {
		os.RemoveAll(buildOnce.dir)
	}
}

// chronikBinary builds the chronik binary once per test binary.
func chronikBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildOnce.dir, buildOnce.err = os.MkdirTemp("", "chronik-e2e-bin")
		if buildOnce.err == nil {
			buildOnce.bin, buildOnce.err = testharness.BuildChronik(buildOnce.dir)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

// TestKillDashNineLosesNoAcknowledgedWrite kills the broker with SIGKILL in
// the middle of a steady acks=all stream from an idempotent producer,
// restarts it on the same data dir, and lets the producer finish: every
// record must be there exactly once, in order.
func TestKillDashNineLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	p := testharness.Start(t, testharness.Serve{Binary: chronikBinary(t)})

	const total = 30000
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.DefaultProduceTopic("crash"), kgo.AllowAutoTopicCreation(),
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
	p.Kill(t)
	mu.Lock()
	ackedAtKill := acked
	mu.Unlock()
	t.Logf("killed with %d records acknowledged", ackedAtKill)
	testharness.Start(t, p.Serve) // the same data dir and ports

	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if prodErr != nil {
		t.Fatalf("produce errors: %v", prodErr)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.ConsumeTopics("crash"),
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
	p := testharness.Start(t, testharness.Serve{Binary: chronikBinary(t)})
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.Kafka), kgo.DefaultProduceTopic("term"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	p.Signal(t, syscall.SIGTERM)
	select {
	case <-p.Done():
		if p.Err() != nil {
			t.Fatalf("exit after SIGTERM: %v, want exit code 0", p.Err())
		}
	case <-ctx.Done():
		t.Fatal("no exit within 30s of SIGTERM")
	}
	// Garbage after the last batch (a torn write from some other crash) is
	// cut at start-up; the record before it is intact.
	seg := filepath.Join(p.DataDir, "logs", "term-0", "00000000000000000000.log")
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open segment: %v", err)
	}
	if _, err := f.Write([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\xffgarbage-garbage-garbage")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p2 := testharness.Start(t, p.Serve)
	cons, err := kgo.NewClient(kgo.SeedBrokers(p2.Kafka), kgo.ConsumeTopics("term"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	fs := cons.PollFetches(ctx)
	if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != "kept" {
		t.Fatalf("after restart got %d records, want the one produced before SIGTERM", len(rs))
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(p2.Kafka), kgo.DefaultProduceTopic("term"))
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
	c := testharness.StartProcCluster(t, chronikBinary(t), 3)
	procs := c.Procs
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(procs[1].Kafka))
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
		p.Kill(t)
	}
	// /readyz needs a quorum: launch all three where they were, then wait
	// for each.
	for i, p := range procs {
		procs[i] = testharness.Launch(t, p.Serve)
	}
	for _, p := range procs {
		p.WaitReady(t)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(procs[2].Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Restarts move leaderships and drop the restarted replicas from ISRs
	// until they have caught up: every ISR is whole again on its own.
	var td kadm.TopicDetail
	testharness.Eventually(t, 20*time.Second, "whole ISRs after the restart", func() bool {
		topics, err := kadm.NewClient(cl).ListTopics(ctx, "survivor")
		if err != nil {
			t.Fatal(err)
		}
		td = topics["survivor"]
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
		return whole
	}, func() string { return fmt.Sprintf("partitions %v", td.Partitions) })

	var admins []string
	for _, p := range procs {
		admins = append(admins, "http://"+p.Admin)
	}
	type result struct {
		Admin  string          `json:"admin"`
		NodeID *int32          `json:"node_id"`
		Data   *map[string]any `json:"data"`
		Error  string          `json:"error"`
	}
	var last string
	// Each look runs the binary.
	testharness.EventuallyEvery(t, 20*time.Second, 100*time.Millisecond, "raft status showing one leader and one commit index", func() bool {
		out, err := exec.CommandContext(ctx, chronikBinary(t), "raft", "status", "-o", "json",
			"--admin", strings.Join(admins, ",")).CombinedOutput()
		last = string(out)
		var results []result
		if err != nil || json.Unmarshal(out, &results) != nil || len(results) != 3 {
			return false
		}
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
		return leaders == 1 && len(commits) == 1
	}, func() string { return "last:\n" + last })

	// kill -9 the raft leader: the survivors elect a new one within 3 s and
	// metadata changes continue.
	leaderOf := func(p *testharness.Process) (uint64, bool) {
		resp, err := http.Get("http://" + p.Admin + "/v1/raft")
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
	procs[old-1].Kill(t)
	killed := time.Now()
	var survivor *testharness.Process
	testharness.Eventually(t, 3*time.Second, fmt.Sprintf("a new raft leader after killing leader %d", old), func() bool {
		for i, p := range procs {
			if uint64(i+1) == old {
				continue
			}
			if id, isLeader := leaderOf(p); isLeader && id != old {
				survivor = p
			}
		}
		return survivor != nil
	})
	t.Logf("new raft leader %v after killing node %d", time.Since(killed).Round(time.Millisecond), old)
	acl, err := kgo.NewClient(kgo.SeedBrokers(survivor.Kafka))
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
