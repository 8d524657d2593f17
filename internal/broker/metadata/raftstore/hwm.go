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

// boltMeta is what checkHighWaterMark reads of one meta page.
type boltMeta struct {
	magicOK, sumOK bool
	pageSize, hwm  int64
}

func readBoltMeta(f *os.File, off int64) (boltMeta, error) {
	var b [boltPageHeader + boltMetaSumSpan + 8]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return boltMeta{}, err
	}
	m := b[boltPageHeader:]
	h := fnv.New64a()
	_, _ = h.Write(m[:boltMetaSumSpan])
	return boltMeta{
		magicOK:  binary.LittleEndian.Uint32(m[0:]) == boltMagic,
		sumOK:    h.Sum64() == binary.LittleEndian.Uint64(m[boltMetaSumSpan:]),
		pageSize: int64(binary.LittleEndian.Uint32(m[8:])),
		hwm:      int64(binary.LittleEndian.Uint64(m[40:])),
	}, nil
}

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
	// Page 0, then page 1 at the page size page 0 names.
	off := int64(0)
	for range 2 {
		m, err := readBoltMeta(f, off)
		if errors.Is(err, io.EOF) {
			return nil // too short for bbolt to open at all; it says so
		}
		if err != nil {
			return fmt.Errorf("open raft store %s: %w", path, err)
		}
		// bbolt ignores a meta page with a bad magic or checksum.
		if m.magicOK && m.sumOK && (m.pageSize <= 0 || m.hwm < 0 || m.hwm > size/m.pageSize) {
			return fmt.Errorf("open raft store %s: %w: the file is %d bytes but its meta page counts %d pages of %d bytes (truncated?)",
				path, ErrCorrupt, size, m.hwm, m.pageSize)
		}
		if off != 0 || !m.magicOK || m.pageSize < 512 || m.pageSize > 1<<20 {
			return nil // no second page to find: bbolt reports the damaged first one itself
		}
		off = m.pageSize
	}
	return nil
}
