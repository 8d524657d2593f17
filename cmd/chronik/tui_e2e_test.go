package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/diagnose"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// TestTUIFlags checks what `chronik tui` resolves from its flags, the
// environment and a profile, and what it refuses.
func TestTUIFlags(t *testing.T) {
	e, path := newConnTestEnv(t)
	writeProfiles(t, path, "current: prod\nprofiles:\n  prod:\n    admin: [\"http://p1:9644\"]\n    admin_token: s3cret\n")
	var got *TUIOptions
	cmd := NewCmdTUI(e.f, func(o *TUIOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--refresh", "750ms", "--timeout", "2s", "--allow-actions"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Admins, []string{"http://p1:9644"}) || got.AdminToken != "s3cret" || got.Refresh != 750*time.Millisecond ||
		got.Timeout != 2*time.Second || !got.AllowActions {
		t.Errorf("from the profile: %+v", got)
	}

	got = nil
	cmd = NewCmdTUI(e.f, func(o *TUIOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--admin", "h1:9644,h2:9644"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Admins, []string{"http://h1:9644", "http://h2:9644"}) || got.Refresh != 2*time.Second || got.AllowActions {
		t.Errorf("with --admin: %+v", got)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tui", "--refresh", "100ms"}, exitUsage, "--refresh: at least 500ms"},
		{[]string{"tui", "--timeout", "0s"}, exitUsage, "--timeout: must be positive"},
		{[]string{"tui", "extra"}, exitUsage, `unknown command "extra"`},
		{[]string{"tui", "--admin", "ftp://x"}, exitUsage, "--admin"},
		// The test's stdout is a buffer, not a terminal.
		{[]string{"tui", "--admin", "127.0.0.1:1"}, exitError, "needs a terminal"},
	} {
		e, _ := newConnTestEnv(t)
		if code := e.run(t, tt.args...); code != tt.code || !strings.Contains(e.errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, e.errOut.String(), tt.code, tt.want)
		}
	}
}

// terminal is a tmux session on a private server running one command, so
// a test can type into it and read its screen like a user.
type terminal struct {
	t    *testing.T
	tmux string
	sock string
	env  []string
}

const tuiSession = "chronik"

// startTerminal runs args in a detached w×h tmux session, with HOME and
// XDG_CONFIG_HOME in temp dirs and no CHRONIK_* variable, so neither the
// user's profiles nor their tmux are touched. The server is killed on
// cleanup. It skips the test when tmux is not installed.
func startTerminal(t *testing.T, w, h int, args ...string) *terminal {
	t.Helper()
	path, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed: the TUI end-to-end test drives the real binary in tmux")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	term := &terminal{t: t, tmux: path, sock: filepath.Join(dir, "tmux.sock"),
		env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
			"TERM=xterm-256color", "LANG=C.UTF-8", "TMUX_TMPDIR=" + dir}}
	t.Cleanup(func() {
		// Ends the session and the command in it, whatever state the test left.
		_ = term.cmd("kill-server").Run()
	})
	// remain-on-exit keeps the pane after the command exits, so the test can
	// see how it left the terminal.
	cmdArgs := append([]string{"new-session", "-d", "-s", tuiSession, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h)}, args...)
	cmdArgs = append(cmdArgs, ";", "set-option", "-w", "-t", tuiSession, "remain-on-exit", "on")
	if out, err := term.cmd(cmdArgs...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return term
}

func (term *terminal) cmd(args ...string) *exec.Cmd {
	c := exec.Command(term.tmux, append([]string{"-u", "-f", "/dev/null", "-S", term.sock}, args...)...)
	c.Env = term.env
	return c
}

// keys types into the terminal: tmux key names (Enter, Escape) or text.
func (term *terminal) keys(keys ...string) {
	term.t.Helper()
	if out, err := term.cmd(append([]string{"send-keys", "-t", tuiSession}, keys...)...).CombinedOutput(); err != nil {
		term.t.Fatalf("tmux send-keys %v: %v\n%s", keys, err, out)
	}
}

func (term *terminal) screen() string {
	term.t.Helper()
	out, err := term.cmd("capture-pane", "-p", "-t", tuiSession).Output()
	if err != nil {
		term.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

func (term *terminal) display(format string) string {
	term.t.Helper()
	out, err := term.cmd("display-message", "-p", "-t", tuiSession, format).Output()
	if err != nil {
		term.t.Fatalf("tmux display-message: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// dump is the pane's state and its whole history, to explain a failure; a
// process still running is asked for its goroutines (SIGQUIT), which land
// in the pane.
func (term *terminal) dump() string {
	term.t.Helper()
	state := term.display("dead=#{pane_dead} status=#{pane_dead_status} signal=#{pane_dead_signal} pid=#{pane_pid}")
	if pid, err := strconv.Atoi(term.display("#{pane_pid}")); err == nil && term.display("#{pane_dead}") != "1" {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		time.Sleep(time.Second)
	}
	out, _ := term.cmd("capture-pane", "-p", "-S", "-", "-t", tuiSession).Output()
	return fmt.Sprintf("pane (%s):\n%s", state, out)
}

// lookEvery is how often a test looks at the terminal: each look runs tmux.
const lookEvery = 50 * time.Millisecond

// waitFor polls the screen until cond holds and returns that screen.
func (term *terminal) waitFor(what string, within time.Duration, cond func(screen string) bool) string {
	term.t.Helper()
	var s string
	testharness.EventuallyEvery(term.t, within, lookEvery, "the screen to show "+what, func() bool {
		s = term.screen()
		return cond(s)
	}, func() string { return "screen:\n" + s })
	return s
}

func showing(want ...string) func(string) bool {
	return func(s string) bool {
		for _, w := range want {
			if !strings.Contains(s, w) {
				return false
			}
		}
		return true
	}
}

// screenRow is the first line whose leading fields (after the selection
// marker) are the given ones.
func screenRow(screen string, fields ...string) string {
	for _, l := range strings.Split(screen, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "›"))
		if len(f) >= len(fields) && slices.Equal(f[:len(fields)], fields) {
			return l
		}
	}
	return ""
}

// captureForDocs writes the screen to $CHRONIK_TUI_CAPTURE/name.txt when
// that is set: docs/tui.md shows real screens.
func captureForDocs(t *testing.T, name, screen string) {
	dir := os.Getenv("CHRONIK_TUI_CAPTURE")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(screen), 0o644); err != nil {
		t.Errorf("capture %s: %v", name, err)
	}
}

// TestTUIEndToEnd runs `chronik tui` in a 120x40 tmux terminal against three
// real processes with an acks=all stream: in the Partitions view, SIGSTOP a
// follower and the partition's row shows STALLED within the lag time plus a
// refresh (plus the request timeout the stopped node costs); SIGCONT and
// it clears. Then a preferred-leader election from the partition view, and
// q restores the terminal.
func TestTUIEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed: the TUI end-to-end test drives the real binary in tmux")
	}
	const (
		lagTime = 2 * time.Second
		refresh = 500 * time.Millisecond
		timeout = time.Second
	)
	c := startProcCluster(t, "--broker-session-timeout", "60s", "--replica-lag-time-max", lagTime.String())
	leader := c.createRF3("tui")
	s := startStream(t, c, "tui")
	s.waitAcks(500, 30*time.Second)

	admins := strings.Join([]string{c.adminURL(0), c.adminURL(1), c.adminURL(2)}, ",")
	term := startTerminal(t, 120, 40, chronikBinary(t), "tui", "--admin", admins,
		"--refresh", refresh.String(), "--timeout", timeout.String(), "--allow-actions")
	captureForDocs(t, "overview", term.waitFor("the overview", 15*time.Second, showing("chronik › Overview", "controller  node", "✓ HEALTHY")))

	term.keys("2")
	row := func(screen string) string { return screenRow(screen, "tui", "0") }
	captureForDocs(t, "partitions", term.waitFor("tui-0 OK", 10*time.Second, func(s string) bool {
		return strings.Contains(row(s), "✓ OK")
	}))

	follower := (leader + 1) % 3
	c.Procs[follower].Pause(t)
	stopped := time.Now()
	screen := term.waitFor("tui-0 STALLED", 30*time.Second, func(s string) bool {
		return strings.Contains(row(s), "⏸ STALLED")
	})
	took := time.Since(stopped)
	t.Logf("follower %d stopped: STALLED shown after %v\n%s", follower+1, took.Round(time.Millisecond), row(screen))
	// The leader calls it stalled once it has not caught up for the lag
	// time; the TUI shows it at the next refresh, which waits out the
	// stopped node's request timeout. Two seconds of slack for a busy
	// machine.
	if budget := lagTime + refresh + timeout + 2*time.Second; took > budget {
		t.Errorf("STALLED shown %v after SIGSTOP, want within %v", took, budget)
	}
	if !strings.Contains(screen, "unreachable") {
		t.Errorf("the stopped node is not shown unreachable:\n%s", screen)
	}
	captureForDocs(t, "partitions-stalled", screen)
	term.keys("Enter")
	captureForDocs(t, "partition-stalled", term.waitFor("the partition detail", 10*time.Second,
		showing("chronik › Partitions › tui-0", "REPLICA", "⏸")))
	term.keys("4")
	captureForDocs(t, "raft", term.waitFor("the raft view", 10*time.Second, showing("chronik › Raft", "its peers")))
	term.keys("5")
	captureForDocs(t, "findings", term.waitFor("the findings", 10*time.Second, showing("chronik › Findings", "FOLLOWER_STALLED")))
	term.keys("1")
	captureForDocs(t, "overview-stalled", term.waitFor("the overview", 10*time.Second, showing("chronik › Overview", "✗ NOT HEALTHY")))

	term.keys("2")
	c.Procs[follower].Resume(t)
	resumed := time.Now()
	screen = term.waitFor("tui-0 OK again", 30*time.Second, func(s string) bool {
		return strings.Contains(row(s), "✓ OK") && !strings.Contains(s, "unreachable")
	})
	t.Logf("follower %d resumed: OK after %v\n%s", follower+1, time.Since(resumed).Round(time.Millisecond), row(screen))

	// Enough history for the sparklines, then the election.
	term.keys("Enter")
	captureForDocs(t, "partition", term.waitFor("sparklines", 15*time.Second, showing("HW      ", "LEO 1   ", "█")))
	term.keys("e")
	term.waitFor("the election question", 10*time.Second, showing("Elect the preferred leader of tui-0", "y/n"))
	term.keys("y")
	screen = term.waitFor("the election's answer", 15*time.Second, func(s string) bool {
		return strings.Contains(s, "✓ tui-0: preferred leader elected") || strings.Contains(s, "✗ tui-0: ELECTION_NOT_NEEDED")
	})
	captureForDocs(t, "election", screen)
	term.keys("?")
	captureForDocs(t, "help", term.waitFor("the help", 10*time.Second, showing("chronik › Help", "shift+tab")))
	// Escape and q apart: together they read as alt+q.
	term.keys("Escape")
	term.waitFor("the help closed", 10*time.Second, func(s string) bool { return !strings.Contains(s, "chronik › Help") })
	term.keys("q")

	testharness.EventuallyEvery(t, 10*time.Second, lookEvery, "q to end chronik tui",
		func() bool { return term.display("#{pane_dead}") == "1" }, term.dump)
	// tmux records the exit status when it reaps the process, which it
	// sometimes does late (the pane is dead, the process a zombie): check it
	// when it is there.
	if got := term.display("#{pane_dead_status}"); got != "" && got != "0" {
		t.Errorf("chronik tui exited with status %s after q", got)
	}
	if got := term.display("#{alternate_on}"); got == "1" {
		t.Errorf("chronik tui left the terminal on the alternate screen")
	}
	s.finish()

	// The partition is whole after all this.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	httpc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var rows []api.PartitionRow
	testharness.Eventually(t, 30*time.Second, "tui-0 OK after the test", func() bool {
		v := client.Gather(ctx, httpc, []string{c.adminURL(leader)}, time.Second)
		rows = diagnose.MergePartitions(v)
		return len(rows) == 1 && rows[0].Status == api.StatusOK
	}, func() string { return fmt.Sprintf("partitions %+v", rows) })
}
