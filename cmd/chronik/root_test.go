package main

import (
	"strings"
	"testing"
)

func TestRootHelp(t *testing.T) {
	e := newTestEnv(t)
	if code := e.run(t); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"serve", "version", "completion"} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, e.out.String())
		}
	}
}

func TestServeHelpListsEveryFlag(t *testing.T) {
	e := newTestEnv(t)
	if code := e.run(t, "serve", "--help"); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"--node-id", "--data-dir", "CHRONIK_DATA_DIR", "--config", "--log-flush", "--group-max-session-timeout"} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("serve help lacks %q", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, "Error: unknown command \"serv\" for \"chronik\"\n\nDid you mean this?\n\tserve\n"},
		{[]string{"--bogus"}, "Error: unknown flag: --bogus\n"},
		{[]string{"version", "extra"}, `Error: unknown command "extra" for "chronik version"`},
		{[]string{"completion"}, "Error: accepts 1 arg(s), received 0"},
		{[]string{"completion", "tcsh"}, `Error: invalid argument "tcsh" for "chronik completion"`},
	}
	for _, tt := range tests {
		e := newTestEnv(t)
		if code := e.run(t, tt.args...); code != exitUsage {
			t.Errorf("%v: exit code %d, want 2", tt.args, code)
		}
		stderr := e.errOut.String()
		if !strings.Contains(stderr, tt.want) || strings.Count(stderr, "Error:") != 1 {
			t.Errorf("%v: stderr %q, want it to contain %q once", tt.args, stderr, tt.want)
		}
		if !strings.Contains(stderr, "--help' for usage.") {
			t.Errorf("%v: no help hint in %q", tt.args, stderr)
		}
	}
}
