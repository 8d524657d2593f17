package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/chronik-dev/chronik/bench/internal/workload"
	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// at is a record's place in the topic.
type at struct {
	partition int32
	offset    int64
}

// seen is a record a reader got: where, and the sequence number in its key.
type seen struct {
	at
	seq int64
}

// verdict is what the checker found. Any count but acked, failed and
// unanswered fails the run.
type verdict struct {
	acked, failed, unanswered int
	lost                      int // acknowledged, not in the final log at its offset or anywhere
	moved                     int // acknowledged at one offset, found at another
	duplicated                int // a sequence number at more than one offset
	reordered                 int // two acknowledged records of a partition whose offsets contradict their order
	vanished                  int // read by the consumer at an offset that later holds something else or nothing
	malformed                 int // a record whose key is not a sequence number
	replicas                  int // replicas whose bytes differ below the high watermark
	examples                  []string
	failures                  []string // distinct errors the producer reported
}

const maxExamples = 8

func (v *verdict) example(format string, args ...any) {
	if len(v.examples) < maxExamples {
		v.examples = append(v.examples, fmt.Sprintf(format, args...))
	}
}

func (v verdict) ok() bool {
	return v.lost+v.moved+v.duplicated+v.reordered+v.vanished+v.malformed+v.replicas == 0
}

// parseSeq reads the decimal sequence number the producer put in a key.
func parseSeq(key []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(key), 10, 64)
	return n, err == nil && n >= 0
}

// checkRecords compares what the producer was told, what the consumer saw
// during the run and the final contents of the topic.
func checkRecords(outcomes []workload.Ack, sent int64, consumed, final []seen, malformed int) verdict {
	v := verdict{malformed: malformed}
	finalAt := make(map[at]int64, len(final))
	where := make(map[int64][]at, len(final))
	for _, r := range final {
		finalAt[r.at] = r.seq
		where[r.seq] = append(where[r.seq], r.at)
	}
	for seq, ats := range where {
		if len(ats) > 1 {
			v.duplicated++
			v.example("record %d is at %d places: %v", seq, len(ats), ats)
		}
	}
	acked := map[int32][]workload.Ack{}
	for _, a := range outcomes {
		if a.Err != "" {
			v.failed++
			if !slices.Contains(v.failures, a.Err) && len(v.failures) < maxExamples {
				v.failures = append(v.failures, a.Err)
			}
			continue
		}
		v.acked++
		acked[a.Partition] = append(acked[a.Partition], a)
		got, ok := finalAt[at{a.Partition, a.Offset}]
		switch {
		case ok && got == a.Seq:
		case len(where[a.Seq]) > 0:
			v.moved++
			v.example("record %d acknowledged at %d/%d, found at %v", a.Seq, a.Partition, a.Offset, where[a.Seq])
		default:
			v.lost++
			v.example("record %d acknowledged at %d/%d is gone", a.Seq, a.Partition, a.Offset)
		}
	}
	v.unanswered = int(sent) - v.acked - v.failed
	// An idempotent producer keeps a partition's records in the order it
	// handed them over.
	for p, as := range acked {
		slices.SortFunc(as, func(a, b workload.Ack) int { return int(a.Seq - b.Seq) })
		for i := 1; i < len(as); i++ {
			if as[i].Offset <= as[i-1].Offset {
				v.reordered++
				v.example("partition %d: record %d at offset %d, but the earlier record %d at %d", p, as[i].Seq, as[i].Offset, as[i-1].Seq, as[i-1].Offset)
			}
		}
	}
	for _, r := range consumed {
		if got, ok := finalAt[r.at]; !ok || got != r.seq {
			v.vanished++
			v.example("the consumer read record %d at %d/%d; the final log has %s there", r.seq, r.partition, r.offset, describeAt(got, ok))
		}
	}
	return v
}

func describeAt(seq int64, ok bool) string {
	if !ok {
		return "nothing"
	}
	return fmt.Sprintf("record %d", seq)
}

// replicaDigest is the batches of one replica below a high watermark.
type replicaDigest struct {
	node    int32
	batches []batchDigest
	end     int64 // one past the last offset below the watermark it holds
}

type batchDigest struct {
	base int64
	sum  [32]byte
}

// digestReplica reads one replica's log (the node must be stopped) and
// hashes every batch that ends below hw.
func digestReplica(dataDir, topic string, partition int32, hw int64) (replicaDigest, error) {
	dir := filepath.Join(dataDir, "logs", fmt.Sprintf("%s-%d", topic, partition))
	l, err := partlog.Open(partlog.Options{Dir: dir})
	if err != nil {
		return replicaDigest{}, fmt.Errorf("open %s: %w", dir, err)
	}
	defer l.Close()
	var d replicaDigest
	errStop := fmt.Errorf("stop")
	err = l.ScanBatches(l.LogStartOffset(), func(h batch.Header, b []byte) error {
		if h.LastOffset() >= hw {
			return errStop
		}
		d.batches = append(d.batches, batchDigest{base: h.BaseOffset, sum: sha256.Sum256(b)})
		d.end = h.LastOffset() + 1
		return nil
	})
	if err != nil && err != errStop {
		return d, fmt.Errorf("read %s: %w", dir, err)
	}
	return d, nil
}

// compareReplicas counts replicas that differ from the first one below the
// high watermark, or hold less than it.
func compareReplicas(v *verdict, partition int32, hw int64, ds []replicaDigest) {
	if len(ds) == 0 {
		return
	}
	ref := ds[0]
	for _, d := range ds {
		if d.end < hw && hw > 0 {
			v.replicas++
			v.example("partition %d: node %d holds offsets below %d only, the high watermark is %d", partition, d.node, d.end, hw)
			continue
		}
		if d.node == ref.node {
			continue
		}
		if len(d.batches) != len(ref.batches) {
			v.replicas++
			v.example("partition %d: node %d has %d batches below the high watermark %d, node %d has %d", partition, d.node, len(d.batches), hw, ref.node, len(ref.batches))
			continue
		}
		for i := range d.batches {
			a, b := ref.batches[i], d.batches[i]
			if a.base != b.base || !bytes.Equal(a.sum[:], b.sum[:]) {
				v.replicas++
				v.example("partition %d: nodes %d and %d differ at the batch at offset %d", partition, ref.node, d.node, a.base)
				break
			}
		}
	}
}
