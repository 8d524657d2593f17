package workload

import "syscall"

// childProcAttr asks the kernel to kill a driver if the benchmark dies
// without stopping it (kill -9, a crash). The signal is tied to the OS
// thread that started the child; Go retires a thread only when a goroutine
// locked to it exits, which the benchmarks never do.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
