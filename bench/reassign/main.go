// Command reassign measures how fast a partition reassignment copies a
// partition to a new replica, with and without --reassignment-throttle:
// for each rate given it starts a fresh two-node chronik cluster (the
// binary of --binary, with --reassignment-throttle RATE), writes --mib MiB
// of incompressible records to a partition on node 1, moves it to [1,2]
// with AlterPartitionReassignments, and times the move until
// ListPartitionReassignments no longer lists it.
//
//	go build -o /tmp/chronik ./cmd/chronik
//	go run ./bench/reassign --binary /tmp/chronik --mib 64 --throttles 0,8388608
//
// It prints one line per rate: MiB copied, seconds and MiB/s.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	binary    string
	mib       int
	throttles []int64
	dir       string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("reassign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var throttles string
	fs.StringVar(&o.binary, "binary", "", "chronik binary to run (required)")
	fs.IntVar(&o.mib, "mib", 64, "MiB written to the partition before it moves")
	fs.StringVar(&throttles, "throttles", "0,8388608", "comma-separated --reassignment-throttle values to run, bytes per second (0: none)")
	fs.StringVar(&o.dir, "dir", "", "parent of the nodes' data directories (default: a temporary directory)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.binary == "" {
		return o, errors.New("--binary is required")
	}
	if o.mib < 1 {
		return o, fmt.Errorf("--mib must be at least 1, got %d", o.mib)
	}
	for _, s := range strings.Split(throttles, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v < 0 {
			return o, fmt.Errorf("--throttles: %q is not a rate in bytes per second", s)
		}
		o.throttles = append(o.throttles, v)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	for _, rate := range o.throttles {
		took, err := once(ctx, o, rate)
		if err != nil {
			fmt.Fprintf(stderr, "throttle %d: %v\n", rate, err)
			return 1
		}
		limit := "none"
		if rate > 0 {
			limit = fmt.Sprintf("%.1f MiB/s", float64(rate)/(1<<20))
		}
		fmt.Fprintf(stdout, "throttle %-10s  copied %d MiB in %6.2fs  %7.1f MiB/s\n", limit, o.mib, took.Seconds(), float64(o.mib)/took.Seconds())
	}
	return 0
}

// once runs one fresh cluster with the given throttle and times the move.
func once(ctx context.Context, o options, rate int64) (time.Duration, error) {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "chronik-bench-reassign-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	c, err := nodes.Start(ctx, nodes.Config{Binary: o.binary, Dir: dir, Size: 2,
		Args: []string{"--reassignment-throttle", strconv.FormatInt(rate, 10)}})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := nodes.WaitReady(rctx, c.Nodes); err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nodes.KafkaAddrs(c.Nodes)...), kgo.DefaultProduceTopic("moved"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	if err := createOn(ctx, cl, "moved", 1); err != nil {
		return 0, err
	}
	v := make([]byte, 64<<10)
	for range o.mib * 16 {
		if _, err := rand.Read(v); err != nil {
			return 0, err
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: v}).FirstErr(); err != nil {
			return 0, fmt.Errorf("produce: %w", err)
		}
	}
	adm := kadm.NewClient(cl)
	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("moved", 0, []int32{1, 2})
	start := time.Now()
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err == nil {
		err = resp["moved"][0].Err
	}
	if err != nil {
		return 0, fmt.Errorf("reassign: %w", err)
	}
	for {
		ls, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"moved": {0: {}}})
		if err != nil {
			return 0, fmt.Errorf("list reassignments: %w", err)
		}
		if len(ls.Sorted()) == 0 {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createOn creates a one-partition topic whose only replica is broker.
func createOn(ctx context.Context, cl *kgo.Client, topic string, broker int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Replicas = []int32{broker}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	return nil
}
