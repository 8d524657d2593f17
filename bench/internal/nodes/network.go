package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// network is the proxies in front of the nodes: one per node's Kafka
// listener and one per ordered pair of nodes' cluster link. A cut adds a
// toxiproxy "timeout" toxic with no timeout to both directions: bytes are
// dropped and connections stay open but silent, as on a partitioned network;
// healing removes it, which closes the connections that lost bytes (TCP
// would have reset them too) so peers redial.
type network struct {
	server *toxiproxy.ApiServer
	kafka  map[int32]*toxiproxy.Proxy
	links  map[[2]int32]*toxiproxy.Proxy // [from, to]

	mu   sync.Mutex
	cuts map[*toxiproxy.Proxy]int // how many faults cut each proxy; overlapping cuts nest
}

func startNetwork(ns []*Node) (*network, error) {
	nw := &network{
		server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()),
		kafka:  map[int32]*toxiproxy.Proxy{},
		links:  map[[2]int32]*toxiproxy.Proxy{},
		cuts:   map[*toxiproxy.Proxy]int{},
	}
	ports, err := FreePorts(len(ns) * len(ns))
	if err != nil {
		return nil, err
	}
	next := func() string { p := ports[0]; ports = ports[1:]; return loopback(p) }
	start := func(name, upstream string) (*toxiproxy.Proxy, error) {
		p := toxiproxy.NewProxy(nw.server, name, next(), upstream)
		if err := p.Start(); err != nil {
			return nil, fmt.Errorf("start proxy %s: %w", name, err)
		}
		return p, nil
	}
	for _, n := range ns {
		p, err := start(fmt.Sprintf("kafka-%d", n.ID), n.listenKafka)
		if err != nil {
			nw.stop()
			return nil, err
		}
		nw.kafka[n.ID] = p
		n.KafkaAddr = p.Listen
		for _, m := range ns {
			if m == n {
				continue
			}
			p, err := start(fmt.Sprintf("cluster-%d-%d", n.ID, m.ID), m.ClusterAddr)
			if err != nil {
				nw.stop()
				return nil, err
			}
			nw.links[[2]int32{n.ID, m.ID}] = p
		}
	}
	return nw, nil
}

// inbound returns the proxies that lead to node id: its Kafka listener's
// and every cluster link towards it.
func (nw *network) inbound(id int32) []*toxiproxy.Proxy {
	ps := []*toxiproxy.Proxy{nw.kafka[id]}
	for k, p := range nw.links {
		if k[1] == id {
			ps = append(ps, p)
		}
	}
	return ps
}

// down closes the listeners of the proxies leading to a node whose process
// has ended, and their connections: like the node's own ports, they now
// refuse connections. Without it a proxy would accept and then hang up,
// which tells dialers less than a refusal does.
func (nw *network) down(id int32) {
	for _, p := range nw.inbound(id) {
		p.Stop()
	}
}

// up reopens them for a restarted node.
func (nw *network) up(id int32) error {
	for _, p := range nw.inbound(id) {
		if err := p.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
			return fmt.Errorf("reopen proxy %s: %w", p.Name, err)
		}
	}
	return nil
}

// linkAddr is where node from dials node to.
func (nw *network) linkAddr(from, to int32) string { return nw.links[[2]int32{from, to}].Listen }

// proxiesOf returns the proxies a cut of node id silences: its Kafka
// listener and every cluster link from or to it.
func (nw *network) proxiesOf(id int32) []*toxiproxy.Proxy {
	ps := []*toxiproxy.Proxy{nw.kafka[id]}
	for k, p := range nw.links {
		if k[0] == id || k[1] == id {
			ps = append(ps, p)
		}
	}
	return ps
}

var cutToxics = []string{
	`{"name":"cut-up","type":"timeout","stream":"upstream","attributes":{"timeout":0}}`,
	`{"name":"cut-down","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`,
}

func (nw *network) cut(ps []*toxiproxy.Proxy) error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, p := range ps {
		nw.cuts[p]++
		if nw.cuts[p] > 1 {
			continue
		}
		for _, t := range cutToxics {
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(t)); err != nil {
				return fmt.Errorf("cut %s: %w", p.Name, err)
			}
		}
	}
	return nil
}

func (nw *network) heal(ps []*toxiproxy.Proxy) error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, p := range ps {
		if nw.cuts[p] == 0 {
			continue
		}
		nw.cuts[p]--
		if nw.cuts[p] > 0 {
			continue
		}
		for _, name := range []string{"cut-up", "cut-down"} {
			if err := p.Toxics.RemoveToxic(context.Background(), name); err != nil {
				return fmt.Errorf("heal %s: %w", p.Name, err)
			}
		}
	}
	return nil
}

func (nw *network) healAll() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for p, n := range nw.cuts {
		if n > 0 {
			p.Toxics.ResetToxics(context.Background())
		}
	}
	clear(nw.cuts)
}

func (nw *network) stop() {
	for _, p := range nw.kafka {
		p.Stop()
	}
	for _, p := range nw.links {
		p.Stop()
	}
}

// Cut silences every connection to and from node n: clients and peers.
func (c *Cluster) Cut(n *Node) error {
	if c.net == nil {
		return fmt.Errorf("cut node %d: the cluster was started without proxies", n.ID)
	}
	return c.net.cut(c.net.proxiesOf(n.ID))
}

// Heal undoes Cut.
func (c *Cluster) Heal(n *Node) error {
	if c.net == nil {
		return fmt.Errorf("heal node %d: the cluster was started without proxies", n.ID)
	}
	return c.net.heal(c.net.proxiesOf(n.ID))
}

// CutLink silences the cluster link between a and b in both directions;
// both keep talking to clients and to the other nodes.
func (c *Cluster) CutLink(a, b *Node) error {
	if c.net == nil {
		return fmt.Errorf("cut link %d-%d: the cluster was started without proxies", a.ID, b.ID)
	}
	return c.net.cut(c.net.linkPair(a.ID, b.ID))
}

// HealLink undoes CutLink.
func (c *Cluster) HealLink(a, b *Node) error {
	if c.net == nil {
		return fmt.Errorf("heal link %d-%d: the cluster was started without proxies", a.ID, b.ID)
	}
	return c.net.heal(c.net.linkPair(a.ID, b.ID))
}

func (nw *network) linkPair(a, b int32) []*toxiproxy.Proxy {
	return []*toxiproxy.Proxy{nw.links[[2]int32{a, b}], nw.links[[2]int32{b, a}]}
}
