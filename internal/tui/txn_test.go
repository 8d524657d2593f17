package tui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// txnView is the healthy cluster with two transactions open on orders-0 as
// its leader reports them: one 20 minutes old holding the LSO (hanging at
// the default 15 min max timeout), one 30 s old.
func txnView(t *testing.T) api.ClusterView {
	t.Helper()
	v := admintest.LoadView(t, "healthy.json")
	found := false
	for i := range v.Nodes {
		n := &v.Nodes[i]
		for j := range n.Partitions.Partitions {
			p := &n.Partitions.Partitions[j]
			if p.Topic != "orders" || p.Partition != 0 || p.Role != api.ReplicaLeader {
				continue
			}
			found = true
			lso := int64(5)
			p.LastStableOffset = &lso
			p.OngoingTransactions = []api.OngoingTransaction{
				{ProducerID: 4001, ProducerEpoch: 2, FirstOffset: 5, LastOffset: 9, AgeSeconds: 1200},
				{ProducerID: 4002, ProducerEpoch: 0, FirstOffset: 7, LastOffset: 7, AgeSeconds: 30},
			}
		}
	}
	if !found {
		t.Fatal("no leader of orders-0 in healthy.json")
	}
	return v
}

// The detail view shows the LSO and the open transactions, the hanging one
// marked with the command that aborts it; a leader that reports no
// transaction field shows no line.
func TestTUIDetailShowsTransactions(t *testing.T) {
	h := newHarness(t, txnView(t), Options{})
	h.snapshot()
	h.update(tea.WindowSizeMsg{Width: 240, Height: 40})
	h.keys("2", "enter")
	h.contains("orders-0",
		"LSO 5  2 open transactions (read_committed consumers stop at the LSO)",
		"txn producer 4001 epoch 2  offsets 5-9  open 20m0s  ✗ hanging (max timeout 15m0s): chronik txn abort --topic orders --partition 0 --start-offset 5",
		"txn producer 4002 epoch 0  offsets 7-7  open 30s")
	h.lacks("4002 epoch 0  offsets 7-7  open 30s  ✗")

	// A node's own longer max timeout: nothing hangs.
	v := txnView(t)
	for i := range v.Nodes {
		v.Nodes[i].Node.Transactions = &api.TxnNodeInfo{MaxTimeoutSeconds: 3600}
	}
	h.refresh(v)
	h.contains("txn producer 4001 epoch 2  offsets 5-9  open 20m0s")
	h.lacks("hanging")

	h.refresh(admintest.LoadView(t, "healthy.json"))
	h.lacks("LSO ", "txn producer")
}
