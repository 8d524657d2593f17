package txn

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// Record format of __transaction_state, as Kafka writes it: key version 0
// (the transactional id), value version 0 (Kafka 2.x-3.x; the flexible v1
// adds only KIP-890 part 2 tags). A tombstone (no value) forgets the id.
const (
	keyVersion   = 0
	valueVersion = 0
)

// stateCodes maps State to the int8 of the record (kmsg.TransactionState).
var stateCodes = map[State]kmsg.TransactionState{
	StateEmpty: 0, StateOngoing: 1, StatePrepareCommit: 2, StatePrepareAbort: 3,
	StateCompleteCommit: 4, StateCompleteAbort: 5, StateDead: 6, StatePrepareEpochFence: 7,
}

func stateOf(code kmsg.TransactionState) (State, bool) {
	for s, c := range stateCodes {
		if c == code {
			return s, true
		}
	}
	return "", false
}

func txnKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = keyVersion
	k.TransactionalID = id
	return k.AppendTo(nil)
}

func txnValue(m *meta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID = m.pid
	v.ProducerEpoch = m.epoch
	v.TimeoutMillis = m.timeoutMs
	v.State = stateCodes[m.state]
	v.LastUpdateTimestamp = m.updateMs
	v.StartTimestamp = m.startMs
	for _, t := range m.sortedTopics() {
		vt := kmsg.NewTxnMetadataValueTopic()
		vt.Topic = t
		vt.Partitions = m.partitionsOf(t)
		v.Topics = append(v.Topics, vt)
	}
	return v.AppendTo(nil)
}

// recordBatch frames the record of m (a tombstone when m is Dead).
func recordBatch(m *meta, nowMs int64) []byte {
	var value []byte
	if m.state != StateDead {
		value = txnValue(m)
	}
	return batch.Build(nowMs, []batch.Record{{Offset: 0, Timestamp: nowMs, Key: txnKey(m.id), Value: value}})
}

// replay applies one batch of __transaction_state to ids: later records
// win, tombstones delete. Records of unknown key versions are skipped, so a
// newer format does not stop a load.
func replay(ids map[string]*meta, partition int32, b []byte) error {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return fmt.Errorf("decode batch of partition %d: %w", partition, err)
	}
	if h.IsControl() {
		return nil
	}
	recs, err := batch.Records(b)
	if err != nil {
		return fmt.Errorf("decode records of partition %d at %d: %w", partition, h.BaseOffset, err)
	}
	for _, r := range recs {
		var k kmsg.TxnMetadataKey
		if err := k.ReadFrom(r.Key); err != nil || k.Version != keyVersion {
			continue
		}
		if r.Value == nil {
			delete(ids, k.TransactionalID)
			continue
		}
		var v kmsg.TxnMetadataValue
		if err := v.ReadFrom(r.Value); err != nil {
			return fmt.Errorf("decode transaction %q at offset %d of partition %d: %w", k.TransactionalID, h.BaseOffset, partition, err)
		}
		st, ok := stateOf(v.State)
		if !ok {
			return fmt.Errorf("transaction %q at offset %d of partition %d: unknown state %d", k.TransactionalID, h.BaseOffset, partition, v.State)
		}
		m := &meta{
			id: k.TransactionalID, partition: partition,
			pid: v.ProducerID, lastPid: -1, epoch: v.ProducerEpoch, lastEpoch: -1,
			timeoutMs: v.TimeoutMillis, state: st, startMs: v.StartTimestamp, updateMs: v.LastUpdateTimestamp,
			parts: map[string]map[int32]struct{}{},
		}
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				m.add(t.Topic, p)
			}
		}
		ids[m.id] = m
	}
	return nil
}

func (m *meta) sortedTopics() []string {
	ts := make([]string, 0, len(m.parts))
	for t := range m.parts {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

func (m *meta) partitionsOf(topic string) []int32 {
	ps := make([]int32, 0, len(m.parts[topic]))
	for p := range m.parts[topic] {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}
