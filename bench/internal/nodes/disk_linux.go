//go:build linux

package nodes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ballast is the file FillDisk writes into a node's data directory.
const ballast = "chaos-ballast"

func mountTmpfs(dir string, size int64) error {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		return fmt.Errorf("mount a tmpfs on %s (needs root): %w", dir, err)
	}
	return nil
}

// FillDisk takes all free space of the node's data directory's file system
// (its tmpfs), so the node's next write fails with ENOSPC.
func (c *Cluster) FillDisk(n *Node) error {
	if c.cfg.TmpfsBytes <= 0 {
		return fmt.Errorf("fill the disk of node %d: the cluster was started without tmpfs data directories", n.ID)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.DataDir, &st); err != nil {
		return fmt.Errorf("fill the disk of node %d: %w", n.ID, err)
	}
	f, err := os.OpenFile(filepath.Join(n.DataDir, ballast), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("fill the disk of node %d: %w", n.ID, err)
	}
	defer f.Close()
	// fallocate on tmpfs is all or nothing, and the free count from statfs
	// can be a little more than a file may take: allocate in chunks, halving
	// the chunk at each ENOSPC, until not one page fits.
	off := int64(0)
	for chunk := max(int64(st.Bavail)*st.Bsize, 4096); chunk >= 4096; {
		err := syscall.Fallocate(int(f.Fd()), 0, off, chunk)
		switch {
		case err == nil:
			off += chunk
		case errors.Is(err, syscall.ENOSPC):
			chunk /= 2
		default:
			return fmt.Errorf("fill the disk of node %d: fallocate: %w", n.ID, err)
		}
	}
	return nil
}

// FreeDisk removes what FillDisk wrote.
func (c *Cluster) FreeDisk(n *Node) error {
	if err := os.Remove(filepath.Join(n.DataDir, ballast)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("free the disk of node %d: %w", n.ID, err)
	}
	return nil
}

func unmount(dir string) error { return syscall.Unmount(dir, 0) }
