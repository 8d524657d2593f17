//go:build chronik_faults

package broker

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"
)

// Faults are what a binary built with the chronik_faults tag injects at run
// time, for fault-injection suites (bench/chaos); the admin API sets them
// (PUT /v1/debug/faults). Production builds have none of this.
type Faults struct {
	// FsyncDelay delays every fsync pass of every partition log and every
	// write of the raft store (one fsynced commit), like a slow disk; 0
	// injects nothing.
	FsyncDelay time.Duration
	// FsyncError, when not 0, fails those fsyncs and writes with it, like a
	// failing disk: the node stops on the first (storage_failure.go). Only
	// syscall.EIO and syscall.ENOSPC are accepted.
	FsyncError syscall.Errno
}

// MaxFsyncDelay bounds Faults.FsyncDelay: longer is a hung disk, which
// this fault does not play (a node closing waits out the delay).
const MaxFsyncDelay = time.Minute

// faults is the node's injected faults, read on every fsync.
type faults struct {
	fsyncDelay atomic.Int64   // nanoseconds
	fsyncError atomic.Uintptr // a syscall.Errno, 0 for none
}

func (f *faults) beforeFsync() func() error { return f.fsync }
func (f *faults) beforeSave() func() error  { return f.fsync }

// fsync is the injected fault itself: the fsync that follows waits, or
// fails.
func (f *faults) fsync() error {
	if d := time.Duration(f.fsyncDelay.Load()); d > 0 {
		time.Sleep(d)
	}
	if e := syscall.Errno(f.fsyncError.Load()); e != 0 {
		return fmt.Errorf("injected fault (chronik_faults): %w", e)
	}
	return nil
}

func (*faults) announce(logger *slog.Logger) {
	logger.Warn("this chronik is built with the chronik_faults tag: PUT /v1/debug/faults on the admin listener injects faults; never run it in production")
}

// Faults returns what is injected now.
func (n *Node) Faults() Faults {
	return Faults{
		FsyncDelay: time.Duration(n.faults.fsyncDelay.Load()),
		FsyncError: syscall.Errno(n.faults.fsyncError.Load()),
	}
}

// SetFaults replaces what is injected; the zero Faults clears everything.
func (n *Node) SetFaults(f Faults) error {
	if f.FsyncDelay < 0 || f.FsyncDelay > MaxFsyncDelay {
		return fmt.Errorf("fsync delay %s: want 0 to %s", f.FsyncDelay, MaxFsyncDelay)
	}
	switch f.FsyncError {
	case 0, syscall.EIO, syscall.ENOSPC:
	default:
		return fmt.Errorf("fsync error %d (%v): want EIO or ENOSPC", uintptr(f.FsyncError), f.FsyncError)
	}
	n.faults.fsyncDelay.Store(int64(f.FsyncDelay))
	n.faults.fsyncError.Store(uintptr(f.FsyncError))
	n.logger.Warn("injected faults changed", "fsync_delay", f.FsyncDelay.String(), "fsync_error", FsyncErrorName(f.FsyncError))
	return nil
}

// FsyncErrorName is the name of an errno Faults accepts as the admin API
// spells it ("" for none).
func FsyncErrorName(e syscall.Errno) string {
	switch e {
	case 0:
		return ""
	case syscall.EIO:
		return "EIO"
	case syscall.ENOSPC:
		return "ENOSPC"
	}
	return e.Error()
}

// ParseFsyncError reads an errno name as the admin API spells it: "",
// "EIO" or "ENOSPC".
func ParseFsyncError(s string) (syscall.Errno, error) {
	switch s {
	case "":
		return 0, nil
	case "EIO":
		return syscall.EIO, nil
	case "ENOSPC":
		return syscall.ENOSPC, nil
	}
	return 0, fmt.Errorf("fsync error %q: want \"EIO\", \"ENOSPC\" or \"\"", s)
}
