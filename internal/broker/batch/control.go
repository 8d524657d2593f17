package batch

import "encoding/binary"

// SetProducer sets the producer id, epoch and base sequence of batch b and
// its transactional and control attribute bits, then recomputes the CRC
// (all of them lie inside it). The broker uses it for the transaction
// markers it writes itself; producers' batches are never changed this way.
func SetProducer(b []byte, producerID int64, epoch int16, baseSequence int32, transactional, control bool) {
	be := binary.BigEndian
	be.PutUint64(b[offProducerID:], uint64(producerID))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], uint32(baseSequence))
	attrs := be.Uint16(b[offAttributes:]) &^ (attrTransactional | attrControl)
	if transactional {
		attrs |= attrTransactional
	}
	if control {
		attrs |= attrControl
	}
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint32(b[offCRC:], crc32c(b[offAttributes:]))
}
