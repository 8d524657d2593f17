package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// FanOut asks every node in urls at once with call, each request under its
// own timeout (none when timeout <= 0), and returns one result per URL in
// the order of urls. It returns when every request has finished.
//
// call is typically a method expression: (*Client).Raft.
func FanOut[T any](ctx context.Context, httpc *http.Client, urls []string, timeout time.Duration,
	call func(*Client, context.Context) (api.Envelope[T], error)) []api.NodeResult[T] {
	results := make([]api.NodeResult[T], len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		c := New(u, httpc)
		results[i].Admin = c.URL()
		wg.Go(func() {
			rctx, cancel := ctx, context.CancelFunc(func() {})
			if timeout > 0 {
				rctx, cancel = context.WithTimeout(ctx, timeout)
			}
			defer cancel()
			env, err := call(c, rctx)
			if err != nil {
				results[i].Error = err.Error()
				return
			}
			results[i].NodeID = &env.NodeID
			results[i].Data = &env.Data
		})
	}
	wg.Wait()
	return results
}

// ReportFailures writes one line for every node that gave no answer, saying
// why, and returns how many there were.
func ReportFailures[T any](w io.Writer, results []api.NodeResult[T]) (int, error) {
	n := 0
	for _, r := range results {
		if r.OK() {
			continue
		}
		n++
		if _, err := fmt.Fprintln(w, r.Error); err != nil {
			return n, fmt.Errorf("write failure report: %w", err)
		}
	}
	return n, nil
}
