//go:build !linux

package nodes

import "errors"

var errNoTmpfs = errors.New("tmpfs data directories need Linux")

func mountTmpfs(string, int64) error { return errNoTmpfs }

func unmount(string) error { return errNoTmpfs }

// FillDisk needs Linux.
func (c *Cluster) FillDisk(*Node) error { return errNoTmpfs }

// FreeDisk needs Linux.
func (c *Cluster) FreeDisk(*Node) error { return errNoTmpfs }
