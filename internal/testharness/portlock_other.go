//go:build !unix

package testharness

// claimPort has no cross-process lock off Unix: ports are only kept apart
// within one test binary.
func claimPort(int) bool { return true }
