package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// parseStat returns utime and stime (fields 14 and 15, in clock ticks) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may itself hold spaces and parentheses, so the fields are counted from
// the LAST ')'.
func parseStat(b []byte) (utime, stime uint64, err error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, 0, fmt.Errorf("parse /proc stat: no ')' after the command name in %q", b)
	}
	// After ')': field 3 (state) is index 0, so field n is index n-3.
	f := bytes.Fields(b[end+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("parse /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	if utime, err = strconv.ParseUint(string(f[14-3]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse /proc stat utime: %w", err)
	}
	if stime, err = strconv.ParseUint(string(f[15-3]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse /proc stat stime: %w", err)
	}
	return utime, stime, nil
}

// procCPU returns the CPU time (user + system) process pid has used.
func procCPU(pid int, hz int64) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	u, s, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return ticks(u+s, hz), nil
}

func ticks(n uint64, hz int64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(hz)
}

// selfCPU returns this process's CPU time (user + system): the producer's.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// atClkTck is the auxiliary vector key of sysconf(_SC_CLK_TCK).
const atClkTck = 17

// clockTicks returns the kernel's clock ticks per second of /proc's CPU
// times (what sysconf(_SC_CLK_TCK) answers), read from the auxiliary
// vector the kernel gave this process, since Go has no sysconf without cgo.
// If that fails it assumes 100 Hz (USER_HZ on every common Linux platform)
// and says so.
func clockTicks() (hz int64, note string) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		if hz, ok := auxvValue(b, atClkTck); ok && hz > 0 {
			return int64(hz), ""
		}
	}
	return 100, "assumed 100 clock ticks/s (could not read AT_CLKTCK)"
}

// auxvValue finds key in an auxiliary vector: pairs of native words.
func auxvValue(b []byte, key uint64) (uint64, bool) {
	word := int(unsafe.Sizeof(uintptr(0)))
	for i := 0; i+2*word <= len(b); i += 2 * word {
		var k, v uint64
		if word == 8 {
			k, v = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+word:])
		} else {
			k, v = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+word:]))
		}
		if k == key {
			return v, true
		}
		if k == 0 { // AT_NULL ends the vector
			break
		}
	}
	return 0, false
}
