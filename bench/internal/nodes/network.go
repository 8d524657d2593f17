package nodes

import (
	"fmt"

	"github.com/chronik-dev/chronik/internal/faultnet"
)

// network is the proxies in front of the nodes: one per node's Kafka
// listener and one per ordered pair of nodes' cluster link (faultnet: a
// cut drops bytes and keeps connections, a heal closes them).
type network struct {
	kafka map[int32]*faultnet.Link
	links map[[2]int32]*faultnet.Link // [from, to]
}

func startNetwork(ns []*Node) (nw *network, err error) {
	nw = &network{kafka: map[int32]*faultnet.Link{}, links: map[[2]int32]*faultnet.Link{}}
	defer func() {
		if err != nil {
			nw.stop()
		}
	}()
	ports, err := FreePorts(len(ns) * len(ns))
	if err != nil {
		return nil, err
	}
	next := func() string { p := ports[0]; ports = ports[1:]; return loopback(p) }
	for _, n := range ns {
		l, err := faultnet.Start(fmt.Sprintf("kafka-%d", n.ID), next(), n.listenKafka)
		if err != nil {
			return nw, err
		}
		nw.kafka[n.ID] = l
		n.KafkaAddr = l.Addr()
		for _, m := range ns {
			if m == n {
				continue
			}
			l, err := faultnet.Start(fmt.Sprintf("cluster-%d-%d", n.ID, m.ID), next(), m.ClusterAddr)
			if err != nil {
				return nw, err
			}
			nw.links[[2]int32{n.ID, m.ID}] = l
		}
	}
	return nw, nil
}

// linkAddr is where node from dials node to.
func (nw *network) linkAddr(from, to int32) string { return nw.links[[2]int32{from, to}].Addr() }

// of returns the proxies a cut of node id silences: its Kafka listener and
// every cluster link from or to it.
func (nw *network) of(id int32) []*faultnet.Link {
	ls := []*faultnet.Link{nw.kafka[id]}
	for k, l := range nw.links {
		if k[0] == id || k[1] == id {
			ls = append(ls, l)
		}
	}
	return ls
}

// inbound returns the proxies that lead to node id: its Kafka listener's
// and every cluster link towards it.
func (nw *network) inbound(id int32) []*faultnet.Link {
	ls := []*faultnet.Link{nw.kafka[id]}
	for k, l := range nw.links {
		if k[1] == id {
			ls = append(ls, l)
		}
	}
	return ls
}

// down closes the listeners of the proxies leading to a node whose process
// has ended, and their connections: like the node's own ports, they now
// refuse connections. Without it a proxy would accept and then hang up,
// which tells dialers less than a refusal does.
func (nw *network) down(id int32) {
	for _, l := range nw.inbound(id) {
		l.Down()
	}
}

// up reopens them for a restarted node.
func (nw *network) up(id int32) error {
	for _, l := range nw.inbound(id) {
		if err := l.Up(); err != nil {
			return err
		}
	}
	return nil
}

func cutAll(ls []*faultnet.Link) error {
	for _, l := range ls {
		if err := l.Cut(); err != nil {
			return err
		}
	}
	return nil
}

func healAll(ls []*faultnet.Link) error {
	for _, l := range ls {
		if err := l.Heal(); err != nil {
			return err
		}
	}
	return nil
}

func (nw *network) healAll() {
	for _, l := range nw.all() {
		l.HealAll()
	}
}

func (nw *network) all() []*faultnet.Link {
	var ls []*faultnet.Link
	for _, l := range nw.kafka {
		ls = append(ls, l)
	}
	for _, l := range nw.links {
		ls = append(ls, l)
	}
	return ls
}

func (nw *network) stop() {
	for _, l := range nw.all() {
		l.Close()
	}
}

// Cut silences every connection to and from node n: clients and peers.
func (c *Cluster) Cut(n *Node) error {
	if c.net == nil {
		return fmt.Errorf("cut node %d: the cluster was started without proxies", n.ID)
	}
	return cutAll(c.net.of(n.ID))
}

// Heal undoes Cut.
func (c *Cluster) Heal(n *Node) error {
	if c.net == nil {
		return fmt.Errorf("heal node %d: the cluster was started without proxies", n.ID)
	}
	return healAll(c.net.of(n.ID))
}

// CutLink silences the cluster link between a and b in both directions;
// both keep talking to clients and to the other nodes.
func (c *Cluster) CutLink(a, b *Node) error {
	if c.net == nil {
		return fmt.Errorf("cut link %d-%d: the cluster was started without proxies", a.ID, b.ID)
	}
	return cutAll(c.net.linkPair(a.ID, b.ID))
}

// HealLink undoes CutLink.
func (c *Cluster) HealLink(a, b *Node) error {
	if c.net == nil {
		return fmt.Errorf("heal link %d-%d: the cluster was started without proxies", a.ID, b.ID)
	}
	return healAll(c.net.linkPair(a.ID, b.ID))
}

func (nw *network) linkPair(a, b int32) []*faultnet.Link {
	return []*faultnet.Link{nw.links[[2]int32{a, b}], nw.links[[2]int32{b, a}]}
}
