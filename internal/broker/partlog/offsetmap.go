package partlog

import (
	"crypto/sha256"
	"encoding/binary"
)

// OffsetMap maps key hashes to the last offset seen for the key, in a
// fixed memory budget. It is an open-addressing table (linear probing) of
// 16-byte key hashes (the first half of SHA-256: keys come from clients, so
// the hash must not be one they can collide at will) and offsets. It starts
// small and doubles up to the budget, so a cleaner that is idle or cleans
// small logs does not hold the whole budget. It is not safe for concurrent
// use: one cleaner owns it.
type OffsetMap struct {
	maxSlots   int // power of two: the budget
	startSlots int
	slots      []mapSlot
	n          int
	latest     int64 // largest offset put since Clear; -1 when none
}

// mapSlot is one entry: 24 bytes. off is the offset plus one, so that the
// zero value is an empty slot and a fresh table needs no initialisation.
type mapSlot struct {
	h   [16]byte
	off int64
}

const (
	offsetMapSlotBytes = 24
	offsetMapMinSlots  = 1024
	// A table below its budget grows at 3/4 full (probes stay short); at
	// the budget it takes entries up to 9/10, as Kafka's SkimpyOffsetMap.
	offsetMapGrowNum, offsetMapGrowDen = 3, 4
	offsetMapFullNum, offsetMapFullDen = 9, 10
)

// NewOffsetMap returns a map that uses at most maxBytes (at least two slots).
func NewOffsetMap(maxBytes int64) *OffsetMap {
	slots := 2
	for int64(slots)*2*offsetMapSlotBytes <= maxBytes && slots < 1<<40 {
		slots *= 2
	}
	m := &OffsetMap{maxSlots: slots, startSlots: min(slots, offsetMapMinSlots)}
	m.Clear()
	return m
}

// Clear empties the map and gives back the memory grown into.
func (m *OffsetMap) Clear() {
	m.slots = make([]mapSlot, m.startSlots)
	m.n = 0
	m.latest = -1
}

// Len is the number of keys held.
func (m *OffsetMap) Len() int { return m.n }

// MaxEntries is how many keys the map holds once grown to its budget.
func (m *OffsetMap) MaxEntries() int {
	return max(1, m.maxSlots*offsetMapFullNum/offsetMapFullDen)
}

// Room is how many more new keys fit.
func (m *OffsetMap) Room() int { return m.MaxEntries() - m.n }

// Full reports that no new key fits.
func (m *OffsetMap) Full() bool { return m.Room() <= 0 }

// Bytes is the memory the table holds now.
func (m *OffsetMap) Bytes() int64 { return int64(len(m.slots)) * offsetMapSlotBytes }

// LatestOffset is the largest offset put since Clear, -1 when none.
func (m *OffsetMap) LatestOffset() int64 { return m.latest }

func hashKey(key []byte) (h [16]byte) {
	sum := sha256.Sum256(key)
	copy(h[:], sum[:16])
	return h
}

// find returns the slot holding h or the empty slot where it would go.
func (m *OffsetMap) find(h [16]byte) int {
	mask := len(m.slots) - 1
	i := int(binary.LittleEndian.Uint64(h[:8])) & mask
	for {
		s := &m.slots[i]
		if s.off == 0 || s.h == h {
			return i
		}
		i = (i + 1) & mask
	}
}

// Put records offset as the latest for key. It returns false, changing
// nothing, when key is new and the map is full.
func (m *OffsetMap) Put(key []byte, offset int64) bool {
	h := hashKey(key)
	i := m.find(h)
	if m.slots[i].off == 0 {
		if m.Full() {
			return false
		}
		if len(m.slots) < m.maxSlots && (m.n+1)*offsetMapGrowDen > len(m.slots)*offsetMapGrowNum {
			m.grow()
			i = m.find(h)
		}
		m.n++
	}
	m.slots[i] = mapSlot{h: h, off: offset + 1}
	m.latest = max(m.latest, offset)
	return true
}

// Get returns the latest offset put for key.
func (m *OffsetMap) Get(key []byte) (int64, bool) {
	s := m.slots[m.find(hashKey(key))]
	return s.off - 1, s.off != 0
}

func (m *OffsetMap) grow() {
	old := m.slots
	m.slots = make([]mapSlot, len(old)*2)
	for _, s := range old {
		if s.off != 0 {
			m.slots[m.find(s.h)] = s
		}
	}
}
