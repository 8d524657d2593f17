package txn

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Coordinator is the transaction coordinator of one broker. Its methods are
// safe for concurrent use.
type Coordinator struct {
	cfg Config
	log Log
}

// New returns a coordinator that coordinates no id yet: every id gets
// NOT_COORDINATOR until its partition is loaded with LoadPartition.
func New(cfg Config, log Log) *Coordinator {
	return &Coordinator{cfg: cfg, log: log}
}

// InitProducerID answers InitProducerId for a transactional id: the producer
// id and epoch the producer uses from now on.
func (c *Coordinator) InitProducerID(ctx context.Context, txnID string, timeoutMs int32, pid int64, epoch int16) (int64, int16, error) {
	return -1, -1, kerr.NotCoordinator
}

// AddPartitions adds partitions to the transaction (verifyOnly: only checks
// they were added, KIP-890). The map has one error per partition asked
// about; the error is for the whole request.
func (c *Coordinator) AddPartitions(ctx context.Context, txnID string, pid int64, epoch int16, parts map[string][]int32, verifyOnly bool) (map[string]map[int32]error, error) {
	return nil, kerr.NotCoordinator
}

// AddOffsets adds the group's partition of __consumer_offsets to the
// transaction.
func (c *Coordinator) AddOffsets(ctx context.Context, txnID string, pid int64, epoch int16, group string) error {
	return kerr.NotCoordinator
}

// EndTxn commits or aborts the transaction.
func (c *Coordinator) EndTxn(ctx context.Context, txnID string, pid int64, epoch int16, commit bool) error {
	return kerr.NotCoordinator
}

// Describe describes the ids, in order.
func (c *Coordinator) Describe(ids []string) []TxnDescription { return nil }

// List lists the transactions of the loaded partitions that pass filter.
func (c *Coordinator) List(filter ListFilter) []TxnSummary { return nil }

// LoadPartition makes this node the coordinator of the ids of partition p
// of __transaction_state at coordinator epoch epoch.
func (c *Coordinator) LoadPartition(ctx context.Context, p int32, epoch int32) error { return nil }

// UnloadPartition stops coordinating the ids of partition p.
func (c *Coordinator) UnloadPartition(p int32) {}

// Close stops the background loop and marker sending.
func (c *Coordinator) Close() {}
