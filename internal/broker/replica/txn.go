package replica

// Transactions on one partition replica (KIP-98): which producers have a
// transaction open here (the last stable offset stops at the oldest), which
// transactions were aborted (read_committed consumers skip their records),
// and the transaction markers a coordinator writes to end them.
//
// The state follows the log: every appended batch goes through applyTxn in
// log order, on the leader as it appends, on followers as they replicate, and
// on start-up or after a truncation as the log is scanned again. Markers are
// control batches whose one record's key holds the type (0 ABORT, 1 COMMIT)
// and whose value holds the coordinator epoch (kmsg.ControlRecordKey,
// kmsg.EndTxnMarker).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OngoingTxn is a transaction open on this partition replica.
type OngoingTxn struct {
	ProducerID    int64
	ProducerEpoch int16
	FirstOffset   int64     // its first batch here
	LastOffset    int64     // its last batch's last offset here
	Started       time.Time // when its first batch was appended here (append clock; after a restart: that batch's max timestamp)
}

// AbortedTxn is one entry of the aborted-transactions index (Fetch
// read_committed). LastOffset is the ABORT marker's offset.
type AbortedTxn struct{ ProducerID, FirstOffset, LastOffset int64 }

// TxnMarker is what a transaction coordinator asks a partition leader to
// write to end a producer's transaction.
type TxnMarker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// TxnVerifier asks the transaction coordinator whether partition
// topic/partition was added to the ongoing transaction of (txnID, pid,
// epoch) (KIP-890 part 1). nil error: yes. kerr errors as the coordinator
// answered (e.g. INVALID_TXN_STATE, PRODUCER_FENCED,
// NOT_COORDINATOR/COORDINATOR_NOT_AVAILABLE -> retriable for the producer).
type TxnVerifier interface {
	VerifyTxnPartition(ctx context.Context, txnID string, producerID int64, epoch int16, topic string, partition int32) error
}

// noTxn marks a producer without an open transaction and, in firstUnstable,
// a partition without any.
const noTxn = math.MaxInt64

// txnState is the partition's transaction bookkeeping beside the producers
// map, guarded by appendMu; aborted and unreplicated (read by fetches) are
// changed under txnMu as well.
type txnState struct {
	// ongoing are the producers with a transaction open here.
	ongoing map[int64]*producerState
	// unreplicated are transactions whose marker is appended but may not
	// be committed yet, in marker order: they hold the last stable offset
	// at their first offset until the high watermark passes their marker,
	// as Kafka's unreplicatedTxns, so a marker a new leader may lack never
	// exposes the transaction's records. Entries the high watermark passed
	// are dropped at the next marker.
	unreplicated []AbortedTxn
	// aborted is the aborted-transactions index in marker (LastOffset) order.
	aborted []AbortedTxn
	// maxSpan is the largest LastOffset-FirstOffset in aborted: an entry
	// whose marker lies further than that beyond an offset cannot have
	// started before it, which bounds AbortedTxns's scan.
	maxSpan int64
}

func (t *txnState) reset() {
	t.ongoing = map[int64]*producerState{}
	t.unreplicated = nil
	t.aborted = nil
	t.maxSpan = 0
}

// resetTxn empties the transaction state (a rebuild or a restart at an
// offset follows). p.appendMu is held.
func (p *Partition) resetTxn() {
	p.txnMu.Lock()
	p.txn.reset()
	p.firstUnstable.Store(noTxn)
	p.txnMu.Unlock()
}

// LastStableOffset is min(high watermark, first offset of the oldest
// transaction still open here or whose marker is not committed yet):
// read_committed consumers read below it. It moves up only when the high
// watermark does, so a fetch waiting on the high watermark sees it move.
func (p *Partition) LastStableOffset() int64 {
	return p.lsoAt(p.HighWatermark())
}

func (p *Partition) lsoAt(hw int64) int64 {
	p.txnMu.RLock()
	first := p.firstUnstable.Load()
	for _, u := range p.txn.unreplicated {
		if u.LastOffset >= hw {
			first = min(first, u.FirstOffset)
		}
	}
	p.txnMu.RUnlock()
	return min(hw, first)
}

// ReadCommitted serves a read_committed fetch: whole batches from offset
// that end below the last stable offset, the high watermark and last
// stable offset it used, and the aborted transactions overlapping what it
// returns (the consumer drops their records).
func (p *Partition) ReadCommitted(offset int64, maxBytes int, minOne bool) (records []byte, hw, lso int64, aborted []AbortedTxn, err error) {
	hw = p.HighWatermark()
	lso = p.lsoAt(hw)
	records, err = p.readUpTo(offset, maxBytes, lso, minOne)
	if err != nil || len(records) == 0 {
		return nil, hw, lso, nil, err
	}
	end, err := batchesEnd(records)
	if err != nil {
		p.logger.Error("read returned unparsable batches", "topic", p.Topic, "partition", p.Index, "offset", offset, "err", err)
		return nil, hw, lso, nil, kerr.KafkaStorageError
	}
	return records, hw, lso, p.AbortedTxns(offset, end), nil
}

// batchesEnd is the offset after the last batch of b.
func batchesEnd(b []byte) (int64, error) {
	end := int64(-1)
	for len(b) > 0 {
		h, err := batch.ParseHeader(b)
		if err != nil {
			return 0, err
		}
		if h.Size() > len(b) {
			return 0, batch.ErrTruncated
		}
		end = h.LastOffset() + 1
		b = b[h.Size():]
	}
	return end, nil
}

// OngoingTxns are the transactions open on this replica, oldest first.
func (p *Partition) OngoingTxns() []OngoingTxn {
	p.appendMu.Lock()
	out := make([]OngoingTxn, 0, len(p.txn.ongoing))
	for id, s := range p.txn.ongoing {
		out = append(out, OngoingTxn{ProducerID: id, ProducerEpoch: s.epoch,
			FirstOffset: s.txnFirst, LastOffset: s.txnLast, Started: s.txnStarted})
	}
	p.appendMu.Unlock()
	slices.SortFunc(out, func(a, b OngoingTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	return out
}

// AbortedTxns are the aborted transactions overlapping [from, to): those
// whose first offset is below to and whose ABORT marker is at or after from,
// in marker order, as Kafka's fetch collects them.
func (p *Partition) AbortedTxns(from, to int64) []AbortedTxn {
	p.txnMu.RLock()
	defer p.txnMu.RUnlock()
	ab := p.txn.aborted
	i := sort.Search(len(ab), func(i int) bool { return ab[i].LastOffset >= from })
	var out []AbortedTxn
	for ; i < len(ab); i++ {
		a := ab[i]
		if a.LastOffset-p.txn.maxSpan >= to {
			break // this one and every later one started at or after to
		}
		if a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// recomputeFirstUnstable refreshes firstUnstable after the set of open
// transactions changed. p.appendMu is held, and p.txnMu when a
// transaction ended (LastStableOffset reads both together).
func (p *Partition) recomputeFirstUnstable() {
	first := int64(noTxn)
	for _, s := range p.txn.ongoing {
		first = min(first, s.txnFirst)
	}
	p.firstUnstable.Store(first)
}

// markerOf decodes the marker of a control batch; ok=false for a control
// batch that is not a transaction marker (Kafka has other control types).
func markerOf(h batch.Header, b []byte) (m TxnMarker, ok bool, err error) {
	recs, err := batch.Records(b)
	if err != nil {
		return TxnMarker{}, false, fmt.Errorf("control batch at offset %d: %w", h.BaseOffset, err)
	}
	if len(recs) != 1 {
		return TxnMarker{}, false, fmt.Errorf("control batch at offset %d holds %d records, want 1", h.BaseOffset, len(recs))
	}
	var key kmsg.ControlRecordKey
	if err := key.ReadFrom(recs[0].Key); err != nil {
		return TxnMarker{}, false, fmt.Errorf("control record key at offset %d: %w", h.BaseOffset, err)
	}
	if key.Type != 0 && key.Type != 1 {
		return TxnMarker{}, false, nil
	}
	var val kmsg.EndTxnMarker
	if err := val.ReadFrom(recs[0].Value); err != nil {
		return TxnMarker{}, false, fmt.Errorf("transaction marker value at offset %d: %w", h.BaseOffset, err)
	}
	return TxnMarker{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch,
		Commit: key.Type == 1, CoordinatorEpoch: val.CoordinatorEpoch}, true, nil
}

// buildMarker encodes the control batch of m: attributes transactional and
// control, base sequence -1, one record (key: version 0 and type; value:
// version 0 and the coordinator epoch) stamped now.
func buildMarker(m TxnMarker, now time.Time) []byte {
	typ := kmsg.ControlRecordKeyType(0)
	if m.Commit {
		typ = 1
	}
	key := kmsg.ControlRecordKey{Version: 0, Type: typ}
	val := kmsg.EndTxnMarker{Version: 0, CoordinatorEpoch: m.CoordinatorEpoch}
	ts := now.UnixMilli()
	b := batch.Build(ts, []batch.Record{{Timestamp: ts, Key: key.AppendTo(nil), Value: val.AppendTo(nil)}})
	batch.SetProducer(b, m.ProducerID, m.ProducerEpoch, -1, true, true)
	return b
}

// applyTxn updates the producer and transaction state for one batch just
// appended at [h.BaseOffset, h.LastOffset()] (b is the batch; only control
// batches are decoded). now is when it was appended (the batch's max
// timestamp while the log is replayed). p.appendMu is held.
func (p *Partition) applyTxn(h batch.Header, b []byte, now time.Time) error {
	if h.ProducerID < 0 {
		return nil
	}
	s := p.producers[h.ProducerID]
	if s == nil {
		s = newProducerState(h.ProducerEpoch)
		p.producers[h.ProducerID] = s
	}
	s.lastTimestamp = h.MaxTimestamp
	if !h.IsControl() {
		s.record(h, h.BaseOffset, h.LastOffset())
		if h.IsTransactional() {
			if s.txnFirst == noTxn {
				s.txnFirst, s.txnStarted = h.BaseOffset, now
				p.txn.ongoing[h.ProducerID] = s
				p.recomputeFirstUnstable()
			}
			s.txnLast = h.LastOffset()
		}
		return nil
	}
	m, ok, err := markerOf(h, b)
	if err != nil || !ok {
		return err
	}
	s.markers++
	if h.ProducerEpoch != s.epoch {
		// A marker of a bumped epoch (a fenced producer's transaction
		// aborted by its successor) restarts the sequences, as Kafka's
		// maybeUpdateProducerEpoch.
		s.epoch, s.batches = h.ProducerEpoch, s.batches[:0]
	}
	s.coordEpoch = m.CoordinatorEpoch
	if s.txnFirst == noTxn {
		return nil // a marker for an empty transaction changes no offsets
	}
	done := AbortedTxn{ProducerID: h.ProducerID, FirstOffset: s.txnFirst, LastOffset: h.BaseOffset}
	hw := p.hw.get()
	p.txnMu.Lock()
	p.txn.unreplicated = slices.DeleteFunc(p.txn.unreplicated, func(u AbortedTxn) bool { return u.LastOffset < hw })
	p.txn.unreplicated = append(p.txn.unreplicated, done)
	if !m.Commit {
		p.txn.aborted = append(p.txn.aborted, done)
		p.txn.maxSpan = max(p.txn.maxSpan, done.LastOffset-done.FirstOffset)
	}
	s.txnFirst, s.txnLast, s.txnStarted = noTxn, noTxn, time.Time{}
	delete(p.txn.ongoing, h.ProducerID)
	p.recomputeFirstUnstable()
	p.txnMu.Unlock()
	return nil
}

// trimAborted drops aborted-index entries wholly below the log start.
func (p *Partition) trimAborted() {
	start := p.log.LogStartOffset()
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	i := sort.Search(len(p.txn.aborted), func(i int) bool { return p.txn.aborted[i].LastOffset >= start })
	if i > 0 {
		p.txn.aborted = slices.Delete(p.txn.aborted, 0, i)
	}
}

// checkMarker applies Kafka's fencing of a marker: a producer epoch older
// than the partition knows, or a coordinator epoch older than the last
// marker's. p.appendMu is held.
func (p *Partition) checkMarker(m TxnMarker) error {
	s := p.producers[m.ProducerID]
	if s == nil {
		return nil
	}
	if m.ProducerEpoch < s.epoch {
		return kerr.InvalidProducerEpoch
	}
	if m.CoordinatorEpoch < s.coordEpoch {
		return kerr.TransactionCoordinatorFenced
	}
	return nil
}

// WriteTxnMarker appends a COMMIT or ABORT control batch for the producer
// (leader only) and returns once it is committed (the high watermark passed
// it). Kafka's rules: an older producer epoch than the partition knows ->
// kerr.InvalidProducerEpoch; a coordinator epoch older than the last
// marker's -> kerr.TransactionCoordinatorFenced. A marker for a producer
// without a transaction open here is written too, as Kafka does: it ends
// nothing and moves no offsets, and it records the epochs for fencing.
func (p *Partition) WriteTxnMarker(ctx context.Context, m TxnMarker) error {
	_, err := p.WriteTxnMarkerAt(ctx, m)
	return err
}

// WriteTxnMarkerAt is WriteTxnMarker that also says at which offset the
// marker was written (the group coordinator applies transactional offsets
// in that order).
func (p *Partition) WriteTxnMarkerAt(ctx context.Context, m TxnMarker) (int64, error) {
	if m.ProducerID < 0 || m.ProducerEpoch < 0 {
		return -1, kerr.InvalidProducerIDMapping
	}
	// Markers are written with acks=all, so min.insync.replicas holds
	// for them as for any acks=all produce (the coordinator retries).
	if err := p.CheckProduce(-1); err != nil {
		return -1, err
	}
	b := buildMarker(m, time.Now())
	p.appendMu.Lock()
	role := p.role.Load()
	if !role.Leader {
		p.appendMu.Unlock()
		return -1, kerr.NotLeaderForPartition
	}
	if err := p.checkMarker(m); err != nil {
		p.appendMu.Unlock()
		return -1, err
	}
	res, err := p.log.Append(b, role.LeaderEpoch)
	if err != nil {
		p.appendMu.Unlock()
		p.logger.Error("append transaction marker failed", "topic", p.Topic, "partition", p.Index, "err", err)
		if errors.Is(err, partlog.ErrClosed) {
			return -1, kerr.NotLeaderForPartition
		}
		return -1, kerr.KafkaStorageError
	}
	h, err := batch.ParseHeader(b)
	if err == nil {
		h.BaseOffset = res.BaseOffset
		err = p.applyTxn(h, b, time.Now())
	}
	if err != nil {
		// Our own encoding: it cannot fail to parse.
		p.logger.Error("record transaction marker", "topic", p.Topic, "partition", p.Index, "err", err)
	}
	p.signalEnd()
	if p.flush != partlog.FlushAlways {
		p.recomputeHW()
	}
	p.appendMu.Unlock()
	if err := p.WaitCommitted(ctx, res.LastOffset+1, role.LeaderEpoch); err != nil {
		return -1, err
	}
	return res.BaseOffset, nil
}

// ProducerInfo is what this replica knows of one producer
// (DescribeProducers).
type ProducerInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	// LastSequence is the sequence of its last batch's last record, -1
	// when none is remembered (none yet, or a marker bumped its epoch).
	LastSequence  int32
	LastTimestamp int64
	// CoordinatorEpoch is that of its last marker, -1 for none.
	CoordinatorEpoch int32
	// TxnStartOffset is the first offset of its transaction open here, -1
	// for none.
	TxnStartOffset int64
}

// Producers are the producers this replica keeps state for, by id.
func (p *Partition) Producers() []ProducerInfo {
	p.appendMu.Lock()
	out := make([]ProducerInfo, 0, len(p.producers))
	for id, s := range p.producers {
		pi := ProducerInfo{ProducerID: id, ProducerEpoch: s.epoch, LastSequence: -1,
			LastTimestamp: s.lastTimestamp, CoordinatorEpoch: s.coordEpoch, TxnStartOffset: -1}
		if n := len(s.batches); n > 0 {
			pi.LastSequence = s.batches[n-1].lastSeq
		}
		if s.txnFirst != noTxn {
			pi.TxnStartOffset = s.txnFirst
		}
		out = append(out, pi)
	}
	p.appendMu.Unlock()
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}
