package topicadmin

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// find-hanging's decision, as kafka-transactions.sh makes it: an open
// transaction whose producer last wrote longer than the max timeout ago,
// that no coordinator has open with the partition in it.
func TestHangingOf(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }
	prod := func(topic string, p int32, pid int64, start int64, last time.Duration) kadm.DescribedProducer {
		return kadm.DescribedProducer{Leader: 2, Topic: topic, Partition: p, ProducerID: pid, ProducerEpoch: 1,
			CoordinatorEpoch: 4, CurrentTxnStartOffset: start, LastTimestamp: ago(last)}
	}
	all := []kadm.DescribedProducer{
		prod("pay", 0, 1, 100, time.Hour),      // no coordinator knows it: hanging
		prod("pay", 0, 2, -1, time.Hour),       // no open transaction
		prod("pay", 1, 3, 200, time.Minute),    // wrote recently
		prod("pay", 1, 4, 300, time.Hour),      // open at its coordinator with pay-1 in it: live
		prod("pay", 2, 5, 400, time.Hour),      // its coordinator's transaction is over: hanging
		prod("pay", 3, 6, 500, time.Hour),      // open at its coordinator, without pay-3: hanging
		prod("pay", 3, 7, 600, 20*time.Minute), // PrepareCommit with pay-3 in it: markers on their way
		{Topic: "pay", Partition: 3, ProducerID: 8, CurrentTxnStartOffset: 9, LastTimestamp: -1}, // no timestamp: unknown age
	}
	cands := oldOpenTxns(all, 15*time.Minute, now)
	var pids []int64
	for _, c := range cands {
		pids = append(pids, c.ProducerID)
	}
	if want := []int64{1, 4, 5, 6, 7}; !equalInt64s(pids, want) {
		t.Fatalf("candidates %v, want %v", pids, want)
	}
	set := func(topic string, ps ...int32) kadm.TopicsSet {
		s := kadm.TopicsSet{}
		s.Add(topic, ps...)
		return s
	}
	listed := kadm.ListedTransactions{
		"tx-4": {TxnID: "tx-4", ProducerID: 4, State: TxnStateOngoing, Coordinator: 1},
		"tx-5": {TxnID: "tx-5", ProducerID: 5, State: "CompleteCommit", Coordinator: 1},
		"tx-6": {TxnID: "tx-6", ProducerID: 6, State: TxnStateOngoing, Coordinator: 3},
		"tx-7": {TxnID: "tx-7", ProducerID: 7, State: TxnStatePrepareCommit, Coordinator: 3},
	}
	described := kadm.DescribedTransactions{
		"tx-4": {TxnID: "tx-4", ProducerID: 4, State: TxnStateOngoing, Topics: set("pay", 1)},
		"tx-5": {TxnID: "tx-5", ProducerID: 5, State: "CompleteCommit"},
		"tx-6": {TxnID: "tx-6", ProducerID: 6, State: TxnStateOngoing, Topics: set("pay", 0, 1)},
		"tx-7": {TxnID: "tx-7", ProducerID: 7, State: TxnStatePrepareCommit, Topics: set("pay", 3)},
	}
	hs := hangingOf(cands, listed, described, now)
	if len(hs) != 3 {
		t.Fatalf("hanging %+v", hs)
	}
	h := hs[0]
	if h.Topic != "pay" || h.Partition != 0 || h.ProducerID != 1 || h.ProducerEpoch != 1 || h.CoordinatorEpoch != 4 || h.FirstOffset != 100 ||
		h.Leader != 2 || h.AgeSeconds != 3600 || h.TransactionalID != "" ||
		h.AbortCommand != "chronik txn abort --topic pay --partition 0 --producer-id 1 --producer-epoch 1 --coordinator-epoch 4" {
		t.Errorf("first %+v", h)
	}
	if hs[1].ProducerID != 5 || hs[1].TransactionalID != "tx-5" || hs[2].ProducerID != 6 || hs[2].TransactionalID != "tx-6" {
		t.Errorf("the others %+v", hs[1:])
	}
}

func equalInt64s(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
