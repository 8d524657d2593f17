package nodes

import "syscall"

// childProcAttr puts each node in its own process group, so a Ctrl-C in the
// terminal reaches only the benchmark, which then stops the nodes in order;
// and asks the kernel to kill the node if the benchmark itself dies without
// cleaning up (kill -9, a crash). The kernel ties that signal to the OS
// thread that started the child; Go only retires a thread when a goroutine
// locked to it exits, which this program never does.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
