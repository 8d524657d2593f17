package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk header, as far as checkHighWaterMark needs it: each of the
// first two pages holds a 16-byte page header and then a meta record
// (magic, version, page size, flags, root bucket, freelist page, high water
// mark, txid, checksum), little-endian on the platforms we build for.
const (
	boltMagic       = 0xED0CDAED
	boltPageHeader  = 16
	boltMetaSumSpan = 56 // bytes of the meta record covered by its checksum
)

// checkHighWaterMark refuses a file whose valid meta pages claim more pages
// than the file holds (a truncated copy, a cut-short write). bbolt would map
// it and fault reading past the end, in a goroutine of its own that no
// recover can reach; this check keeps that a clear error.
func checkHighWaterMark(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a new store
	}
	if err != nil {
		return fmt.Errorf("open raft store %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open raft store %s: %w", path, err)
	}
	size := st.Size()
	for _, off := range []int64{0, -1} { // page 0, then page 1 at the first meta's page size
		if off < 0 {
			ps, ok := metaPageSize(f)
			if !ok {
				return nil // bbolt reports the damaged first meta page itself
			}
			off = ps
		}
		var b [boltPageHeader + boltMetaSumSpan + 8]byte
		if _, err := f.ReadAt(b[:], off); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // too short for bbolt to open at all; it says so
			}
			return fmt.Errorf("open raft store %s: %w", path, err)
		}
		m := b[boltPageHeader:]
		if binary.LittleEndian.Uint32(m[0:]) != boltMagic {
			continue
		}
		h := fnv.New64a()
		_, _ = h.Write(m[:boltMetaSumSpan])
		if h.Sum64() != binary.LittleEndian.Uint64(m[boltMetaSumSpan:]) {
			continue // bbolt ignores a meta page with a bad checksum
		}
		pageSize := int64(binary.LittleEndian.Uint32(m[8:]))
		hwm := int64(binary.LittleEndian.Uint64(m[40:]))
		if pageSize <= 0 || hwm < 0 || hwm > size/pageSize {
			return fmt.Errorf("open raft store %s: %w: the file is %d bytes but its meta page counts %d pages of %d bytes (truncated?)",
				path, ErrCorrupt, size, hwm, pageSize)
		}
	}
	return nil
}

// metaPageSize reads the page size from the first meta page when it is valid.
func metaPageSize(f *os.File) (int64, bool) {
	var b [boltPageHeader + 12]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return 0, false
	}
	m := b[boltPageHeader:]
	if binary.LittleEndian.Uint32(m[0:]) != boltMagic {
		return 0, false
	}
	ps := int64(binary.LittleEndian.Uint32(m[8:]))
	return ps, ps >= 512 && ps <= 1<<20
}
