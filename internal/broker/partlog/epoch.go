package partlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// epochEntry says that leader epoch Epoch wrote its first batch at StartOffset.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is Kafka's leader-epoch cache: ascending epochs with ascending
// start offsets. Followers use it to find where their log diverged from the
// leader's. The Log guards it with its mutex.
type epochCache struct {
	path    string
	entries []epochEntry
}

// The checkpoint is Kafka's text format: a version line, a count line, then
// "epoch startOffset" lines.
const epochCheckpointVersion = 0

func loadEpochCache(path string) (epochCache, error) {
	c := epochCache{path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read leader epoch checkpoint: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return strings.TrimSpace(sc.Text()), true
	}
	v, ok := line()
	if !ok || v != strconv.Itoa(epochCheckpointVersion) {
		return c, fmt.Errorf("leader epoch checkpoint %s: version %q", path, v)
	}
	n, ok := line()
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 0 {
		return c, fmt.Errorf("leader epoch checkpoint %s: count %q", path, n)
	}
	for i := range count {
		l, ok := line()
		fields := strings.Fields(l)
		if !ok || len(fields) != 2 {
			return c, fmt.Errorf("leader epoch checkpoint %s: entry %d: %q", path, i, l)
		}
		e, err1 := strconv.ParseInt(fields[0], 10, 32)
		o, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			return c, fmt.Errorf("leader epoch checkpoint %s: entry %d: %q", path, i, l)
		}
		entry := epochEntry{Epoch: int32(e), StartOffset: o}
		if k := len(c.entries); k > 0 && (entry.Epoch <= c.entries[k-1].Epoch || entry.StartOffset < c.entries[k-1].StartOffset) {
			return c, fmt.Errorf("leader epoch checkpoint %s: entry %d not ascending", path, i)
		}
		c.entries = append(c.entries, entry)
	}
	return c, nil
}

func (c *epochCache) persist() error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n%d\n", epochCheckpointVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	if err := writeFileAtomic(c.path, []byte(b.String())); err != nil {
		return fmt.Errorf("write leader epoch checkpoint: %w", err)
	}
	return nil
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at start if it is newer than every known
// epoch. It reports whether the cache changed; an older epoch is left out
// (the caller logs it) so the cache stays ascending.
func (c *epochCache) assign(epoch int32, start int64) (changed, stale bool) {
	if epoch < 0 {
		return false, false
	}
	if last, ok := c.latest(); ok {
		if epoch == last.Epoch {
			return false, false
		}
		if epoch < last.Epoch {
			return false, true
		}
	}
	c.entries = append(c.entries, epochEntry{Epoch: epoch, StartOffset: start})
	return true, false
}

// truncateFromEnd drops epochs that start at or after end (the log was cut there).
func (c *epochCache) truncateFromEnd(end int64) bool {
	k := len(c.entries)
	for k > 0 && c.entries[k-1].StartOffset >= end {
		k--
	}
	if k == len(c.entries) {
		return false
	}
	c.entries = c.entries[:k:k]
	return true
}

// truncateFromStart forgets epochs wholly below the new log start; the last
// of those still covers the start, so it is kept and moved up to start.
func (c *epochCache) truncateFromStart(start int64) bool {
	k := 0
	for k < len(c.entries) && c.entries[k].StartOffset < start {
		k++
	}
	if k == 0 {
		return false
	}
	kept := c.entries[k-1]
	kept.StartOffset = start
	rest := c.entries[k:]
	// Keep kept only if no entry already starts exactly at start.
	if len(rest) > 0 && rest[0].StartOffset == start {
		c.entries = append([]epochEntry(nil), rest...)
	} else {
		c.entries = append([]epochEntry{kept}, rest...)
	}
	return true
}

// endOffsetFor answers OffsetForLeaderEpoch for a log ending at leo.
func (c *epochCache) endOffsetFor(epoch int32, leo int64) (int32, int64) {
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	// i is the first entry with an epoch above the requested one.
	i := 0
	for i < len(c.entries) && c.entries[i].Epoch <= epoch {
		i++
	}
	if i == len(c.entries) {
		// The requested epoch is the latest known or newer: it still runs.
		return c.entries[i-1].Epoch, leo
	}
	if i == 0 {
		// Older than anything known: it ended where the first known epoch
		// begins, as Kafka answers.
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[i-1].Epoch, c.entries[i].StartOffset
}

func (c *epochCache) clear() bool {
	if len(c.entries) == 0 {
		return false
	}
	c.entries = nil
	return true
}
