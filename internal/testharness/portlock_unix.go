//go:build unix

package testharness

import (
	"os"
	"path/filepath"
	"syscall"
)

// claimPort locks byte port of a file every test binary on this machine
// shares (a POSIX record lock: one file descriptor for all ports, dropped
// by the kernel when this process exits, even after a crash). Test binaries
// run in parallel (go test ./...): without it, a port one binary's node left
// free across a restart could be handed to another binary's node meanwhile,
// and the restart failed with "address already in use". handedOut is held.
func claimPort(port int) bool {
	if handedOut.lockFile == nil {
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "chronik-test-ports.lock"), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return true // no shared file: only this binary's own record keeps ports apart
		}
		handedOut.lockFile = f // open until the process exits: closing it would drop every lock
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: int64(port), Len: 1}
	return syscall.FcntlFlock(handedOut.lockFile.Fd(), syscall.F_SETLK, &lk) == nil
}
