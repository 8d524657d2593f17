package interbroker

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The verifier asks the leader of the id's partition of the transaction
// state topic with a VerifyOnly AddPartitionsToTxn v4 and returns its
// answer for the partition.
func TestVerifier(t *testing.T) {
	answer := func(code, top int16) func(net.Conn, kmsg.Request) kmsg.Response {
		return func(_ net.Conn, kreq kmsg.Request) kmsg.Response {
			req := kreq.(*kmsg.AddPartitionsToTxnRequest)
			resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
			resp.ErrorCode = top
			if req.Version != 4 || len(req.Transactions) != 1 || !req.Transactions[0].VerifyOnly {
				t.Errorf("request: %+v, want one VerifyOnly transaction at v4", req)
				return resp
			}
			tx := req.Transactions[0]
			if tx.TransactionalID != "tx" || tx.ProducerID != 5 || tx.ProducerEpoch != 2 {
				t.Errorf("transaction %+v, want tx pid 5 epoch 2", tx)
			}
			rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rtx.TransactionalID = tx.TransactionalID
			for _, rt := range tx.Topics {
				st := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				st.Topic = rt.Topic
				for _, p := range rt.Partitions {
					sp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					sp.Partition, sp.ErrorCode = p, code
					st.Partitions = append(st.Partitions, sp)
				}
				rtx.Topics = append(rtx.Topics, st)
			}
			resp.Transactions = append(resp.Transactions, rtx)
			return resp
		}
	}
	wrongNode := func(net.Conn, kmsg.Request) kmsg.Response {
		t.Error("asked the node that does not lead the id's partition")
		return nil
	}
	// Partition 1 of 2 holds "tx" (PartitionFor below); node 2 leads it.
	partitionFor := func(id string, n int32) int32 { return 1 }
	for _, tc := range []struct {
		name      string
		code, top int16
		want      error
	}{
		{"added", 0, 0, nil},
		{"not added", kerr.InvalidTxnState.Code, 0, kerr.InvalidTxnState},
		{"fenced", kerr.ProducerFenced.Code, 0, kerr.ProducerFenced},
		{"not coordinator", 0, kerr.NotCoordinator.Code, kerr.NotCoordinator},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := twoPeers(t, wrongNode, answer(tc.code, tc.top))
			v := &Verifier{Client: c, Meta: newFakeMeta(map[string][]int32{"__transaction_state": {1, 2}}),
				Topic: "__transaction_state", PartitionFor: partitionFor}
			err := v.VerifyTxnPartition(ctxFor(t, 5*time.Second), "tx", 5, 2, "out", 3)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("no coordinator", func(t *testing.T) {
		c := twoPeers(t, wrongNode, wrongNode)
		for _, leaders := range []map[string][]int32{{}, {"__transaction_state": {1, -1}}} {
			v := &Verifier{Client: c, Meta: newFakeMeta(leaders), Topic: "__transaction_state", PartitionFor: partitionFor}
			if err := v.VerifyTxnPartition(ctxFor(t, 5*time.Second), "tx", 5, 2, "out", 3); !errors.Is(err, kerr.CoordinatorNotAvailable) {
				t.Fatalf("leaders %v: err = %v, want COORDINATOR_NOT_AVAILABLE", leaders, err)
			}
		}
	})
}
