package client

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Gather asks every node in urls for everything the cluster commands show
// (node, raft, brokers, partitions, reconcile), in parallel, each request
// bounded by timeout. Nodes that the answering nodes' /v1/brokers name but
// urls lacks are discovered and asked too (by their registered admin
// address), so one reachable URL is enough to see the whole cluster. A node
// that does not answer is in the result with Error set, and its id when
// another node's broker list names its address.
func Gather(ctx context.Context, httpc *http.Client, urls []string, timeout time.Duration) api.ClusterView {
	taken := time.Now()
	var mu sync.Mutex
	views := map[string]*api.NodeView{}
	var order []string
	var wg sync.WaitGroup
	var ask func(u string)
	ask = func(u string) {
		u = normalizeURL(u)
		mu.Lock()
		if _, ok := views[u]; ok || u == "" {
			mu.Unlock()
			return
		}
		v := &api.NodeView{Admin: u, NodeID: -1}
		views[u] = v
		order = append(order, u)
		mu.Unlock()
		wg.Go(func() {
			gatherNode(ctx, New(u, httpc), v, timeout)
			if v.Brokers == nil {
				return
			}
			for _, b := range v.Brokers.Brokers {
				if b.AdminAddr != "" {
					ask("http://" + b.AdminAddr)
				}
			}
		})
	}
	for _, u := range urls {
		ask(u)
	}
	wg.Wait()

	out := api.ClusterView{Taken: taken}
	seen := map[int32]bool{}
	for _, u := range order {
		v := *views[u]
		if v.NodeID >= 0 && seen[v.NodeID] {
			continue // the same node under another address (localhost vs 127.0.0.1)
		}
		if v.NodeID >= 0 {
			seen[v.NodeID] = true
		}
		out.Nodes = append(out.Nodes, v)
	}
	nameUnreachable(&out)
	slices.SortStableFunc(out.Nodes, func(a, b api.NodeView) int { return api.CompareNodeIDs(a.NodeID, b.NodeID) })
	return out
}

// gatherNode fills v from one node: /v1/node first (no answer there means
// the node is unreachable), then the rest in parallel, so one slow endpoint
// does not add up. The first failure is the node's Error.
func gatherNode(ctx context.Context, c *Client, v *api.NodeView, timeout time.Duration) {
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if v.Error == "" {
			v.Error = err.Error()
		}
	}
	node, ok := fetchOne(ctx, timeout, c.Node, fail)
	if !ok {
		return
	}
	v.NodeID, v.Node = node.NodeID, &node.Data
	var wg sync.WaitGroup
	wg.Go(func() { v.Raft = fetchData(ctx, timeout, c.Raft, fail) })
	wg.Go(func() { v.Brokers = fetchData(ctx, timeout, c.Brokers, fail) })
	wg.Go(func() {
		v.Partitions = fetchData(ctx, timeout, func(ctx context.Context) (api.Envelope[api.Partitions], error) { return c.Partitions(ctx) }, fail)
	})
	wg.Go(func() { v.Reconcile = fetchData(ctx, timeout, c.Reconcile, fail) })
	wg.Wait()
}

// fetchOne makes one bounded call, reporting a failure to fail.
func fetchOne[T any](ctx context.Context, timeout time.Duration, get func(context.Context) (api.Envelope[T], error), fail func(error)) (api.Envelope[T], bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	env, err := get(ctx)
	if err != nil {
		fail(err)
		return env, false
	}
	return env, true
}

// fetchData is fetchOne's data, nil on failure.
func fetchData[T any](ctx context.Context, timeout time.Duration, get func(context.Context) (api.Envelope[T], error), fail func(error)) *T {
	env, ok := fetchOne(ctx, timeout, get, fail)
	if !ok {
		return nil
	}
	return &env.Data
}

// nameUnreachable gives nodes that did not answer the id another node's
// broker list registers for their admin address.
func nameUnreachable(cv *api.ClusterView) {
	byAddr := map[string]int32{}
	for _, v := range cv.Nodes {
		if v.Brokers == nil {
			continue
		}
		for _, b := range v.Brokers.Brokers {
			if b.AdminAddr != "" {
				byAddr[hostPortKey(b.AdminAddr)] = b.ID
			}
		}
	}
	for i, v := range cv.Nodes {
		if v.NodeID >= 0 {
			continue
		}
		if id, ok := byAddr[hostPortKey(strings.TrimPrefix(strings.TrimPrefix(v.Admin, "http://"), "https://"))]; ok {
			cv.Nodes[i].NodeID = id
		}
	}
}

// hostPortKey folds "localhost" and 127.0.0.1 together so a URL typed one
// way matches an address registered the other way.
func hostPortKey(hp string) string {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return hp
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
