package diagnose

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// fxTxn opens a transaction of producer 4001 (epoch 2) on orders-0 at
// offset 119500, ageSeconds old, as every replica reports it, with the
// LSO held at its first offset.
func fxTxn(ageSeconds float64) func(t *testing.T, v *api.ClusterView) {
	return func(t *testing.T, v *api.ClusterView) {
		fxAllParts(v, 0, func(p *api.PartitionInfo) {
			lso := int64(119500)
			p.LastStableOffset = &lso
			p.OngoingTransactions = []api.OngoingTransaction{{ProducerID: 4001, ProducerEpoch: 2, FirstOffset: 119500, LastOffset: 119800, AgeSeconds: ageSeconds}}
		})
	}
}

func TestRuleHangingTransaction(t *testing.T) {
	runRuleCases(t, ruleHangingTransaction, []ruleCase{
		{name: "no transactions"},
		{name: "a young transaction", mutate: fxTxn(30)},
		{name: "just at the default max timeout", mutate: fxTxn(900)},
		{name: "older than the default max timeout", mutate: fxTxn(1200),
			want: []string{"HANGING_TRANSACTION critical orders-0 node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				for _, s := range []string{"producer 4001 (epoch 2)", "orders-0", "20m0s", "(15m0s)", "stuck at 119500", "high watermark 119988", "node 1"} {
					if !strings.Contains(f.Message, s) {
						t.Errorf("message %q lacks %q", f.Message, s)
					}
				}
				if f.Evidence["producer_id"] != int64(4001) || f.Evidence["producer_epoch"] != int16(2) || f.Evidence["first_offset"] != int64(119500) ||
					f.Evidence["age_seconds"] != 1200.0 || f.Evidence["last_stable_offset"] != int64(119500) || f.Evidence["high_watermark"] != int64(119988) ||
					f.Evidence["max_timeout_seconds"] != 900.0 {
					t.Errorf("evidence %v", f.Evidence)
				}
				if !strings.Contains(f.NextStep, "`chronik txn abort --topic orders --partition 0 --start-offset 119500`") ||
					!strings.Contains(f.NextStep, "find-hanging --topic orders") {
					t.Errorf("next step %q", f.NextStep)
				}
			}},
		{name: "the nodes' own max timeout is longer", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			for id := int32(1); id <= 3; id++ {
				fxNode(t, v, id).Node.Transactions = &api.TxnNodeInfo{MaxTimeoutSeconds: 3600}
			}
		}},
		{name: "the nodes' own max timeout is shorter", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(120)(t, v)
			for id := int32(1); id <= 3; id++ {
				fxNode(t, v, id).Node.Transactions = &api.TxnNodeInfo{MaxTimeoutSeconds: 60}
			}
		}, want: []string{"HANGING_TRANSACTION critical orders-0 node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				if fs[0].Evidence["max_timeout_seconds"] != 60.0 {
					t.Errorf("evidence %v", fs[0].Evidence)
				}
			}},
		{name: "the LSO already passed it", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			lso := int64(119801)
			fxPart(t, v, 1, 0).LastStableOffset = &lso
		}},
		{name: "only a follower reports it", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			p := fxPart(t, v, 1, 0)
			p.OngoingTransactions = nil
			hw := p.HighWatermark
			p.LastStableOffset = &hw
		}},
		{name: "the leader does not answer", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			fxDown(t, v, 1)
		}},
		{name: "a node too old to report the LSO", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			fxPart(t, v, 1, 0).LastStableOffset = nil
		}},
		{name: "its coordinator has it open", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			for id := int32(1); id <= 3; id++ {
				c := &api.TxnCoordinatorInfo{TransactionalIDs: 1, ByState: map[string]int{}, Open: []api.CoordinatedTxn{}}
				if id == 2 {
					c.ByState["PrepareCommit"] = 1
					c.Open = []api.CoordinatedTxn{{TransactionalID: "pay-tx", ProducerID: 4001, ProducerEpoch: 2, State: "PrepareCommit", OpenSeconds: 1250, Partitions: 3}}
					c.OpenTotal = 1
				}
				fxNode(t, v, id).Node.Transactions = &api.TxnNodeInfo{MaxTimeoutSeconds: 900, Coordinator: c}
			}
		}, want: []string{"HANGING_TRANSACTION critical orders-0 node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, `its coordinator, node 2, has transactional id "pay-tx" PrepareCommit for 20m50s`) {
					t.Errorf("message %q", f.Message)
				}
				if f.Evidence["transactional_id"] != "pay-tx" || f.Evidence["coordinator"] != int32(2) || f.Evidence["coordinator_state"] != "PrepareCommit" {
					t.Errorf("evidence %v", f.Evidence)
				}
			}},
		{name: "no answering coordinator has it", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			for id := int32(1); id <= 3; id++ {
				fxNode(t, v, id).Node.Transactions = &api.TxnNodeInfo{MaxTimeoutSeconds: 900,
					Coordinator: &api.TxnCoordinatorInfo{ByState: map[string]int{}, Open: []api.CoordinatedTxn{}}}
			}
		}, want: []string{"HANGING_TRANSACTION critical orders-0 node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "no coordinator has a transaction of this producer open") {
					t.Errorf("message %q", fs[0].Message)
				}
				if v, ok := fs[0].Evidence["coordinator"]; !ok || v != nil {
					t.Errorf("evidence %v", fs[0].Evidence)
				}
			}},
		{name: "a node that does not answer may be its coordinator", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			for id := int32(1); id <= 3; id++ {
				fxNode(t, v, id).Node.Transactions = &api.TxnNodeInfo{MaxTimeoutSeconds: 900,
					Coordinator: &api.TxnCoordinatorInfo{ByState: map[string]int{}, Open: []api.CoordinatedTxn{}}}
			}
			fxDown(t, v, 3)
		}, want: []string{"HANGING_TRANSACTION critical orders-0 node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				if strings.Contains(fs[0].Message, "coordinator") {
					t.Errorf("message %q", fs[0].Message)
				}
			}},
		{name: "two hanging producers on one partition", mutate: func(t *testing.T, v *api.ClusterView) {
			fxTxn(1200)(t, v)
			p := fxPart(t, v, 1, 0)
			p.OngoingTransactions = append(p.OngoingTransactions, api.OngoingTransaction{ProducerID: 4002, ProducerEpoch: 0, FirstOffset: 119600, LastOffset: 119700, AgeSeconds: 1000})
		}, want: []string{"HANGING_TRANSACTION critical orders-0 node=1", "HANGING_TRANSACTION critical orders-0 node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				seen := map[any]bool{}
				for _, f := range fs {
					seen[f.Evidence["producer_id"]] = true
				}
				if !seen[int64(4001)] || !seen[int64(4002)] {
					t.Errorf("findings %v", fs)
				}
			}},
	})
}

// TestHangingTransactionCause: Correlate puts the finding under a cause of
// its own code, with the abort command as the next step.
func TestHangingTransactionCause(t *testing.T) {
	v := fxHealthy()
	fxTxn(1200)(t, &v)
	fs := Run(v)
	causes := Correlate(v, fs)
	for _, c := range causes {
		if c.Code == CodeHangingTransaction {
			if !strings.Contains(c.NextStep, "chronik txn abort --topic orders --partition 0 --start-offset 119500") || c.Severity != api.SeverityCritical {
				t.Errorf("cause %+v", c)
			}
			return
		}
	}
	t.Fatalf("no %s cause in %+v", CodeHangingTransaction, causes)
}
