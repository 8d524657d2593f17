package broker

import (
	"slices"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

// FsyncLatency is how long this node's recent fsync passes took, pooled
// over all its partition logs: a slow disk slows every log on it, and
// pooling lets many idle logs with one slow pass each show it too.
type FsyncLatency struct {
	// Window is how far back "recent" reaches (partlog.FsyncWindow); each
	// log also keeps only its last 5 passes.
	Window time.Duration
	// Passes is how many recent passes there are; Median and Max are over
	// them, 0 when there are none. The median is the lower middle, so one
	// slow pass among fast ones does not raise it.
	Passes int
	Median time.Duration
	Max    time.Duration
	// RaftPasses, RaftMedian and RaftMax are the same for the raft
	// store's writes (each one fsynced), kept apart: they are few and
	// small, and a partition log's pass carries produce data.
	RaftPasses int
	RaftMedian time.Duration
	RaftMax    time.Duration
}

// FsyncLatency reports the node's recent fsync passes. It copies at most
// 5 durations per partition and takes no lock on the append path.
func (n *Node) FsyncLatency() FsyncLatency {
	out := FsyncLatency{Window: partlog.FsyncWindow}
	raft := n.raftSaves.Stats(time.Now())
	out.RaftPasses, out.RaftMedian, out.RaftMax = raft.Recent, raft.Median, raft.Max
	if n.replicas == nil {
		return out
	}
	var pool []time.Duration
	for _, p := range n.replicas.All() {
		pool = p.AppendRecentFsyncs(pool)
	}
	if len(pool) == 0 {
		return out
	}
	slices.Sort(pool)
	out.Passes, out.Median, out.Max = len(pool), partlog.Median(pool), pool[len(pool)-1]
	return out
}
