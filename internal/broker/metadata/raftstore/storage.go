package raftstore

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// InitialState implements raft.Storage: the saved HardState (nil if none was saved) and the
// ConfState of the latest snapshot.
func (s *Store) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	var (
		hs   *raftpb.HardState
		snap *raftpb.Snapshot
	)
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if hs, err = s.hardState(tx); err != nil {
			return err
		}
		snap, err = s.snapshot(tx)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return hs, snap.GetMetadata().GetConfState(), nil
}

// Entries implements raft.Storage: entries [lo, hi), cut to maxSize bytes of encoded
// entries but never to fewer than one. raft.ErrCompacted if lo is at or before the
// compaction point, raft.ErrUnavailable if the log holds no entries at all.
func (s *Store) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	var out []*raftpb.Entry
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketEntries))
		offset, last, err := bounds(b)
		if err != nil {
			return err
		}
		if lo <= offset {
			return raft.ErrCompacted
		}
		if hi > last+1 || lo > hi {
			return fmt.Errorf("entries [%d, %d) out of bounds: log is (%d, %d]", lo, hi, offset, last)
		}
		if offset == last {
			return raft.ErrUnavailable
		}
		out = make([]*raftpb.Entry, 0, min(hi-lo, 1024))
		var size uint64
		c := b.Cursor()
		want := lo
		for k, v := c.Seek(key(lo)); k != nil && want < hi; k, v = c.Next() {
			idx, err := decodeKey(k)
			if err != nil {
				return err
			}
			if idx != want {
				return corruptf("entry %d missing (next stored entry is %d)", want, idx)
			}
			e, err := decodeEntry(idx, v)
			if err != nil {
				return err
			}
			// Same rule as raft's limitSize: the first entry always goes, later ones
			// only while the total stays within maxSize.
			size += uint64(proto.Size(e))
			if len(out) > 0 && size > maxSize {
				break
			}
			out = append(out, e)
			want++
		}
		if len(out) == 0 && lo < hi {
			return corruptf("entry %d missing", lo)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Term implements raft.Storage: the term of entry i, for i in [FirstIndex()-1, LastIndex()].
func (s *Store) Term(i uint64) (uint64, error) {
	var term uint64
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketEntries))
		offset, last, err := bounds(b)
		if err != nil {
			return err
		}
		if i < offset {
			return raft.ErrCompacted
		}
		if i > last {
			return raft.ErrUnavailable
		}
		e, err := getEntry(b, i)
		if err != nil {
			return err
		}
		term = e.GetTerm()
		return nil
	})
	return term, err
}

// LastIndex implements raft.Storage.
func (s *Store) LastIndex() (uint64, error) {
	var last uint64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		_, last, err = bounds(tx.Bucket([]byte(bucketEntries)))
		return err
	})
	return last, err
}

// FirstIndex implements raft.Storage: one past the compaction point.
func (s *Store) FirstIndex() (uint64, error) {
	var offset uint64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		offset, _, err = bounds(tx.Bucket([]byte(bucketEntries)))
		return err
	})
	return offset + 1, err
}

// Snapshot implements raft.Storage: the latest snapshot (an empty one before the first).
func (s *Store) Snapshot() (*raftpb.Snapshot, error) {
	var snap *raftpb.Snapshot
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		snap, err = s.snapshot(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// Save persists one Ready in ONE bbolt transaction: the snapshot (if not empty), then the
// entries, then the HardState (if not empty). It returns after the fsynced commit; on any
// error nothing of the Ready is written.
//
// A snapshot replaces the whole log, like MemoryStorage.ApplySnapshot: raft only sends one
// when the local log does not contain the snapshot's last entry, so any entries after it
// are not known to agree with it. A snapshot at or below the current one is
// raft.ErrSnapOutOfDate.
//
// Entries are appended; an entry whose index is at or below the last index first truncates
// the log from that index on, like MemoryStorage.Append. Entries at or before the
// compaction point are skipped. A gap after the last index is an error.
func (s *Store) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	withSnap := !raft.IsEmptySnap(snap)
	withHS := !raft.IsEmptyHardState(hs)
	if !withSnap && !withHS && len(ents) == 0 {
		return nil
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].GetIndex() != ents[i-1].GetIndex()+1 {
			return fmt.Errorf("raft store %s: save: entries not contiguous: %d follows %d",
				s.path, ents[i].GetIndex(), ents[i-1].GetIndex())
		}
	}
	return s.update(func(tx *bolt.Tx) error {
		if withSnap {
			if err := s.applySnapshot(tx, snap); err != nil {
				return err
			}
		}
		if len(ents) > 0 {
			if err := appendEntries(tx.Bucket([]byte(bucketEntries)), ents); err != nil {
				return err
			}
		}
		if withHS {
			if err := putProto(tx.Bucket([]byte(bucketMeta)), []byte(keyHardState), hs); err != nil {
				return fmt.Errorf("write hard state: %w", err)
			}
		}
		return nil
	})
}

func (s *Store) applySnapshot(tx *bolt.Tx, snap *raftpb.Snapshot) error {
	cur, err := s.snapshot(tx)
	if err != nil {
		return err
	}
	curIndex, index := cur.GetMetadata().GetIndex(), snap.GetMetadata().GetIndex()
	if curIndex != 0 && curIndex >= index {
		return raft.ErrSnapOutOfDate
	}
	// Copy before normalising: the caller's snapshot may be shared with raft.
	snap = raftpb.EnsureSnapshot(proto.CloneOf(snap))
	if err := putProto(tx.Bucket([]byte(bucketMeta)), []byte(keySnapshot), snap); err != nil {
		return fmt.Errorf("write snapshot %d: %w", index, err)
	}
	// Dropping and recreating the bucket is the cheap way to delete the whole log.
	if err := tx.DeleteBucket([]byte(bucketEntries)); err != nil {
		return fmt.Errorf("drop log for snapshot %d: %w", index, err)
	}
	b, err := tx.CreateBucket([]byte(bucketEntries))
	if err != nil {
		return fmt.Errorf("recreate log for snapshot %d: %w", index, err)
	}
	return putEntry(b, marker(index, snap.GetMetadata().GetTerm()))
}

func appendEntries(b *bolt.Bucket, ents []*raftpb.Entry) error {
	offset, last, err := bounds(b)
	if err != nil {
		return err
	}
	// Entries at or before the compaction point are already covered by a snapshot.
	if first := ents[0].GetIndex(); first <= offset {
		if n := offset + 1 - first; n < uint64(len(ents)) {
			ents = ents[n:]
		} else {
			return nil
		}
	}
	first := ents[0].GetIndex()
	if first > last+1 {
		return fmt.Errorf("append entry %d: log ends at %d, entries in between missing", first, last)
	}
	// The conflicting suffix goes, even the part the new entries do not overwrite.
	for i := first; i <= last; i++ {
		if err := b.Delete(key(i)); err != nil {
			return fmt.Errorf("truncate log at %d: %w", i, err)
		}
	}
	for _, e := range ents {
		if err := putEntry(b, e); err != nil {
			return err
		}
	}
	return nil
}

// CreateSnapshot records a snapshot of the applied state at index, with the ConfState (nil
// keeps the previous one) and the state machine's bytes. raft.ErrSnapOutOfDate if index is
// not past the current snapshot; raft.ErrCompacted if the log no longer knows its term.
func (s *Store) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	var snap *raftpb.Snapshot
	err := s.update(func(tx *bolt.Tx) error {
		cur, err := s.snapshot(tx)
		if err != nil {
			return err
		}
		if index <= cur.GetMetadata().GetIndex() {
			return raft.ErrSnapOutOfDate
		}
		b := tx.Bucket([]byte(bucketEntries))
		offset, last, err := bounds(b)
		if err != nil {
			return err
		}
		if index > last {
			return fmt.Errorf("create snapshot at %d: log ends at %d", index, last)
		}
		if index < offset {
			return raft.ErrCompacted
		}
		e, err := getEntry(b, index)
		if err != nil {
			return err
		}
		if cs == nil {
			cs = cur.GetMetadata().GetConfState()
		}
		snap = &raftpb.Snapshot{
			Data: data,
			Metadata: &raftpb.SnapshotMetadata{
				Index:     new(index),
				Term:      new(e.GetTerm()),
				ConfState: proto.CloneOf(cs),
			},
		}
		snap = raftpb.EnsureSnapshot(snap)
		if err := putProto(tx.Bucket([]byte(bucketMeta)), []byte(keySnapshot), snap); err != nil {
			return fmt.Errorf("write snapshot %d: %w", index, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.logger.Debug("raft snapshot created", "index", index, "term", snap.GetMetadata().GetTerm(), "bytes", len(data))
	// The caller may keep and modify data; hand back a snapshot that shares nothing.
	return proto.CloneOf(snap), nil
}

// Compact drops the entries before index; index becomes the compaction point, whose term
// stays known. raft.ErrCompacted if index is at or before the current compaction point.
// The caller must not compact past what it has applied.
func (s *Store) Compact(index uint64) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketEntries))
		offset, last, err := bounds(b)
		if err != nil {
			return err
		}
		if index <= offset {
			return raft.ErrCompacted
		}
		if index > last {
			return fmt.Errorf("compact to %d: log ends at %d", index, last)
		}
		e, err := getEntry(b, index)
		if err != nil {
			return err
		}
		for i := offset; i < index; i++ {
			if err := b.Delete(key(i)); err != nil {
				return fmt.Errorf("compact entry %d: %w", i, err)
			}
		}
		// The marker keeps only index and term: the payload is in a snapshot now.
		return putEntry(b, marker(index, e.GetTerm()))
	})
	if err != nil {
		return err
	}
	s.logger.Debug("raft log compacted", "first_index", index+1)
	return nil
}

func (s *Store) hardState(tx *bolt.Tx) (*raftpb.HardState, error) {
	v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keyHardState))
	if v == nil {
		return nil, nil
	}
	var hs raftpb.HardState
	if err := unsealProto(v, &hs); err != nil {
		return nil, corruptf("hard state: %w", err)
	}
	return &hs, nil
}

// snapshot returns the stored snapshot, or an empty one, with every field present (the
// shape MemoryStorage hands out).
func (s *Store) snapshot(tx *bolt.Tx) (*raftpb.Snapshot, error) {
	var snap raftpb.Snapshot
	if v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keySnapshot)); v != nil {
		if err := unsealProto(v, &snap); err != nil {
			return nil, corruptf("snapshot: %w", err)
		}
	}
	return raftpb.EnsureSnapshot(&snap), nil
}

// bounds returns the compaction point (the marker's index) and the last index.
func bounds(b *bolt.Bucket) (offset, last uint64, err error) {
	c := b.Cursor()
	k, _ := c.First()
	if k == nil {
		return 0, 0, corruptf("no entries (the compaction marker is missing)")
	}
	if offset, err = decodeKey(k); err != nil {
		return 0, 0, err
	}
	k, _ = c.Last()
	if last, err = decodeKey(k); err != nil {
		return 0, 0, err
	}
	return offset, last, nil
}

func getEntry(b *bolt.Bucket, i uint64) (*raftpb.Entry, error) {
	v := b.Get(key(i))
	if v == nil {
		return nil, corruptf("entry %d missing", i)
	}
	return decodeEntry(i, v)
}

func putEntry(b *bolt.Bucket, e *raftpb.Entry) error {
	if err := putProto(b, key(e.GetIndex()), e); err != nil {
		return fmt.Errorf("write entry %d: %w", e.GetIndex(), err)
	}
	return nil
}

func putProto(b *bolt.Bucket, k []byte, m proto.Message) error {
	v, err := sealProto(m)
	if err != nil {
		return err
	}
	return b.Put(k, v)
}

func marker(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{Index: new(index), Term: new(term)}
}

func key(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }
