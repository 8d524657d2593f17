package tui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// syncBuffer is a bytes.Buffer safe to read while the program writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTUIRun runs the real bubbletea program: keys come through its input
// like a terminal's, q quits, and the alternate screen is left again.
func TestTUIRun(t *testing.T) {
	src := newFakeSource(admintest.LoadView(t, "follower-stalled.json"))
	inR, inW := io.Pipe()
	defer inW.Close()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{Source: src, Refresh: MinRefresh},
			tea.WithInput(inR), tea.WithOutput(&out), tea.WithoutSignalHandler())
	}()
	waitOutput := func(what string) {
		t.Helper()
		testharness.Eventually(t, 10*time.Second, fmt.Sprintf("the program to show %q", what), func() bool {
			return strings.Contains(out.String(), what)
		}, func() string { return "output:\n" + out.String() })
	}
	waitOutput("controller")
	if _, err := inW.Write([]byte("2")); err != nil {
		t.Fatal(err)
	}
	waitOutput("STALLED")
	// The refresh ticks take snapshots by themselves.
	calls := src.callCount()
	testharness.Eventually(t, 10*time.Second, "two refreshes", func() bool { return src.callCount() >= calls+2 },
		func() string { return fmt.Sprintf("snapshots %d", src.callCount()) })
	if _, err := inW.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("q did not end the program")
	}
	s := out.String()
	if !strings.Contains(s, "\x1b[?1049h") || !strings.Contains(s, "\x1b[?1049l") {
		t.Fatalf("the alternate screen was not entered and left: %q", s)
	}
}

// TestTUIRunEndsWithContext: cancelling the context ends the program
// without an error, while a snapshot hangs.
func TestTUIRunEndsWithContext(t *testing.T) {
	src := newFakeSource(admintest.LoadView(t, "healthy.json"))
	src.setGated(true) // the first snapshot never answers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Source: src}, tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithoutSignalHandler())
	}()
	src.next(t)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not end with its context")
	}
}
