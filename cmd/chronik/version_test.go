package main

import (
	"encoding/json"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/version"
)

func TestVersionText(t *testing.T) {
	e := newTestEnv(t)
	if code := e.run(t, "version"); code != exitOK {
		t.Fatalf("exit code %d: %s", code, e.errOut.String())
	}
	pattern := `^chronik \S+ \(commit \S+, built \S+, ` + runtime.GOOS + "/" + runtime.GOARCH + ", " + regexp.QuoteMeta(runtime.Version()) + `\)` + "\n$"
	if !regexp.MustCompile(pattern).MatchString(e.out.String()) {
		t.Fatalf("version output %q does not match %s", e.out.String(), pattern)
	}
	if e.out.String() != version.String()+"\n" {
		t.Fatalf("version output %q, want %q", e.out.String(), version.String())
	}
}

func TestVersionFlag(t *testing.T) {
	e := newTestEnv(t)
	if code := e.run(t, "--version"); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	if e.out.String() != version.String()+"\n" {
		t.Fatalf("--version output %q", e.out.String())
	}
}

func TestVersionJSON(t *testing.T) {
	e := newTestEnv(t)
	if code := e.run(t, "version", "-o", "json"); code != exitOK {
		t.Fatalf("exit code %d: %s", code, e.errOut.String())
	}
	out := e.out.String()
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("want one JSON line, got %q", out)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	want := version.Get()
	if got["version"] != want.Version || got["commit"] != want.Commit || got["date"] != want.Date ||
		got["goos"] != runtime.GOOS || got["goarch"] != runtime.GOARCH || got["go_version"] != runtime.Version() {
		t.Fatalf("JSON %v does not match %+v", got, want)
	}
}

func TestVersionRunF(t *testing.T) {
	e := newTestEnv(t)
	var got *VersionOptions
	cmd := NewCmdVersion(e.f, func(o *VersionOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--output=json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Output != "json" || got.Info.GoVersion != runtime.Version() {
		t.Fatalf("options = %+v", got)
	}
}

func TestVersionBadOutput(t *testing.T) {
	e := newTestEnv(t)
	if code := e.run(t, "version", "-o", "yaml"); code != exitUsage {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(e.errOut.String(), `Error: --output: want text or json, got "yaml"`) {
		t.Fatalf("stderr: %s", e.errOut.String())
	}
}
