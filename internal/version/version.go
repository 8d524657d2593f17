// Package version reports which build of chronik is running.
//
// Version, Commit and Date are set at link time by the release build:
//
//	go build -ldflags "-X github.com/chronik-dev/chronik/internal/version.Version=1.2.3 \
//	  -X github.com/chronik-dev/chronik/internal/version.Commit=abc123 \
//	  -X github.com/chronik-dev/chronik/internal/version.Date=2025-01-02T03:04:05Z" ./cmd/chronik
//
// When they are not set (go build or go install from source), Get falls back to
// what the Go toolchain recorded in the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// These are the only package-level variables in chronik: the linker writes
// them, nothing else does.
var (
	// Version is the release version, e.g. "1.2.3"; "dev" for untagged builds.
	Version = "dev"
	// Commit is the git commit the binary was built from.
	Commit = ""
	// Date is when the binary was built, RFC 3339.
	Date = ""
)

// unknown stands in for facts that neither the linker nor the toolchain recorded.
const unknown = "unknown"

// Info describes a build. Its JSON form is the output of `chronik version -o json`.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's build information.
func Get() Info {
	info := Info{
		Version:   Version,
		Commit:    Commit,
		Date:      Date,
		GOOS:      runtime.GOOS,
		GOARCH:    runtime.GOARCH,
		GoVersion: runtime.Version(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fillFromBuildInfo(&info, bi)
	}
	if info.Commit == "" {
		info.Commit = unknown
	}
	if info.Date == "" {
		info.Date = unknown
	}
	return info
}

// fillFromBuildInfo fills what the linker left empty, so `go install
// .../cmd/chronik@v1.2.3` and builds from a git checkout still say what they are.
func fillFromBuildInfo(info *Info, bi *debug.BuildInfo) {
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	var revision, vcsTime string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			vcsTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if info.Commit == "" && revision != "" {
		info.Commit = revision
		if modified {
			info.Commit += "-dirty"
		}
	}
	if info.Date == "" && vcsTime != "" {
		info.Date = vcsTime
	}
}

// String formats info the way `chronik version` prints it.
func (i Info) String() string {
	return fmt.Sprintf("chronik %s (commit %s, built %s, %s/%s, %s)",
		i.Version, i.Commit, i.Date, i.GOOS, i.GOARCH, i.GoVersion)
}

// String describes the running binary in one line:
// "chronik <version> (commit <commit>, built <date>, <goos>/<goarch>, <go version>)".
func String() string {
	return Get().String()
}
