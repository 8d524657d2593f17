package partlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// crashSteps are the points of a swap where the test hook runs.
var crashSteps = []string{"written", "marker", "deleted", "renamed", "unmarked", "swapped"}

// crashLog builds the same log in dir every time: segments of a few
// batches over a few keys, the active one included.
func crashLog(t *testing.T, dir string, c *clock) *Log {
	t.Helper()
	l, err := Open(Options{Dir: dir, Config: compactCfg(1500), Now: c.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	fillKeys(t, l, rng, 120, 80, c.Millis()-10_000)
	return l
}

func checkNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	for _, n := range dirNames(t, dir) {
		if strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, deletedSuffix) || strings.HasPrefix(n, cleanerSwapFile) {
			t.Fatalf("leftover %s in %s", n, dir)
		}
	}
}

// TestCompactCrashAtEachStep stops a pass at every step of the swap as a
// kill -9 would (files left as they are, nothing cleaned up), reopens the
// directory and finds the old segment set or the new one, valid, and a
// later pass finishes the job.
func TestCompactCrashAtEachStep(t *testing.T) {
	c := nowClock()
	// The reference: the log after the first group's swap.
	refDir := t.TempDir()
	ref := crashLog(t, refDir, c)
	old, _ := readRecords(t, ref)
	end := ref.LogEndOffset()
	activeBase := ref.segs[len(ref.segs)-1].base
	ref.testCleanHook = func(step string) error {
		if step == "swapped" {
			return errCrashed
		}
		return nil
	}
	if _, err := ref.Compact(context.Background(), CompactOptions{UpTo: end, Map: NewOffsetMap(1 << 20)}); !errors.Is(err, errCrashed) {
		t.Fatalf("reference pass: %v", err)
	}
	ref.Abandon()
	ref = open(t, refDir, compactCfg(1500), withClock(c))
	post, _ := readRecords(t, ref)
	final := model(old, activeBase, false)
	if sameRecs(post, old) || len(post) < len(final) {
		t.Fatalf("first group's swap changed nothing or too much: %d records of %d, final %d", len(post), len(old), len(final))
	}
	checkNoLeftovers(t, refDir)

	for _, step := range crashSteps {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			l := crashLog(t, dir, c)
			l.testCleanHook = func(s string) error {
				if s == step {
					return errCrashed
				}
				return nil
			}
			if _, err := l.Compact(context.Background(), CompactOptions{UpTo: end, Map: NewOffsetMap(1 << 20)}); !errors.Is(err, errCrashed) {
				t.Fatalf("pass: %v, want the simulated crash", err)
			}
			l.Abandon()
			l = open(t, dir, compactCfg(1500), withClock(c))
			got, _ := readRecords(t, l)
			want := post
			if step == "written" {
				want = old
			}
			diffRecs(t, "after the crash", got, want)
			checkNoLeftovers(t, dir)
			if l.LogEndOffset() != end || l.LogStartOffset() != 0 {
				t.Fatalf("log [%d, %d) after the crash, want [0, %d)", l.LogStartOffset(), l.LogEndOffset(), end)
			}
			compactAll(t, l, NewOffsetMap(1<<20), end)
			got, _ = readRecords(t, l)
			diffRecs(t, "after cleaning again", got, final)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = open(t, dir, compactCfg(1500), withClock(c))
			got, _ = readRecords(t, l)
			diffRecs(t, "after a clean restart", got, final)
		})
	}
}

// TestCompactCopyDirAtEachStep copies the directory, as a crash would find
// it, at every step of every swap of a pass, and opens each copy: before
// the marker it holds the log as it was before that swap, from the marker
// on as it is after.
func TestCompactCopyDirAtEachStep(t *testing.T) {
	c := nowClock()
	dir := t.TempDir()
	l := crashLog(t, dir, c)
	defer l.Close()
	old, _ := readRecords(t, l)
	end := l.LogEndOffset()
	activeBase := l.segs[len(l.segs)-1].base
	type snap struct {
		dir, step string
		swap      int
	}
	var snaps []snap
	var states [][]rec // states[i]: before swap i; states[i+1]: after
	swap := 0
	copies := t.TempDir()
	l.testCleanHook = func(step string) error {
		if step == "written" {
			// Outside the lock: the log can be read.
			r, _ := readRecords(t, l)
			states = append(states[:swap], r)
		}
		if step == "swapped" {
			r, _ := readRecords(t, l)
			states = append(states, r)
			swap++
		}
		d := filepath.Join(copies, fmt.Sprintf("%d-%s", swap, step))
		copyDirTimes(t, dir, d)
		snaps = append(snaps, snap{dir: d, step: step, swap: swap})
		return nil
	}
	if _, err := l.Compact(context.Background(), CompactOptions{UpTo: end, Map: NewOffsetMap(1 << 20)}); err != nil {
		t.Fatal(err)
	}
	if swap < 3 {
		t.Fatalf("only %d swaps; the test wants several", swap)
	}
	final, _ := readRecords(t, l)
	diffRecs(t, "after the pass", final, model(old, activeBase, false))
	diffRecs(t, "first state", states[0], old)
	for _, s := range snaps {
		want := states[s.swap]
		if s.step != "written" && s.step != "swapped" {
			want = states[s.swap+1]
		}
		cl := open(t, s.dir, compactCfg(1500), withClock(c))
		got, _ := readRecords(t, cl)
		diffRecs(t, fmt.Sprintf("copy at swap %d step %s", s.swap, s.step), got, want)
		checkNoLeftovers(t, s.dir)
		if cl.LogEndOffset() != end || cl.LogStartOffset() != 0 {
			t.Fatalf("copy at swap %d step %s holds [%d, %d), want [0, %d)", s.swap, s.step, cl.LogStartOffset(), cl.LogEndOffset(), end)
		}
		if err := cl.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
