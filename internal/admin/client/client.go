// Package client calls chronik's admin HTTP API: a [Client] for one node,
// [FanOut] to ask many at once, and [Gather] for everything the cluster
// commands and the TUI show. It does not import the broker.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// DefaultURL is where a node's admin API listens unless --admin-addr moves it.
const DefaultURL = "http://127.0.0.1:9644"

// maxAnswerBytes bounds what the client reads from one answer, so a wrong
// address that streams forever cannot exhaust memory.
const maxAnswerBytes = 8 << 20

// Client calls one node's admin API.
type Client struct {
	base  string
	httpc *http.Client
	token string // sent with mutations; see WithToken
}

// New returns a client for the node whose admin API is at baseURL
// ("http://h:9644"; a bare "h:9644" means http). A nil httpc means
// http.DefaultClient. The caller owns httpc and its idle connections.
func New(baseURL string, httpc *http.Client) *Client {
	if httpc == nil {
		httpc = http.DefaultClient
	}
	return &Client{base: normalizeURL(baseURL), httpc: httpc}
}

// URL is the node's admin base URL, normalized.
func (c *Client) URL() string { return c.base }

// Node fetches GET /v1/node.
func (c *Client) Node(ctx context.Context) (api.Envelope[api.NodeInfo], error) {
	return getEnvelope[api.NodeInfo](ctx, c, "/v1/node")
}

// Raft fetches GET /v1/raft.
func (c *Client) Raft(ctx context.Context) (api.Envelope[api.RaftStatus], error) {
	return getEnvelope[api.RaftStatus](ctx, c, "/v1/raft")
}

// ParseURL checks an admin base URL as a user typed it and returns it
// normalized: "h:9644" becomes "http://h:9644" and a trailing slash goes.
func ParseURL(s string) (string, error) {
	norm := normalizeURL(s)
	if norm == "" {
		return "", errors.New("empty admin URL")
	}
	u, err := url.Parse(norm)
	if err != nil {
		return "", fmt.Errorf("admin URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("admin URL %q: scheme %q, want http or https", s, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("admin URL %q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("admin URL %q: want scheme://host:port with no query or fragment", s)
	}
	return norm, nil
}

func normalizeURL(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return strings.TrimRight(s, "/")
}

// RequestError is a failed call to a node's admin API. Its message names the
// node and says what to try.
type RequestError struct {
	URL    string // the node's admin base URL
	Path   string // the endpoint, e.g. /v1/raft
	Status int    // HTTP status of the answer; 0 when none came
	Code   string // Error.Code of the answer, when it carried one
	// Message is Error.Message of the answer, when it carried one: the
	// server's own words for a refusal.
	Message string
	Err     error // the cause
	msg     string
}

func (e *RequestError) Error() string { return e.msg }

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// Unreachable reports whether the node gave no HTTP answer at all.
func (e *RequestError) Unreachable() bool { return e.Status == 0 }

func getEnvelope[T any](ctx context.Context, c *Client, path string) (api.Envelope[T], error) {
	var env api.Envelope[T]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return env, &RequestError{URL: c.base, Path: path, Err: err,
			msg: fmt.Sprintf("bad chronik admin API address %q: %v — want http://host:port", c.base, err)}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.httpc.Do(req)
	if err != nil {
		return env, transportError(c.base, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return env, transportError(c.base, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return env, statusError(c.base, path, resp, body)
	}
	if err := decodeJSON(resp, body, &env); err != nil {
		return env, &RequestError{URL: c.base, Path: path, Status: resp.StatusCode, Err: err,
			msg: fmt.Sprintf("chronik admin API at %s answered GET %s with something other than chronik JSON: %v — is %s the node's admin address (--admin-addr)?",
				c.base, path, err, c.base)}
	}
	return env, nil
}

// decodeJSON insists on a JSON content type before decoding, so an HTML
// page from some other server is named as such rather than as a syntax error.
func decodeJSON(resp *http.Response, body []byte, v any) error {
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return fmt.Errorf("content type %q", ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

// transportError explains a request that got no HTTP answer.
func transportError(base, path string, err error) *RequestError {
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err // its text repeats the URL we name anyway
	}
	e := &RequestError{URL: base, Path: path, Err: err}
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, context.Canceled):
		e.msg = fmt.Sprintf("request to chronik admin API at %s canceled", base)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		e.msg = fmt.Sprintf("no answer from chronik admin API at %s in time — is the node overloaded or a firewall dropping packets? A longer --timeout may help", base)
	case errors.Is(err, syscall.ECONNREFUSED):
		e.msg = fmt.Sprintf("cannot reach chronik admin API at %s: connection refused — is the node running and is --admin-addr right?", base)
	case errors.As(err, &dnsErr):
		e.msg = fmt.Sprintf("cannot reach chronik admin API at %s: %s %s — is the host name right?", base, dnsErr.Err, dnsErr.Name)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		e.msg = fmt.Sprintf("chronik admin API at %s closed the connection without answering — is this the node's admin address (--admin-addr) and not its Kafka or cluster port?", base)
	default:
		e.msg = fmt.Sprintf("cannot reach chronik admin API at %s: %v — is the node running and is --admin-addr right?", base, cause)
	}
	return e
}

// statusError explains a non-2xx answer, using its Error body when it has one.
func statusError(base, path string, resp *http.Response, body []byte) *RequestError {
	e := &RequestError{URL: base, Path: path, Status: resp.StatusCode}
	var apiErr api.Error
	if decodeJSON(resp, body, &apiErr) != nil || apiErr.Code == "" {
		e.Err = fmt.Errorf("status %s", resp.Status)
		hint := "is it the node's admin address (--admin-addr)?"
		if resp.StatusCode == http.StatusNotFound {
			hint = "is it the node's admin address (--admin-addr), and does the node run a chronik that has this endpoint?"
		}
		e.msg = fmt.Sprintf("%s answered GET %s with %s and no chronik error body — %s", base, path, resp.Status, hint)
		return e
	}
	e.Code, e.Message = apiErr.Code, apiErr.Message
	e.Err = fmt.Errorf("status %s: %s: %s", resp.Status, apiErr.Code, apiErr.Message)
	hint := "check the node's log"
	if resp.StatusCode == http.StatusNotFound {
		hint = "the node may run an older chronik; `chronik version` on it tells"
	}
	e.msg = fmt.Sprintf("chronik admin API at %s answered GET %s with %s (%s: %s) — %s",
		base, path, resp.Status, apiErr.Code, apiErr.Message, hint)
	return e
}
