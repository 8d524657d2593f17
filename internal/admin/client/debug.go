package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// maxProfileBytes bounds a downloaded profile or trace. A minute's trace of
// a busy node is tens of MiB; this stops a wrong address that streams
// forever from filling the disk.
const maxProfileBytes = 2 << 30

// ProfileKinds are the profiles [Client.Profile] takes, in help order:
// "cpu" (DebugPrefix+"profile") and the runtime's named profiles.
func ProfileKinds() []string {
	return append([]string{"cpu"}, api.NamedProfiles()...)
}

// Profile streams a pprof profile of the node to w: kind is one of
// [ProfileKinds]. seconds is the CPU profile's duration, or for the other
// kinds the window of a delta profile; 0 means the node's default (a 30 s
// CPU profile, a snapshot otherwise). It needs the admin token
// ([Client.WithToken]) or an admin client certificate. It returns the bytes
// written.
func (c *Client) Profile(ctx context.Context, kind string, seconds int, w io.Writer) (int64, error) {
	path := api.DebugPrefix + kind
	switch {
	case kind == "cpu":
		path = api.DebugPrefix + "profile"
	case !slices.Contains(api.NamedProfiles(), kind):
		return 0, fmt.Errorf("unknown profile %q: want one of %v", kind, ProfileKinds())
	}
	return c.download(ctx, path, seconds, w)
}

// Trace streams a runtime execution trace of seconds (0: the node's
// default, 1 s) to w, for `go tool trace`. It needs the admin token or an
// admin client certificate. It returns the bytes written.
func (c *Client) Trace(ctx context.Context, seconds int, w io.Writer) (int64, error) {
	return c.download(ctx, api.DebugPrefix+"trace", seconds, w)
}

// download copies the binary answer of GET path?seconds= to w.
func (c *Client) download(ctx context.Context, path string, seconds int, w io.Writer) (int64, error) {
	if seconds < 0 || seconds > api.MaxProfileSeconds {
		return 0, fmt.Errorf("seconds must be from 1 to %d (0: the node's default), got %d", api.MaxProfileSeconds, seconds)
	}
	target := c.base + path
	if seconds > 0 {
		target += "?" + url.Values{"seconds": {strconv.Itoa(seconds)}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, &RequestError{URL: c.base, Path: path, Err: err,
			msg: fmt.Sprintf("bad chronik admin API address %q: %v — want http://host:port", c.base, err)}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		return 0, transportError(c.base, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		if err != nil {
			return 0, transportError(c.base, path, err)
		}
		return 0, statusError(c.base, path, resp, body)
	}
	// net/http/pprof answers binary data as application/octet-stream; an
	// HTML or JSON page is some other server.
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/octet-stream" {
		return 0, &RequestError{URL: c.base, Path: path, Status: resp.StatusCode,
			Err: fmt.Errorf("content type %q", resp.Header.Get("Content-Type")),
			msg: fmt.Sprintf("%s answered GET %s with %q, not a profile — is it the node's admin address (--admin-addr)?",
				c.base, path, resp.Header.Get("Content-Type"))}
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxProfileBytes+1))
	switch {
	case err != nil:
		return n, fmt.Errorf("download %s%s after %d bytes: %w", c.base, path, n, err)
	case n > maxProfileBytes:
		return n, fmt.Errorf("download %s%s: larger than %d bytes, stopped", c.base, path, int64(maxProfileBytes))
	case n == 0:
		return 0, errors.New("the node answered " + path + " with nothing")
	}
	return n, nil
}

// NodeURL finds node id's admin base URL through the first of urls that
// answers /v1/brokers (same scheme as that URL).
func NodeURL(ctx context.Context, httpc *http.Client, urls []string, id int32) (string, error) {
	return brokerURL(ctx, httpc, urls, fmt.Sprintf("node %d", id), func(api.Brokers) (int32, string) {
		return id, fmt.Sprintf("no node %d with an admin address", id)
	})
}
