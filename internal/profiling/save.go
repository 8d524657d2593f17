// Package profiling downloads a node's pprof profiles and execution traces
// from its admin API into files: what `chronik debug pprof` and `chronik
// debug trace` do.
package profiling

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
)

// KindTrace is the execution trace; every other kind is a pprof profile
// (client.ProfileKinds).
const KindTrace = "trace"

// Options say what to fetch from which node, and where to put it.
type Options struct {
	// Admins are admin base URLs. Without Node the first is profiled;
	// with Node they are asked where node Node's admin API is.
	Admins []string
	Node   int32
	// Security reaches a secured admin API; Token is the admin token the
	// profiling routes need (or Security's client certificate).
	Security client.Security
	Token    string
	// Kind is KindTrace or one of client.ProfileKinds.
	Kind string
	// Seconds: the CPU profile's or trace's duration, or the window of a
	// delta profile; 0 is the node's default (a snapshot for named
	// profiles).
	Seconds int
	// Path is the file written; an existing one is refused unless Force.
	Path  string
	Force bool
	// Timeout is how long the node may take beyond the profile's duration.
	Timeout time.Duration
}

// Result is what Save wrote.
type Result struct {
	Path  string // as given
	Bytes int64
	URL   string // the admin base URL profiled
	Kind  string
}

// Tool is the `go tool` subcommand that opens the result: pprof or trace.
func (r Result) Tool() string {
	if r.Kind == KindTrace {
		return "trace"
	}
	return "pprof"
}

// Check validates what o asks for, before the connection is resolved (no
// network or file access).
func (o Options) Check() error {
	if o.Kind != KindTrace && !slices.Contains(client.ProfileKinds(), o.Kind) {
		return fmt.Errorf("unknown profile %q: want one of %v", o.Kind, client.ProfileKinds())
	}
	if o.Seconds < 0 || o.Seconds > api.MaxProfileSeconds {
		return fmt.Errorf("seconds must be from 1 to %d, got %d", api.MaxProfileSeconds, o.Seconds)
	}
	if o.Seconds > 0 && o.Kind == "threadcreate" {
		return errors.New("the threadcreate profile is a snapshot only: leave --seconds out")
	}
	if o.Path == "" {
		return errors.New("no output file")
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, got %v", o.Timeout)
	}
	return nil
}

// duration is how long the node takes to answer, beyond o.Timeout.
func (o Options) duration() time.Duration {
	switch {
	case o.Seconds > 0:
		return time.Duration(o.Seconds) * time.Second
	case o.Kind == "cpu":
		return api.DefaultCPUProfileSeconds * time.Second
	case o.Kind == KindTrace:
		return api.DefaultTraceSeconds * time.Second
	}
	return 0
}

// Save fetches the profile or trace o names into o.Path. The data goes to
// a temporary file beside it first, so a failed or interrupted download
// never leaves a truncated profile under the name asked for; an existing
// file is refused before the profile starts and again when the download
// ends (it may have appeared meanwhile), unless o.Force.
func Save(ctx context.Context, o Options) (Result, error) {
	if err := o.Check(); err != nil {
		return Result{}, err
	}
	if len(o.Admins) == 0 {
		return Result{}, errors.New("no admin API address")
	}
	if !o.Force {
		if err := refuseExisting(o.Path); err != nil {
			return Result{}, err
		}
	}
	httpc, err := client.NewHTTPClient(client.HTTPClientOptions{Security: o.Security})
	if err != nil {
		return Result{}, err
	}
	defer httpc.CloseIdleConnections()

	base := o.Admins[0]
	if o.Node != 0 {
		lookup, cancel := context.WithTimeout(ctx, o.Timeout)
		base, err = client.NodeURL(lookup, httpc, o.Admins, o.Node)
		cancel()
		if err != nil {
			return Result{}, err
		}
	}
	c := client.New(base, httpc).WithToken(o.Token)

	tmp, err := os.CreateTemp(filepath.Dir(o.Path), "."+filepath.Base(o.Path)+".*.part")
	if err != nil {
		return Result{}, fmt.Errorf("create output file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, o.duration()+o.Timeout)
	defer cancel()
	var n int64
	if o.Kind == KindTrace {
		n, err = c.Trace(ctx, o.Seconds, tmp)
	} else {
		n, err = c.Profile(ctx, o.Kind, o.Seconds, tmp)
	}
	if err != nil {
		return Result{}, err
	}
	if err := tmp.Close(); err != nil {
		return Result{}, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := place(tmp.Name(), o.Path, o.Force); err != nil {
		return Result{}, err
	}
	done = true
	return Result{Path: o.Path, Bytes: n, URL: c.URL(), Kind: o.Kind}, nil
}

// refuseExisting is the error for an existing path.
func refuseExisting(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%s exists; choose another file with -o, or --force to overwrite it", path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("check output file: %w", err)
	}
}

// place moves the finished temporary file to path. Without force it links
// rather than renames, which fails if path appeared meanwhile instead of
// replacing it.
func place(tmp, path string, force bool) error {
	if force {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s appeared while the profile ran; it is kept: choose another file with -o, or --force to overwrite it", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove %s: %w", tmp, err)
	}
	return nil
}
