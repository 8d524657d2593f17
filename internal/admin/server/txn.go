package server

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/txn"
)

// Transactions in the admin API: each replica's last stable offset and
// open transactions in /v1/partitions, and POST /v1/transactions/abort.

// TxnAborter is a source that aborts a transaction on a partition it
// leads (POST /v1/transactions/abort).
type TxnAborter interface {
	AbortTransaction(ctx context.Context, req api.AbortTransactionRequest) (api.AbortTransactionResult, error)
}

func (h *handler) abortTransaction(w http.ResponseWriter, r *http.Request) {
	h.mutation(w, r, func(ctx context.Context, _ ClusterSource) (int, any, error) {
		ta, ok := h.src.(TxnAborter)
		if !ok {
			return 0, nil, &MutationError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented,
				Message: r.URL.Path + " is not served by this node"}
		}
		var req api.AbortTransactionRequest
		if err := decodeBody(w, r, &req); err != nil {
			return 0, nil, err
		}
		if err := req.Validate(); err != nil {
			return 0, nil, &MutationError{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: err.Error()}
		}
		res, err := ta.AbortTransaction(ctx, req)
		return http.StatusOK, res, err
	})
}

// partitionTxns fills in the transactions of the replica running here.
func partitionTxns(p *api.PartitionInfo, t broker.PartitionTxns, now time.Time) {
	lso := t.LastStableOffset
	p.LastStableOffset = &lso
	for _, o := range t.Ongoing {
		age := 0.0
		if !o.Started.IsZero() {
			age = max(now.Sub(o.Started).Seconds(), 0)
		}
		p.OngoingTransactions = append(p.OngoingTransactions, api.OngoingTransaction{
			ProducerID: o.ProducerID, ProducerEpoch: o.ProducerEpoch, FirstOffset: o.FirstOffset, LastOffset: o.LastOffset, AgeSeconds: age,
		})
	}
}

// txnNodeInfo is the node's transaction settings and what its coordinator
// holds.
func txnNodeInfo(maxTimeout time.Duration, coordinated []txn.TxnSummary, now time.Time) *api.TxnNodeInfo {
	c := &api.TxnCoordinatorInfo{TransactionalIDs: len(coordinated), ByState: map[string]int{}, Open: []api.CoordinatedTxn{}}
	for _, t := range coordinated {
		c.ByState[string(t.State)]++
		if !broker.TxnOpen(t.State) {
			continue
		}
		open := 0.0
		if !t.StartTime.IsZero() {
			open = max(now.Sub(t.StartTime).Seconds(), 0)
		}
		c.Open = append(c.Open, api.CoordinatedTxn{TransactionalID: t.TransactionalID, ProducerID: t.ProducerID,
			ProducerEpoch: t.ProducerEpoch, State: string(t.State), OpenSeconds: open, Partitions: t.Partitions})
	}
	c.OpenTotal = len(c.Open)
	slices.SortStableFunc(c.Open, func(a, b api.CoordinatedTxn) int { return cmp.Compare(b.OpenSeconds, a.OpenSeconds) })
	if len(c.Open) > api.MaxListedOpenTxns {
		c.Open = c.Open[:api.MaxListedOpenTxns]
	}
	return &api.TxnNodeInfo{MaxTimeoutSeconds: maxTimeout.Seconds(), Coordinator: c}
}

func (s nodeSource) AbortTransaction(ctx context.Context, req api.AbortTransactionRequest) (api.AbortTransactionResult, error) {
	breq := broker.AbortTxnRequest{Topic: req.Topic, Partition: req.Partition, StartOffset: -1}
	if req.StartOffset != nil {
		breq.StartOffset = *req.StartOffset
	} else {
		breq.ProducerID, breq.ProducerEpoch, breq.CoordinatorEpoch = *req.ProducerID, *req.ProducerEpoch, *req.CoordinatorEpoch
	}
	res, err := s.n.AbortTransaction(ctx, breq)
	if err != nil {
		return api.AbortTransactionResult{}, abortError(err)
	}
	m := res.Marker
	return api.AbortTransactionResult{Topic: req.Topic, Partition: req.Partition, ProducerID: m.ProducerID,
		ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch, LastStableOffset: res.LastStableOffset}, nil
}

// abortError maps an abort's refusal to its HTTP answer: the Kafka errors
// of the replica's fencing are conflicts named by their Kafka name.
func abortError(err error) error {
	var nl *broker.NotLeaderError
	var ke *kerr.Error
	switch {
	case errors.As(err, &nl):
		return &MutationError{Status: http.StatusConflict, Code: api.CodeNotLeader, Message: err.Error()}
	case errors.Is(err, broker.ErrUnknownPartition), errors.Is(err, broker.ErrNoSuchTxn):
		return &MutationError{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: err.Error()}
	case errors.Is(err, kerr.NotLeaderForPartition):
		// Leadership moved while the marker was written.
		return &MutationError{Status: http.StatusConflict, Code: api.CodeNotLeader, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &MutationError{Status: http.StatusServiceUnavailable, Code: api.CodeUnavailable,
			Message: err.Error() + " (the marker may still be committed once the in-sync replicas have it; run find-hanging again)"}
	case errors.As(err, &ke):
		return &MutationError{Status: http.StatusConflict, Code: api.CodeKafkaError, Message: ke.Message + ": " + err.Error()}
	}
	return err
}
