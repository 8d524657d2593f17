// Package raftstore is durable storage for an etcd raft node (go.etcd.io/raft/v3): a
// raft.Storage kept in one bbolt file, where every write is an fsynced bbolt commit.
//
// Layout of the file:
//
//	bucket "meta":    format (uint64), hard_state (raftpb.HardState), snapshot (raftpb.Snapshot),
//	                  node_id (uint64), applied (uint64).
//	bucket "entries": key = 8-byte big-endian index (so cursors walk the log in order),
//	                  value = raftpb.Entry.
//
// Every value is a 4-byte big-endian CRC-32C of the payload followed by the payload: the
// protobuf encoding of the raftpb type, or 8 big-endian bytes for an integer. bbolt
// checksums only its meta pages, so without this a flipped bit in an entry would be
// replayed into the state machine unnoticed.
//
// Like raft.MemoryStorage, the entries bucket always holds a marker entry at the first key:
// the index and term of the last compacted entry (index 0, term 0 in a fresh store). Real
// entries follow it contiguously, so FirstIndex is that key + 1 and LastIndex is the last key.
// Nothing is cached in memory: every call reads the file inside one bbolt transaction, so
// what raft sees is always exactly what is on disk.
package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// formatVersion is written into every new file so that a future layout change can be
// detected instead of misread.
const formatVersion = 1

// lockTimeout bounds how long Open waits for the file lock held by another process. A short
// wait covers a previous process that is still exiting; longer would only hide a real clash.
const lockTimeout = time.Second

// Bucket and key names; constants so that no package-level byte slice can be modified.
const (
	bucketMeta    = "meta"
	bucketEntries = "entries"

	keyFormat    = "format"
	keyHardState = "hard_state"
	keySnapshot  = "snapshot"
	keyNodeID    = "node_id"
	keyApplied   = "applied"
)

// ErrInUse is returned by Open when another process (or another Store in this process)
// holds the file.
var ErrInUse = errors.New("in use by another process")

// ErrCorrupt is wrapped by every error caused by unreadable or inconsistent data in the file.
var ErrCorrupt = errors.New("corrupt data")

// ErrNodeIDMismatch is returned by SetNodeID when the file already belongs to another node.
var ErrNodeIDMismatch = errors.New("belongs to another node")

// Store is a raft.Storage backed by one bbolt file. Writes are fsynced (bbolt commit).
// All methods are safe for concurrent use: raft's node goroutine reads while the
// application's Ready loop writes.
type Store struct {
	path   string
	db     *bolt.DB
	logger *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

var _ raft.Storage = (*Store)(nil)

// Open opens (creating if needed) the raft store at path, checks the whole file and every
// stored record, and returns an error naming the file if anything is unreadable. A file
// held by another process is reported as ErrInUse after a short wait.
func Open(path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := checkHighWaterMark(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, db: db, logger: logger.With("raft_store", path)}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	st, err := s.load()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.logger.Info("raft store opened",
		"first_index", st.first, "last_index", st.last,
		"snapshot_index", st.snapIndex, "term", st.hs.GetTerm(), "commit", st.hs.GetCommit())
	return s, nil
}

// openBolt opens the bbolt file, turning bbolt's errors and panics on a damaged file into
// errors that name the file.
func openBolt(path string) (db *bolt.DB, err error) {
	// bbolt may panic while loading a damaged freelist; remember the file so that a panic
	// does not leave it open (and locked) behind us.
	var file *os.File
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				_ = file.Close()
			}
			db, err = nil, fmt.Errorf("open raft store %s: %w: bbolt panicked: %v", path, ErrCorrupt, r)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout: lockTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("open raft store %s: %w (file lock not acquired within %s)", path, ErrInUse, lockTimeout)
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrChecksum), errors.Is(err, bolt.ErrVersionMismatch),
		errors.Is(err, bolt.ErrInvalidMapping):
		return nil, fmt.Errorf("open raft store %s: %w: %w", path, ErrCorrupt, err)
	default:
		return nil, fmt.Errorf("open raft store %s: %w", path, err)
	}
}

// init creates the buckets and the initial marker entry in a brand-new file. A file that
// has some of our buckets but not all of them is corrupt, not new.
func (s *Store) init() error {
	var fresh bool
	err := s.view(func(tx *bolt.Tx) error {
		meta, ents := tx.Bucket([]byte(bucketMeta)), tx.Bucket([]byte(bucketEntries))
		switch {
		case meta == nil && ents == nil:
			fresh = true
			// A fresh file must be an empty bbolt database, not somebody else's.
			return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				return corruptf("unexpected bucket %q", name)
			})
		case meta == nil:
			return corruptf("bucket %q missing", bucketMeta)
		case ents == nil:
			return corruptf("bucket %q missing", bucketEntries)
		}
		return nil
	})
	if err != nil || !fresh {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte(bucketMeta))
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", bucketMeta, err)
		}
		if err := meta.Put([]byte(keyFormat), sealU64(formatVersion)); err != nil {
			return fmt.Errorf("write format: %w", err)
		}
		ents, err := tx.CreateBucket([]byte(bucketEntries))
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", bucketEntries, err)
		}
		return putEntry(ents, &raftpb.Entry{Index: new(uint64(0)), Term: new(uint64(0))})
	})
}

// loaded is what Open learns while validating the file.
type loaded struct {
	first, last, snapIndex uint64
	hs                     *raftpb.HardState
}

// load validates the whole file: bbolt's own page check, then every record we wrote.
func (s *Store) load() (loaded, error) {
	var st loaded
	err := s.view(func(tx *bolt.Tx) error {
		var problems []error
		for err := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, err)
			}
		}
		if len(problems) > 0 {
			return corruptf("bbolt check: %w", errors.Join(problems...))
		}

		meta := tx.Bucket([]byte(bucketMeta))
		v := meta.Get([]byte(keyFormat))
		if v == nil {
			return corruptf("format version missing")
		}
		ver, err := decodeU64(keyFormat, v)
		if err != nil {
			return err
		}
		if ver != formatVersion {
			return fmt.Errorf("format version %d not supported (want %d)", ver, formatVersion)
		}
		if st.hs, err = s.hardState(tx); err != nil {
			return err
		}
		snap, err := s.snapshot(tx)
		if err != nil {
			return err
		}
		st.snapIndex = snap.GetMetadata().GetIndex()
		if _, _, err := s.nodeID(tx); err != nil {
			return err
		}
		if _, err := s.applied(tx); err != nil {
			return err
		}

		// Every entry must decode, carry the index of its key, and the keys must be
		// contiguous: the read paths rely on all three.
		c := tx.Bucket([]byte(bucketEntries)).Cursor()
		k, v := c.First()
		if k == nil {
			return corruptf("no entries (the compaction marker is missing)")
		}
		want, err := decodeKey(k)
		if err != nil {
			return err
		}
		st.first = want + 1
		for ; k != nil; k, v = c.Next() {
			idx, err := decodeKey(k)
			if err != nil {
				return err
			}
			if idx != want {
				return corruptf("entry %d missing (next stored entry is %d)", want, idx)
			}
			if v == nil {
				return corruptf("entry %d is a bucket", idx)
			}
			if _, err := decodeEntry(idx, v); err != nil {
				return err
			}
			st.last = idx
			want++
		}
		return nil
	})
	return st, err
}

// Close closes the file. Further calls return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close raft store %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// NodeID returns the raft node id recorded by SetNodeID; ok is false if none was recorded.
func (s *Store) NodeID() (id uint64, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		id, ok, err = s.nodeID(tx)
		return err
	})
	return id, ok, err
}

// SetNodeID records which raft node owns this file, so that starting the wrong node on
// it can be refused. Setting the id already recorded is a no-op; a different one is
// ErrNodeIDMismatch.
func (s *Store) SetNodeID(id uint64) error {
	if id == 0 {
		return fmt.Errorf("raft store %s: node id 0 is not a valid raft id", s.path)
	}
	return s.update(func(tx *bolt.Tx) error {
		cur, ok, err := s.nodeID(tx)
		if err != nil {
			return err
		}
		if ok && cur != id {
			return fmt.Errorf("set node id %d: %w (node %d)", id, ErrNodeIDMismatch, cur)
		}
		if ok {
			return nil
		}
		if err := tx.Bucket([]byte(bucketMeta)).Put([]byte(keyNodeID), sealU64(id)); err != nil {
			return fmt.Errorf("write node id: %w", err)
		}
		return nil
	})
}

// Applied returns the applied index recorded by SetApplied (0 if none).
func (s *Store) Applied() (uint64, error) {
	var a uint64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		a, err = s.applied(tx)
		return err
	})
	return a, err
}

// SetApplied records the index of the last entry applied to the state machine, for state
// machines whose effects outlive a restart: pass it back as raft.Config.Applied so that no
// entry is applied twice. The index never moves backwards; a lower value is an error.
func (s *Store) SetApplied(index uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		cur, err := s.applied(tx)
		if err != nil {
			return err
		}
		if index < cur {
			return fmt.Errorf("set applied index %d: below the recorded %d", index, cur)
		}
		if err := tx.Bucket([]byte(bucketMeta)).Put([]byte(keyApplied), sealU64(index)); err != nil {
			return fmt.Errorf("write applied index: %w", err)
		}
		return nil
	})
}

func (s *Store) nodeID(tx *bolt.Tx) (uint64, bool, error) {
	v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keyNodeID))
	if v == nil {
		return 0, false, nil
	}
	id, err := decodeU64(keyNodeID, v)
	return id, err == nil, err
}

func (s *Store) applied(tx *bolt.Tx) (uint64, error) {
	v := tx.Bucket([]byte(bucketMeta)).Get([]byte(keyApplied))
	if v == nil {
		return 0, nil
	}
	return decodeU64(keyApplied, v)
}

// view runs fn in a read transaction. Panics and memory faults from bbolt walking a
// damaged file become errors naming the file: corrupt data must never crash the node.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	defer s.recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.wrapTx(s.db.View(fn))
}

// update runs fn in a write transaction; it returns after the fsynced commit.
func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	defer s.recoverCorrupt(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return s.wrapTx(s.db.Update(fn))
}

func (s *Store) recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("raft store %s: %w: panic while reading the file: %v", s.path, ErrCorrupt, r)
	}
}

// wrapTx names the file in every error from a transaction, except raft's sentinel errors:
// raft compares those with ==, so they must reach it unwrapped.
func (s *Store) wrapTx(err error) error {
	switch err {
	case nil, raft.ErrCompacted, raft.ErrUnavailable, raft.ErrSnapOutOfDate:
		return err
	}
	return fmt.Errorf("raft store %s: %w", s.path, err)
}

// corruptf describes damaged data; the transaction wrapper adds the file name.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrCorrupt, fmt.Errorf(format, args...))
}

func decodeU64(key string, v []byte) (uint64, error) {
	p, err := unseal(v)
	if err != nil {
		return 0, corruptf("meta %s: %w", key, err)
	}
	if len(p) != 8 {
		return 0, corruptf("meta %s: %d bytes, want 8", key, len(p))
	}
	return binary.BigEndian.Uint64(p), nil
}

func decodeKey(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, corruptf("entry key %x: %d bytes, want 8", k, len(k))
	}
	return binary.BigEndian.Uint64(k), nil
}

func decodeEntry(idx uint64, v []byte) (*raftpb.Entry, error) {
	var e raftpb.Entry
	if err := unsealProto(v, &e); err != nil {
		return nil, corruptf("entry %d: %w", idx, err)
	}
	if e.GetIndex() != idx {
		return nil, corruptf("entry stored under index %d says index %d", idx, e.GetIndex())
	}
	return &e, nil
}

// seal prefixes payload with its CRC-32C.
func seal(payload []byte) []byte {
	out := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(out, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	return append(out, payload...)
}

// unseal checks the CRC-32C written by seal and returns the payload.
func unseal(v []byte) ([]byte, error) {
	if len(v) < 4 {
		return nil, fmt.Errorf("record of %d bytes is too short for its checksum", len(v))
	}
	want := binary.BigEndian.Uint32(v)
	if got := crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)); got != want {
		return nil, fmt.Errorf("checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	return v[4:], nil
}

func sealProto(m proto.Message) ([]byte, error) {
	p, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", m, err)
	}
	return seal(p), nil
}

func unsealProto(v []byte, m proto.Message) error {
	p, err := unseal(v)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(p, m); err != nil {
		return fmt.Errorf("decode %T: %w", m, err)
	}
	return nil
}

func sealU64(v uint64) []byte { return seal(binary.BigEndian.AppendUint64(nil, v)) }
