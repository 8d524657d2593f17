package main

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

func TestTxnAbortOptions(t *testing.T) {
	i64, i16, i32 := func(v int64) *int64 { return &v }, func(v int16) *int16 { return &v }, func(v int32) *int32 { return &v }
	tests := []struct {
		args []string
		req  api.AbortTransactionRequest
		err  string
	}{
		{args: []string{"--topic", "pay", "--partition", "3", "--start-offset", "1042"},
			req: api.AbortTransactionRequest{Topic: "pay", Partition: 3, StartOffset: i64(1042)}},
		{args: []string{"--topic", "pay", "--partition", "0", "--producer-id", "4001", "--producer-epoch", "2", "--coordinator-epoch", "0"},
			req: api.AbortTransactionRequest{Topic: "pay", Partition: 0, ProducerID: i64(4001), ProducerEpoch: i16(2), CoordinatorEpoch: i32(0)}},
		{args: []string{"--partition", "0", "--start-offset", "1"}, err: "--topic and --partition are required"},
		{args: []string{"--topic", "pay", "--start-offset", "1"}, err: "--topic and --partition are required"},
		{args: []string{"--topic", "pay", "--partition", "0"}, err: "give --start-offset, or all of"},
		{args: []string{"--topic", "pay", "--partition", "0", "--producer-id", "1", "--producer-epoch", "0"}, err: "give --start-offset, or all of"},
		{args: []string{"--topic", "pay", "--partition", "0", "--start-offset", "1", "--producer-id", "1"}, err: "not both"},
		{args: []string{"--topic", "pay", "--partition", "-1", "--start-offset", "1"}, err: "partition must be 0 or more"},
		{args: []string{"--topic", "pay", "--partition", "0", "--start-offset", "-5"}, err: "start_offset must be 0 or more"},
		{args: []string{"--topic", "pay", "--partition", "0", "--producer-id", "1", "--producer-epoch", "-1", "--coordinator-epoch", "0"}, err: "producer_epoch must be 0 or more"},
		{args: []string{"--topic", "pay", "--partition", "0", "--producer-id", "1", "--producer-epoch", "70000", "--coordinator-epoch", "0"}, err: "out of range"},
	}
	for _, tt := range tests {
		e, _ := newConnTestEnv(t)
		var got *TxnAbortOptions
		cmd := NewCmdTxnAbort(e.f, func(o *TxnAbortOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(got.Request, tt.req) {
			t.Errorf("%v: request %+v, want %+v", tt.args, got.Request, tt.req)
		}
	}
}

// The abort command the doctor's HANGING_TRANSACTION prints parses as the
// abort command's own flags.
func TestDoctorAbortCommandParses(t *testing.T) {
	line := diagnose.TxnAbortCommand("pay", 2, 77)
	args := strings.Fields(strings.TrimPrefix(line, "chronik txn abort "))
	e, _ := newConnTestEnv(t)
	var got *TxnAbortOptions
	cmd := NewCmdTxnAbort(e.f, func(o *TxnAbortOptions) error { got = o; return nil })
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if r := got.Request; r.Topic != "pay" || r.Partition != 2 || r.StartOffset == nil || *r.StartOffset != 77 {
		t.Fatalf("%q: %+v", line, r)
	}
}

func TestTxnFindHangingOptions(t *testing.T) {
	tests := []struct {
		args   []string
		topic  string
		broker int32
		max    time.Duration
		err    string
	}{
		{args: []string{"--topic", "pay"}, topic: "pay", broker: -1, max: 15 * time.Minute},
		{args: []string{"--broker", "2", "--max-transaction-timeout", "1h"}, broker: 2, max: time.Hour},
		{args: []string{"--broker", "0"}, broker: 0, max: 15 * time.Minute},
		{args: nil, err: "give either --topic or --broker"},
		{args: []string{"--topic", "pay", "--broker", "1"}, err: "give either --topic or --broker"},
		{args: []string{"--broker", "-3"}, err: "want a node id"},
		{args: []string{"--topic", "pay", "--max-transaction-timeout", "0s"}, err: "must be positive"},
	}
	for _, tt := range tests {
		e, _ := newConnTestEnv(t)
		var got *TxnFindHangingOptions
		cmd := NewCmdTxnFindHanging(e.f, func(o *TxnFindHangingOptions) error { got = o; return nil })
		cmd.SetArgs(tt.args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if tt.err != "" {
			var ue *usageError
			if err == nil || !strings.Contains(err.Error(), tt.err) || !asUsage(err, &ue) {
				t.Errorf("%v: error %v, want usage error %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.args, err)
			continue
		}
		if q := got.Query; q.Topic != tt.topic || q.Broker != tt.broker || q.MaxTimeout != tt.max {
			t.Errorf("%v: query %+v", tt.args, q)
		}
	}
}

func TestRenderTxns(t *testing.T) {
	dur := 65.4
	var b bytes.Buffer
	if err := RenderTxnList(&b, []api.TxnListing{
		{TransactionalID: "pay-1", ProducerID: 4001, State: "Ongoing", Coordinator: 2, DurationSeconds: &dur},
		{TransactionalID: "pay-2", ProducerID: 4002, State: "Empty", Coordinator: 1},
	}, TableOptions{TTY: true}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"TRANSACTIONAL-ID", "DURATION", "pay-1", "4001", "Ongoing", "1m5s", "pay-2", "Empty"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("list lacks %q:\n%s", s, b.String())
		}
	}

	b.Reset()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	if err := RenderTxnDescribe(&b, []api.TxnDescription{
		{TransactionalID: "pay-1", Coordinator: 2, State: "Ongoing", ProducerID: 4001, ProducerEpoch: 3, TimeoutMs: 60000,
			StartTimestampMs: now.Add(-90 * time.Second).UnixMilli(), Partitions: []api.TopicPartition{{Topic: "pay", Partition: 0}, {Topic: "pay", Partition: 2}}},
		{TransactionalID: "ghost", Error: "TRANSACTIONAL_ID_NOT_FOUND"},
	}, now); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Transactional id: pay-1", "Coordinator:    2", "id 4001, epoch 3", "Timeout:        1m0s",
		"2026-12-03T11:58:30Z (1m30s ago)", "Partitions:     pay-0, pay-2", "Transactional id: ghost", "Error:          TRANSACTIONAL_ID_NOT_FOUND"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("describe lacks %q:\n%s", s, b.String())
		}
	}

	b.Reset()
	cmdLine := "chronik txn abort --topic pay --partition 0 --producer-id 4001 --producer-epoch 3 --coordinator-epoch 5"
	if err := RenderHangingTxns(&b, []api.HangingTransaction{{Topic: "pay", Partition: 0, Leader: 2, ProducerID: 4001, ProducerEpoch: 3,
		CoordinatorEpoch: 5, FirstOffset: 1042, AgeSeconds: 1200, AbortCommand: cmdLine}}, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "pay-0\t2\t4001\t3\t5\t1042\t20m0s ago\t-\t" + cmdLine + "\n"
	if b.String() != want {
		t.Errorf("hanging:\n got %q\nwant %q", b.String(), want)
	}

	b.Reset()
	if err := RenderTxnAbort(&b, api.AbortTransactionResult{Topic: "pay", Partition: 0, ProducerID: 4001, ProducerEpoch: 3, CoordinatorEpoch: 5, LastStableOffset: 1100}, 2); err != nil {
		t.Fatal(err)
	}
	if want := "aborted the transaction of producer 4001 (epoch 3, coordinator epoch 5) on pay-0 through node 2; last stable offset now 1100\n"; b.String() != want {
		t.Errorf("abort: %q", b.String())
	}
}
