//go:build unix

package testharness

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// claimPortChildEnv makes this test binary, run again as a child, try to
// claim the port it names and print the answer.
const claimPortChildEnv = "CHRONIK_TEST_CLAIM_PORT"

// A port FreePort handed to this test binary is refused to another test
// binary running at the same time; a port nobody claimed is not.
func TestFreePortIsKeptFromOtherTestBinaries(t *testing.T) {
	if p := os.Getenv(claimPortChildEnv); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		handedOut.Lock()
		ok := claimPort(port)
		handedOut.Unlock()
		fmt.Printf("claimed=%v\n", ok)
		return
	}
	child := func(port int) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFreePortIsKeptFromOtherTestBinaries$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", claimPortChildEnv, port))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "claimed=") {
				return strings.TrimPrefix(line, "claimed=")
			}
		}
		t.Fatalf("child said nothing about the port:\n%s", out)
		return ""
	}
	mine := FreePort(t)
	if got := child(mine); got != "false" {
		t.Fatalf("another test binary could claim port %d this one was given: claimed=%s", mine, got)
	}
	// A port this binary never claimed: take one below the range FreePort uses.
	if got := child(portLow - 1); got != "true" {
		t.Fatalf("another test binary could not claim an unclaimed port: claimed=%s", got)
	}
}
