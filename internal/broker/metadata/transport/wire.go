package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Wire format of a cluster connection (protocol version 2). With cluster TLS
// configured everything below runs inside a mutual TLS 1.3 session. The
// dialer opens with a handshake:
//
//	magic "CHRONIKR" | version u16 | purpose u8 | from u64 | to u64 |
//	cluster id length u16 | cluster id | nonce [32]
//
// and the acceptor answers with
//
//	status u8 | body length u16 | body
//
// status 0 accepts (empty body), 1 rejects (the body is the reason), so that
// a misconfigured dialer learns why it was refused instead of discovering a
// dead socket on its next write. Status 2 is a challenge, sent only by an
// acceptor with a cluster secret: its body is the acceptor's nonce [32] and
// its HMAC [32] (see Security); the dialer checks the HMAC, answers with its
// own HMAC [32], and the acceptor then answers 0 or 1 as above.
//
// After an accepted handshake, a raft connection (purpose 0) carries frames
// (u32 big-endian length + protobuf raftpb.Message) from the dialer, and the
// acceptor never writes again. Other purposes belong to their ConnHandler.
// All integers are big-endian.
const (
	handshakeMagic  = "CHRONIKR"
	protocolVersion = 2

	// handshakePrefixLen covers magic and version, read first so that a later
	// protocol version may change everything after them.
	handshakePrefixLen = len(handshakeMagic) + 2
	// handshakeBodyLen covers purpose, from, to and the cluster id length.
	handshakeBodyLen = 1 + 8 + 8 + 2
	maxClusterIDLen  = 255
	maxReasonLen     = 255

	frameHeaderLen = 4

	statusAccepted  byte = 0
	statusRejected  byte = 1
	statusChallenge byte = 2
)

// wireError is a constant error type, which keeps sentinel errors out of
// package-level variables.
type wireError string

func (e wireError) Error() string { return string(e) }

const (
	errBadMagic       wireError = "bad handshake magic"
	errFrameSize      wireError = "invalid frame length"
	errMessageTooBig  wireError = "message exceeds max message bytes"
	errUnexpectedData wireError = "peer sent unexpected data on an outbound connection"
)

// handshake opens every connection, sent by the dialer.
type handshake struct {
	version   uint16
	purpose   Purpose
	from      uint64
	to        uint64
	clusterID string
	nonce     [nonceLen]byte // the dialer's, for the secret challenge
}

// appendHandshake encodes h after b.
func appendHandshake(b []byte, h handshake) []byte {
	b = append(b, handshakeMagic...)
	b = binary.BigEndian.AppendUint16(b, h.version)
	b = append(b, byte(h.purpose))
	b = binary.BigEndian.AppendUint64(b, h.from)
	b = binary.BigEndian.AppendUint64(b, h.to)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.clusterID)))
	b = append(b, h.clusterID...)
	return append(b, h.nonce[:]...)
}

// versionError reports a well-formed handshake of a protocol version this
// binary does not speak; the acceptor answers it with a rejection.
type versionError uint16

func (e versionError) Error() string {
	return fmt.Sprintf("unsupported protocol version %d (this node speaks %d)", uint16(e), protocolVersion)
}

// readHandshake reads one handshake. It returns errBadMagic for anything that
// is not a chronik cluster connection, and a versionError for a version it
// cannot parse further.
func readHandshake(r io.Reader) (handshake, error) {
	var prefix [handshakePrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return handshake{}, fmt.Errorf("read handshake: %w", err)
	}
	if string(prefix[:len(handshakeMagic)]) != handshakeMagic {
		return handshake{}, errBadMagic
	}
	h := handshake{version: binary.BigEndian.Uint16(prefix[len(handshakeMagic):])}
	if h.version != protocolVersion {
		return h, versionError(h.version)
	}
	var body [handshakeBodyLen]byte
	if _, err := io.ReadFull(r, body[:]); err != nil {
		return h, fmt.Errorf("read handshake: %w", err)
	}
	h.purpose = Purpose(body[0])
	h.from = binary.BigEndian.Uint64(body[1:9])
	h.to = binary.BigEndian.Uint64(body[9:17])
	n := int(binary.BigEndian.Uint16(body[17:19]))
	if n > maxClusterIDLen {
		return h, fmt.Errorf("read handshake: cluster id of %d bytes exceeds %d", n, maxClusterIDLen)
	}
	cid := make([]byte, n)
	if _, err := io.ReadFull(r, cid); err != nil {
		return h, fmt.Errorf("read handshake cluster id: %w", err)
	}
	h.clusterID = string(cid)
	if _, err := io.ReadFull(r, h.nonce[:]); err != nil {
		return h, fmt.Errorf("read handshake nonce: %w", err)
	}
	return h, nil
}

// appendHandshakeResponse encodes the acceptor's answer after b.
func appendHandshakeResponse(b []byte, status byte, reason string) []byte {
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	b = append(b, status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	return append(b, reason...)
}

// readHandshakeResponse returns nil when the acceptor took the connection, and
// an error carrying its reason when it refused or challenged.
func readHandshakeResponse(r io.Reader) error {
	status, body, err := readResponse(r)
	if err != nil {
		return err
	}
	return responseError(status, body)
}

// responseError turns a final answer into nil or an error.
func responseError(status byte, body []byte) error {
	switch status {
	case statusAccepted:
		return nil
	case statusRejected:
		return fmt.Errorf("handshake refused: %s", body)
	case statusChallenge:
		return errors.New("handshake refused: the peer requires a cluster secret (--cluster-secret-file) and this node has none")
	default:
		return fmt.Errorf("read handshake response: unknown status %d", status)
	}
}

// readResponse reads one acceptor answer: its status and body.
func readResponse(r io.Reader) (byte, []byte, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("read handshake response: %w", err)
	}
	n := int(binary.BigEndian.Uint16(hdr[1:]))
	if n > maxReasonLen {
		return 0, nil, fmt.Errorf("read handshake response: body of %d bytes exceeds %d", n, maxReasonLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, fmt.Errorf("read handshake response: %w", err)
	}
	return hdr[0], body, nil
}

// appendChallenge encodes the acceptor's challenge after b.
func appendChallenge(b []byte, nonce, mac []byte) []byte {
	b = append(b, statusChallenge)
	b = binary.BigEndian.AppendUint16(b, uint16(len(nonce)+len(mac)))
	b = append(b, nonce...)
	return append(b, mac...)
}

// appendFrame encodes m as one length-prefixed frame after b. It refuses
// messages larger than maxBytes so that the receiver never has to.
func appendFrame(b []byte, m *raftpb.Message, maxBytes int) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], fmt.Errorf("marshal %s: %w", m.GetType(), err)
	}
	n := len(b) - start - frameHeaderLen
	if n > maxBytes {
		return b[:start], fmt.Errorf("%s of %d bytes: %w (%d)", m.GetType(), n, errMessageTooBig, maxBytes)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// readChunk bounds how much memory a frame may claim before its bytes have
// actually arrived: a peer announcing 60 MiB and sending 10 costs 1 MiB.
const readChunk = 1 << 20

// readFrame reads one frame and decodes it. scratch is reused for payloads
// that fit in it (proto.Unmarshal copies bytes fields, so reuse is safe); the
// possibly grown scratch is returned for the next call.
func readFrame(br *bufio.Reader, maxBytes int, scratch []byte) (*raftpb.Message, []byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, scratch, fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || uint64(n) > uint64(maxBytes) {
		return nil, scratch, fmt.Errorf("frame of %d bytes (max %d): %w", n, maxBytes, errFrameSize)
	}
	payload, err := readPayload(br, int(n), scratch)
	if err != nil {
		return nil, scratch, fmt.Errorf("read frame of %d bytes: %w", n, err)
	}
	if cap(payload) <= 64<<10 {
		scratch = payload
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, scratch, fmt.Errorf("unmarshal frame of %d bytes: %w", n, err)
	}
	return m, scratch, nil
}

// readPayload reads exactly n bytes, growing the buffer only as data arrives
// once n exceeds readChunk.
func readPayload(r io.Reader, n int, scratch []byte) ([]byte, error) {
	if n <= cap(scratch) {
		b := scratch[:n]
		_, err := io.ReadFull(r, b)
		return b, err
	}
	if n <= readChunk {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, readChunk)
	for len(b) < n {
		step := min(n-len(b), readChunk)
		if cap(b)-len(b) < step {
			// Double like append would, but never past n.
			grown := make([]byte, len(b), min(n, max(2*cap(b), len(b)+step)))
			copy(grown, b)
			b = grown
		}
		if _, err := io.ReadFull(r, b[len(b):len(b)+step]); err != nil {
			return nil, err
		}
		b = b[:len(b)+step]
	}
	return b, nil
}
