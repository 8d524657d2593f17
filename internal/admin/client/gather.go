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
	return GatherProgress(ctx, httpc, urls, timeout, nil)
}

// GatherProgress is Gather that also reports the view so far each time a
// node has answered (or failed) while others are still being asked, so a
// monitor can show what it has at once instead of waiting for the slowest
// node. Those views are Partial, with the nodes not done yet Pending.
// progress is called from Gather's goroutines, one call at a time, never
// with fewer answers than an earlier call, and not after GatherProgress
// returns; it must not block for long. nil means no progress.
func GatherProgress(ctx context.Context, httpc *http.Client, urls []string, timeout time.Duration, progress func(api.ClusterView)) api.ClusterView {
	taken := time.Now()
	var (
		mu        sync.Mutex
		views     = map[string]*api.NodeView{}
		done      = map[string]bool{}
		order     []string
		wg        sync.WaitGroup
		pmu       sync.Mutex // serializes progress calls
		delivered int        // answers in the last view given to progress
	)
	report := func() {
		if progress == nil {
			return
		}
		mu.Lock()
		n := len(done)
		partial := n < len(order)
		v := assemble(order, views, done, taken)
		mu.Unlock()
		if !partial {
			return // the complete view is GatherProgress's result
		}
		pmu.Lock()
		defer pmu.Unlock()
		if n > delivered {
			delivered = n
			progress(v)
		}
	}
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
			if v.Brokers != nil {
				for _, b := range v.Brokers.Brokers {
					if b.AdminAddr != "" {
						// The cluster's nodes serve their admin API alike:
						// https when the node that named them does.
						ask(schemeOf(u) + "://" + b.AdminAddr)
					}
				}
			}
			mu.Lock()
			done[u] = true
			mu.Unlock()
			report()
		})
	}
	for _, u := range urls {
		ask(u)
	}
	wg.Wait()
	// Every progress call has returned: each ran in a goroutine wg waited for.
	return assemble(order, views, done, taken)
}

// assemble is the view of the nodes asked so far, in the Gather order:
// those not done are Pending (with only their address, since their
// goroutine still fills the rest). The caller holds the lock that guards
// views and done, or every goroutine has finished.
func assemble(order []string, views map[string]*api.NodeView, done map[string]bool, taken time.Time) api.ClusterView {
	out := api.ClusterView{Taken: taken}
	seen := map[int32]bool{}
	for _, u := range order {
		if !done[u] {
			out.Partial = true
			out.Nodes = append(out.Nodes, api.NodeView{Admin: u, NodeID: -1, Error: api.PendingError, Pending: true})
			continue
		}
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
	// A pending node another name of which already answered is that node.
	out.Nodes = slices.DeleteFunc(out.Nodes, func(v api.NodeView) bool { return v.Pending && v.NodeID >= 0 && seen[v.NodeID] })
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

// CarrySilent is a partial view with each pending node that did not answer
// in prev (the last complete view) shown as prev had it: silent, with its
// error, until this snapshot says otherwise, so a monitor does not flip a
// long-silent node between "unreachable" and "waiting" on every refresh.
// A pending node that answered in prev stays pending: it is only slow now.
func CarrySilent(partial, prev api.ClusterView) api.ClusterView {
	if !partial.Partial {
		return partial
	}
	out := partial
	out.Nodes = slices.Clone(partial.Nodes)
	out.Partial = false
	for i, n := range out.Nodes {
		if !n.Pending {
			continue
		}
		j := slices.IndexFunc(prev.Nodes, func(p api.NodeView) bool {
			return p.Admin == n.Admin || n.NodeID >= 0 && p.NodeID == n.NodeID
		})
		if j >= 0 && !prev.Nodes[j].Reachable() && !prev.Nodes[j].Pending {
			out.Nodes[i] = prev.Nodes[j]
			continue
		}
		out.Partial = true
	}
	return out
}

// schemeOf is the scheme of a normalized admin URL, http or https.
func schemeOf(u string) string {
	if strings.HasPrefix(u, "https://") {
		return "https"
	}
	return "http"
}
