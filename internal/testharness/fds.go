package testharness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OpenFDs counts this process's open file descriptors whose target lies
// under dir (other tests' files do not disturb it), and all of them. It
// reads /proc/self/fd and skips the test where that cannot be listed.
func OpenFDs(t testing.TB, dir string) (under, all int) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list /proc/self/fd: %v", err)
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed meanwhile, or the directory listing itself
		}
		all++
		if strings.HasPrefix(target, dir+string(filepath.Separator)) {
			under++
		}
	}
	return under, all
}
