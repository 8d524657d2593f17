package admin

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Gather asks every node in urls for everything the cluster commands show
// (node, raft, brokers, partitions, reconcile), in parallel, each request
// bounded by timeout. Nodes that the answering nodes' /v1/brokers name but
// urls lacks are discovered and asked too (by their registered admin
// address), so one reachable URL is enough to see the whole cluster. A node
// that does not answer is in the result with Error set, and its id when
// another node's broker list names its address.
func Gather(ctx context.Context, httpc *http.Client, urls []string, timeout time.Duration) ClusterView {
	var mu sync.Mutex
	views := map[string]*NodeView{}
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
		v := &NodeView{Admin: u, NodeID: -1}
		views[u] = v
		order = append(order, u)
		mu.Unlock()
		wg.Go(func() {
			gatherNode(ctx, NewClient(u, httpc), v, timeout)
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

	out := ClusterView{}
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
	slices.SortStableFunc(out.Nodes, func(a, b NodeView) int { return CompareNodeIDs(a.NodeID, b.NodeID) })
	return out
}

// gatherNode fills v from one node; the first failure (usually: the node
// is unreachable) ends it.
func gatherNode(ctx context.Context, c *Client, v *NodeView, timeout time.Duration) {
	call := func(fn func(ctx context.Context) error) bool {
		if v.Error != "" {
			return false
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := fn(rctx); err != nil {
			v.Error = err.Error()
			return false
		}
		return true
	}
	call(func(ctx context.Context) error {
		env, err := c.Node(ctx)
		if err == nil {
			v.NodeID, v.Node = env.NodeID, &env.Data
		}
		return err
	})
	// The rest in parallel: one slow endpoint should not add up.
	var wg sync.WaitGroup
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if v.Error == "" {
			v.Error = err.Error()
		}
	}
	if v.Error != "" {
		return
	}
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if env, err := c.Raft(rctx); err != nil {
			fail(err)
		} else {
			v.Raft = &env.Data
		}
	})
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if env, err := c.Brokers(rctx); err != nil {
			fail(err)
		} else {
			v.Brokers = &env.Data
		}
	})
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if env, err := c.Partitions(rctx); err != nil {
			fail(err)
		} else {
			v.Partitions = &env.Data
		}
	})
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if env, err := c.Reconcile(rctx); err != nil {
			fail(err)
		} else {
			v.Reconcile = &env.Data
		}
	})
	wg.Wait()
}

// nameUnreachable gives nodes that did not answer the id another node's
// broker list registers for their admin address.
func nameUnreachable(cv *ClusterView) {
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
