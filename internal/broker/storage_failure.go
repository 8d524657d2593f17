package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronik-dev/chronik/internal/broker/metadata/raftnode"
)

// A node stops itself when writing to its data dir fails, as Kafka halts a
// broker whose only log dir went offline: a failed write, fsync or
// checkpoint of a partition log (partlog.Options.OnFailure), a file system
// error creating or opening one (replica.ManagerOptions.OnFailure), or a
// failed write of the raft store (raftnode.ErrStorage). Staying up would
// keep the node the leader of partitions it can no longer write, every
// produce failing with KAFKA_STORAGE_ERROR until someone restarts it; gone,
// its cluster listener refuses redials, the controller fences it and moves
// leadership to the other in-sync replicas, which have every acknowledged
// record (a failed fsync never lets a batch count as durable, so nothing
// was acknowledged that this node alone had).
//
// The stop (halt) writes nothing more to disk: no controlled shutdown
// through raft, no high watermark checkpoint, no final fsync. It closes the
// sockets, stops the loops, and abandons the logs; the next start recovers
// them from what reached the disk.

// StorageError is why a node stopped on its own: writing to its data dir
// failed. Node.Err returns it, and Serve returns it once the node stopped.
type StorageError struct {
	DataDir string
	Err     error
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("storage failure in data dir %s: %v", e.DataDir, e.Err)
}

func (e *StorageError) Unwrap() error { return e.Err }

// storageFailed records the first storage failure, says once what the
// operator has to do, and wakes the watcher that stops the node. It never
// blocks: partition logs call it with their lock held.
func (n *Node) storageFailed(err error) {
	n.stopOnItsOwn(&StorageError{DataDir: n.cfg.DataDir, Err: err}, func() {
		n.logger.Error("storage failure: this node stops now so that the leadership of its partitions moves to "+
			"in-sync replicas on other nodes. Free space on the disk of the data dir (or replace the disk), "+
			"then restart the node: it recovers its logs and catches up from the leaders",
			"data_dir", n.cfg.DataDir, "err", err)
	})
}

// stopOnItsOwn records the first reason the node stops on its own (a
// *StorageError or a *RemovedError), says it once, and wakes the watcher
// that halts the node. It never blocks.
func (n *Node) stopOnItsOwn(cause error, say func()) {
	n.failOnce.Do(func() {
		n.failErr = cause
		say()
		close(n.failed)
	})
}

// Failed is closed at the first storage failure, or when the cluster
// removed this node; the node then stops on its own (Done is closed once it
// has).
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Done is closed once the node has stopped: after Close, or after it
// stopped itself on a storage failure (Err says which).
func (n *Node) Done() <-chan struct{} { return n.stopped }

// Err is why the node stopped on its own: a storage failure (a
// *StorageError) or its removal from the cluster (a *RemovedError); nil
// otherwise.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr // written before failed was closed
	default:
		return nil
	}
}

// watchStorage stops the node at the first storage failure, of a partition
// log or of the raft store, unless Close comes first. Start runs it; Close
// waits for it (watchDone).
func (n *Node) watchStorage() {
	defer close(n.watchDone)
	raftDone := n.raft.Done()
	for {
		select {
		case <-n.closing:
			return
		case <-n.failed:
			n.stopOnce.Do(func() {
				n.halt()
				close(n.stopped)
			})
			return
		case <-raftDone:
			raftDone = nil // whatever the cause, it is seen once
			switch err := n.raft.Err(); {
			case errors.Is(err, raftnode.ErrStorage):
				n.storageFailed(err) // the error names the raft store's file
			case errors.Is(err, raftnode.ErrRemoved):
				n.removedFromCluster(err)
			}
			// Any other cause (Close, an entry this binary cannot decode)
			// keeps today's course: raft stopped, the node serves on.
		}
	}
}

// halt stops the node after a storage failure, or its removal from the
// cluster, without writing to disk.
// First it stops the loops that could write and closes the listeners: the
// cluster listener first (with raft), since its refused redials are what
// makes the controller fence this node within a liveness check or two and
// move its leaderships. Then it waits for what it stopped and abandons the
// logs. Any step may hang on a disk that hangs (a handler blocked in a
// write, raft in its fsync); Serve bounds how long it waits (haltWithin),
// and the process exit closes whatever is left.
func (n *Node) halt() {
	n.reconciled.Store(false) // not ready from now on
	n.cancel()
	n.backend.Stop()
	n.groups.Close()
	n.txns.Close()
	if n.admin != nil {
		_ = n.admin.Close()
	}
	// Raft writes nothing on Close (every Save was already fsynced, or it
	// failed); closing its transport is what peers see.
	if err := n.raft.Close(); err != nil {
		n.logger.Warn("stop raft after a storage failure", "err", err)
	}
	stopNow, cancel := context.WithCancel(context.Background())
	cancel() // no grace: in-flight requests fail, none is acknowledged any more
	_ = n.shutdownKafka(stopNow)
	n.wg.Wait()
	n.fetchers.Stop()
	n.replicas.Abandon()
	if n.lock != nil {
		n.lock.Close()
	}
	if re := (*RemovedError)(nil); errors.As(n.failErr, &re) {
		n.logger.Error("stopped after its removal from the cluster", "data_dir", n.cfg.DataDir)
		return
	}
	n.logger.Error("stopped after a storage failure", "data_dir", n.cfg.DataDir)
}
