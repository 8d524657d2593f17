package replica

// LogBytes is the size of this replica's log in bytes: with the log's
// offsets it gives the average bytes per offset, from which the bytes a
// follower has yet to copy are estimated.
func (p *Partition) LogBytes() int64 { return p.log.Size() }
