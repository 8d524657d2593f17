package tui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
)

// Source takes a snapshot of the cluster: every node's answers (or why a
// node did not answer). The Model calls it from a tea.Cmd, never from
// Update or View, so a slow node cannot freeze the screen. Snapshot must
// return when ctx is done.
type Source interface {
	Snapshot(ctx context.Context) api.ClusterView
}

// ProgressSource is a Source that also reports the view so far while a
// snapshot is being taken (client.GatherProgress): the Model shows it at
// once, marked partial, instead of waiting for the slowest node. partial
// is called one view at a time and never after SnapshotProgress returns.
type ProgressSource interface {
	Source
	SnapshotProgress(ctx context.Context, partial func(api.ClusterView)) api.ClusterView
}

// ElectFunc runs a preferred-leader election for one partition. admins are
// the admin URLs of the nodes that answered the latest snapshot, the
// controller first; an implementation asks them in turn until one answers.
// A nil ElectFunc makes the Model read-only.
type ElectFunc func(ctx context.Context, admins []string, tp api.TopicPartition) (api.ElectLeadersResult, error)

// gatherSource is the production Source: client.Gather over the admin URLs.
type gatherSource struct {
	httpc   *http.Client
	urls    []string
	timeout time.Duration
}

// NewGatherSource returns a Source that asks every node in urls (and the
// nodes they name) in parallel through client.Gather, each request bounded
// by timeout. The caller owns httpc.
func NewGatherSource(httpc *http.Client, urls []string, timeout time.Duration) Source {
	return gatherSource{httpc: httpc, urls: append([]string(nil), urls...), timeout: timeout}
}

func (s gatherSource) Snapshot(ctx context.Context) api.ClusterView {
	return client.Gather(ctx, s.httpc, s.urls, s.timeout)
}

func (s gatherSource) SnapshotProgress(ctx context.Context, partial func(api.ClusterView)) api.ClusterView {
	return client.GatherProgress(ctx, s.httpc, s.urls, s.timeout, partial)
}

// NewAdminElect returns the production ElectFunc: POST /v1/elect-leaders
// (type preferred) with the admin token, to the first of the given nodes
// that answers; each attempt is bounded by timeout. A node that answers
// with an error ends the attempts: its refusal is the answer.
func NewAdminElect(httpc *http.Client, token string, timeout time.Duration) ElectFunc {
	return func(ctx context.Context, admins []string, tp api.TopicPartition) (api.ElectLeadersResult, error) {
		req := api.ElectLeadersRequest{Type: "preferred", Partitions: []api.TopicPartition{tp}}
		var errs []error
		for _, u := range admins {
			c := client.New(u, httpc).WithToken(token)
			rctx, cancel := context.WithTimeout(ctx, timeout)
			env, err := c.ElectLeaders(rctx, req)
			cancel()
			if err == nil {
				return env.Data, nil
			}
			var re *client.RequestError
			if errors.As(err, &re) && !re.Unreachable() {
				return api.ElectLeadersResult{}, fmt.Errorf("elect preferred leader of %s-%d: %w", tp.Topic, tp.Partition, err)
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		if len(errs) == 0 {
			return api.ElectLeadersResult{}, fmt.Errorf("elect preferred leader of %s-%d: no node to ask", tp.Topic, tp.Partition)
		}
		return api.ElectLeadersResult{}, fmt.Errorf("elect preferred leader of %s-%d: no node answered: %w", tp.Topic, tp.Partition, errors.Join(errs...))
	}
}
