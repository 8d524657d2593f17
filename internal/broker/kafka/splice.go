package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// spliceMin is the smallest record set a Fetch response writes from its own
// slice instead of copying it into the encode buffer: below it the copy is
// cheaper than an extra write.
const spliceMin = 16 << 10

// sentinelSize is the length of the placeholder a spliced record set is
// encoded as: 12 random bytes of the server and a 4-byte index, which no
// other part of a response can contain by chance or by a client's choosing.
const sentinelSize = 16

// encodePieces frames the response of it as the slices to write in order.
// A Fetch response's large record sets are not copied: the response is
// encoded with a placeholder in each, and the pieces are the encoded bytes
// around the placeholders (with the real lengths) and the record sets
// themselves. Anything else, or a Fetch whose placeholders cannot be found
// (a bug; logged), is encoded whole into dst.
func (c *conn) encodePieces(dst []byte, it *inflight) (buf []byte, pieces [][]byte, err error) {
	fr, ok := it.resp.(*kmsg.FetchResponse)
	if !ok || it.key != fr.Key() {
		buf, err = c.encode(dst, it)
		return buf, [][]byte{buf}, err
	}
	var big []*kmsg.FetchResponseTopicPartition
	for ti := range fr.Topics {
		for pi := range fr.Topics[ti].Partitions {
			if p := &fr.Topics[ti].Partitions[pi]; len(p.RecordBatches) >= spliceMin {
				big = append(big, p)
			}
		}
	}
	if len(big) == 0 {
		buf, err = c.encode(dst, it)
		return buf, [][]byte{buf}, err
	}
	records := make([][]byte, len(big))
	for i, p := range big {
		records[i] = p.RecordBatches
		p.RecordBatches = c.s.sentinel(i)
	}
	buf, err = c.encode(dst, it)
	for i, p := range big {
		p.RecordBatches = records[i]
	}
	if err != nil {
		return buf, nil, err
	}
	fr.SetVersion(it.version)
	pieces, err = c.s.splice(buf, records, fr.IsFlexible())
	if err != nil {
		c.s.panics.Add(1) // counted like the other can't-happen failures
		c.log.Error("kafka fetch response not spliceable; writing it copied", "err", err)
		buf, err = c.encode(buf, it)
		return buf, [][]byte{buf}, err
	}
	return buf, pieces, nil
}

// sentinel is the placeholder of the i-th spliced record set.
func (s *Server) sentinel(i int) []byte {
	b := make([]byte, sentinelSize)
	copy(b, s.sentinelKey[:])
	binary.BigEndian.PutUint32(b[len(s.sentinelKey):], uint32(i))
	return b
}

// splice cuts an encoded frame at its placeholders and puts the record sets
// in their place, with their length prefixes (int32 before v12, uvarint of
// length+1 from v12 on) and the frame size fixed.
func (s *Server) splice(frame []byte, records [][]byte, flexible bool) ([][]byte, error) {
	prefixLen := 4
	if flexible {
		prefixLen = 1 // uvarint(sentinelSize+1)
	}
	pieces := make([][]byte, 0, 3*len(records)+1)
	size := 0
	start, from := 0, 8 // a response starts with its size and correlation id
	for i, rec := range records {
		at := bytes.Index(frame[from:], s.sentinel(i))
		if at < 0 {
			return nil, fmt.Errorf("record set %d of %d: placeholder not found", i, len(records))
		}
		at += from
		if at-prefixLen < start {
			return nil, fmt.Errorf("record set %d: placeholder at %d has no length prefix", i, at)
		}
		prefix := frame[at-prefixLen : at]
		var length []byte
		if flexible {
			if prefix[0] != sentinelSize+1 {
				return nil, fmt.Errorf("record set %d: compact length %#x, want %#x", i, prefix[0], sentinelSize+1)
			}
			length = binary.AppendUvarint(nil, uint64(len(rec))+1)
		} else {
			if binary.BigEndian.Uint32(prefix) != sentinelSize {
				return nil, fmt.Errorf("record set %d: length %d, want %d", i, binary.BigEndian.Uint32(prefix), sentinelSize)
			}
			length = binary.BigEndian.AppendUint32(nil, uint32(len(rec)))
		}
		pieces = append(pieces, frame[start:at-prefixLen], length, rec)
		size += at - prefixLen - start + len(length) + len(rec)
		start, from = at+sentinelSize, at+sentinelSize
	}
	pieces = append(pieces, frame[start:])
	size += len(frame) - start
	if size-4 > 1<<31-1 {
		return nil, fmt.Errorf("response of %d bytes exceeds the frame limit", size-4)
	}
	binary.BigEndian.PutUint32(frame, uint32(size-4))
	return pieces, nil
}

// writeChunk is the most written under one write deadline: a response must
// make at least this much progress per write timeout, so a peer that reads
// one byte now and then cannot hold a large response (and its budget) for
// long.
const writeChunk = 256 << 10

// deadlineWriter writes to a connection in chunks, each under a fresh write
// deadline, so the write timeout bounds a stall, not a whole response.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), writeChunk)
		if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return written, err
		}
		m, err := w.nc.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

var _ io.Writer = (*deadlineWriter)(nil)
