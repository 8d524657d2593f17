package group

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/batch"
)

// Record formats of __consumer_offsets, as Kafka writes them. The key's
// leading int16 tells what a record is: 0 and 1 are offset commits, 2 is
// group metadata; other versions (transaction markers, newer coordinators)
// are skipped on load.
const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	groupKeyVersion    = 2
)

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = offsetKeyVersion
	k.Group = group
	k.Topic = topic
	k.Partition = partition
	return k.AppendTo(nil)
}

func offsetValue(e offsetEntry) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset = e.offset
	v.LeaderEpoch = e.leaderEpoch
	v.Metadata = e.metadata
	v.CommitTimestamp = e.commitMs
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = groupKeyVersion
	k.Group = group
	return k.AppendTo(nil)
}

// buildBatch frames records for OffsetsLog.Append; offsets are relative to
// the batch, the log assigns the real ones.
func buildBatch(nowMs int64, kvs []keyValue) []byte {
	recs := make([]batch.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = batch.Record{Offset: int64(i), Timestamp: nowMs, Key: kv.key, Value: kv.value}
	}
	return batch.Build(nowMs, recs)
}

type keyValue struct{ key, value []byte }

// loadState accumulates the replay of __consumer_offsets.
type loadState struct {
	offsets map[string]map[string]map[int32]offsetEntry // group -> topic -> partition
	// pending are offsets of transactions whose marker has not been seen
	// yet: producer id -> group -> offsets.
	pending map[int64]map[string]txnOffsets
	// producers is where each transactional producer's sequence stands.
	producers map[int64]producerSeq
	// end is one past the last offset replayed: markers of later offsets
	// reported while the load ran are applied after it (CompleteTxn).
	end     int64
	records int
	skipped int
}

type producerSeq struct {
	epoch   int16
	nextSeq int32
}

func newLoadState() *loadState {
	return &loadState{
		offsets:   make(map[string]map[string]map[int32]offsetEntry),
		pending:   make(map[int64]map[string]txnOffsets),
		producers: make(map[int64]producerSeq),
	}
}

func (st *loadState) applyBatch(partition int32, b []byte) error {
	h, err := batch.ParseHeader(b)
	if err != nil {
		return fmt.Errorf("decode batch of partition %d: %w", partition, err)
	}
	st.end = max(st.end, h.LastOffset()+1)
	recs, err := batch.Records(b)
	if err != nil {
		return fmt.Errorf("decode batch of partition %d: %w", partition, err)
	}
	if h.IsControl() {
		st.applyMarker(h, recs)
		return nil
	}
	if h.ProducerID >= 0 && h.NumRecords > 0 {
		if cur, ok := st.producers[h.ProducerID]; !ok || h.ProducerEpoch >= cur.epoch {
			st.producers[h.ProducerID] = producerSeq{epoch: h.ProducerEpoch, nextSeq: h.BaseSequence + h.LastOffsetDelta + 1}
		}
	}
	txnPID := int64(-1)
	if h.IsTransactional() {
		txnPID = h.ProducerID
	}
	for _, r := range recs {
		st.records++
		if !st.apply(r.Key, r.Value, h.BaseOffset, txnPID) {
			st.skipped++
		}
	}
	return nil
}

// applyMarker ends a transaction on replay as GroupMetadataManager does: a
// COMMIT applies the producer's pending offsets (where no later regular
// commit exists), an ABORT drops them.
func (st *loadState) applyMarker(h batch.Header, recs []batch.Record) {
	if len(recs) != 1 || len(recs[0].Key) < 4 {
		return
	}
	var k kmsg.ControlRecordKey
	if err := k.ReadFrom(recs[0].Key); err != nil || (k.Type != 0 && k.Type != 1) {
		return // not a transaction marker
	}
	groups := st.pending[h.ProducerID]
	delete(st.pending, h.ProducerID)
	if k.Type != 1 {
		return
	}
	for id, pend := range groups {
		g := st.offsets[id]
		if g == nil {
			g = make(map[string]map[int32]offsetEntry)
			st.offsets[id] = g
		}
		applyTxnOffsets(g, pend)
		if len(g) == 0 {
			delete(st.offsets, id)
		}
	}
}

// apply replays one record written at batchOffset, by transactional
// producer txnPID (-1: not transactional); false means it was not understood
// and skipped. An empty value is a tombstone.
func (st *loadState) apply(key, value []byte, batchOffset, txnPID int64) bool {
	if len(key) < 2 {
		return false
	}
	switch int16(binary.BigEndian.Uint16(key)) {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return false
		}
		if len(value) == 0 {
			if txnPID >= 0 {
				st.deletePending(txnPID, k.Group, k.Topic, k.Partition)
				return true
			}
			st.deleteOffset(k.Group, k.Topic, k.Partition)
			// A regular tombstone also ends the partition's pending
			// transactional offsets, as in Kafka.
			for pid := range st.pending {
				st.deletePending(pid, k.Group, k.Topic, k.Partition)
			}
			return true
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return false
		}
		epoch := v.LeaderEpoch
		if v.Version < 3 {
			epoch = -1
		}
		e := offsetEntry{
			offset:       v.Offset,
			leaderEpoch:  epoch,
			metadata:     v.Metadata,
			commitMs:     v.CommitTimestamp,
			recordOffset: batchOffset,
		}
		if txnPID >= 0 {
			st.setPending(txnPID, k.Group, k.Topic, k.Partition, e)
			return true
		}
		st.setOffset(k.Group, k.Topic, k.Partition, e)
		return true
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return false
		}
		// Membership is not persisted, so only a deletion matters: it
		// ends the group, offsets included.
		if len(value) == 0 {
			delete(st.offsets, k.Group)
			for _, groups := range st.pending {
				delete(groups, k.Group)
			}
		}
		return true
	}
	return false
}

func (st *loadState) setOffset(group, topic string, partition int32, e offsetEntry) {
	g := st.offsets[group]
	if g == nil {
		g = make(map[string]map[int32]offsetEntry)
		st.offsets[group] = g
	}
	setOffset(g, topic, partition, e)
}

func (st *loadState) setPending(pid int64, group, topic string, partition int32, e offsetEntry) {
	groups := st.pending[pid]
	if groups == nil {
		groups = make(map[string]txnOffsets)
		st.pending[pid] = groups
	}
	pend := groups[group]
	if pend == nil {
		pend = make(txnOffsets)
		groups[group] = pend
	}
	setOffset(pend, topic, partition, e)
}

func (st *loadState) deletePending(pid int64, group, topic string, partition int32) {
	groups := st.pending[pid]
	if groups == nil || groups[group] == nil {
		return
	}
	deleteOffset(groups[group], topic, partition)
	if len(groups[group]) == 0 {
		delete(groups, group)
	}
}

func (st *loadState) deleteOffset(group, topic string, partition int32) {
	g := st.offsets[group]
	if g == nil {
		return
	}
	deleteOffset(g, topic, partition)
	if len(g) == 0 {
		delete(st.offsets, group)
	}
}

// deleteOffset removes one offset and the topic's map once it is empty.
func deleteOffset(offs map[string]map[int32]offsetEntry, topic string, partition int32) {
	t := offs[topic]
	if t == nil {
		return
	}
	delete(t, partition)
	if len(t) == 0 {
		delete(offs, topic)
	}
}

func setOffset(offs map[string]map[int32]offsetEntry, topic string, partition int32, e offsetEntry) {
	t := offs[topic]
	if t == nil {
		t = make(map[int32]offsetEntry)
		offs[topic] = t
	}
	t[partition] = e
}
