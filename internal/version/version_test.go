package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestInfoString(t *testing.T) {
	i := Info{Version: "1.2.3", Commit: "abc123", Date: "2025-01-02T03:04:05Z", GOOS: "linux", GOARCH: "arm64", GoVersion: "go1.26.8"}
	want := "chronik 1.2.3 (commit abc123, built 2025-01-02T03:04:05Z, linux/arm64, go1.26.8)"
	if got := i.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestGetDefaults(t *testing.T) {
	i := Get()
	if i.GOOS != runtime.GOOS || i.GOARCH != runtime.GOARCH || i.GoVersion != runtime.Version() {
		t.Fatalf("Get() platform = %s/%s %s, want %s/%s %s", i.GOOS, i.GOARCH, i.GoVersion, runtime.GOOS, runtime.GOARCH, runtime.Version())
	}
	if i.Version == "" || i.Commit == "" || i.Date == "" {
		t.Fatalf("Get() left a field empty: %+v", i)
	}
	if !strings.HasPrefix(String(), "chronik "+i.Version+" (commit ") {
		t.Fatalf("String() = %q", String())
	}
}

func TestFillFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		Main: debug.Module{Version: "v1.4.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "deadbeef"},
			{Key: "vcs.time", Value: "2025-05-06T07:08:09Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}

	got := Info{Version: "dev"}
	fillFromBuildInfo(&got, bi)
	if got.Version != "v1.4.0" || got.Commit != "deadbeef-dirty" || got.Date != "2025-05-06T07:08:09Z" {
		t.Fatalf("fallback = %+v", got)
	}

	// Link-time values always win over what the toolchain recorded.
	got = Info{Version: "1.2.3", Commit: "abc", Date: "then"}
	fillFromBuildInfo(&got, bi)
	if got.Version != "1.2.3" || got.Commit != "abc" || got.Date != "then" {
		t.Fatalf("ldflags values overwritten: %+v", got)
	}
}
