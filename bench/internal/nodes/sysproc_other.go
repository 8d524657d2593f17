//go:build !linux

package nodes

import "syscall"

// childProcAttr keeps the defaults outside Linux: there is no parent-death
// signal, and a Ctrl-C in the terminal also reaches the nodes, which then
// shut down on their own while the benchmark stops them.
func childProcAttr() *syscall.SysProcAttr { return nil }
