//go:build !linux

package workload

import "syscall"

// childProcAttr keeps the defaults outside Linux: there is no parent-death
// signal.
func childProcAttr() *syscall.SysProcAttr { return nil }
