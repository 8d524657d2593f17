package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
)

// kind is a class of fault the nemesis injects.
type kind string

const (
	killAny        kind = "kill"            // kill -9 of a random node, restarted after the hold
	killLeader     kind = "kill-leader"     // kill -9 of a random partition's leader
	killController kind = "kill-controller" // kill -9 of the raft leader
	killTwo        kind = "kill-two"        // kill -9 of two nodes at once: quorum and ISR lost
	pauseNode      kind = "pause"           // SIGSTOP longer than the broker session timeout
	termRestart    kind = "term"            // SIGTERM (controlled shutdown) and restart
	cutNode        kind = "cut"             // every link to and from a node silenced
	cutLink        kind = "cut-link"        // the cluster link between two nodes silenced
	diskFull       kind = "disk-full"       // the node's tmpfs filled; freed (and restarted) at heal
	slowFsync      kind = "slow-fsync"      // every fsync of a node delayed
)

// allKinds is every fault class, in the order the summary lists them.
var allKinds = []kind{killAny, killLeader, killController, killTwo, pauseNode, termRestart, cutNode, cutLink, diskFull, slowFsync}

// fault is one injected fault and what was observed while it lasted.
type fault struct {
	kind      kind
	targets   []*nodes.Node
	partition int32 // for killLeader; -1 otherwise
	hold      time.Duration

	start, healed time.Time
	healthyAt     time.Time // zero if the cluster was not healthy in time
	unhealthy     string    // what was still wrong at the health deadline
	fencedUp      []int32   // brokers fenced while running at the deadline
	doctor        doctorProbe
	stall         time.Duration // longest wait of a record sent during the fault
	resumed       time.Duration // heal to the first ack, if acks had stopped; -1 otherwise
	err           error         // the nemesis could not inject or heal it
}

func (f *fault) targetIDs() []int32 {
	ids := make([]int32, len(f.targets))
	for i, n := range f.targets {
		ids[i] = n.ID
	}
	return ids
}

func (f *fault) describe() string {
	ids := f.targetIDs()
	var who string
	switch len(ids) {
	case 1:
		who = fmt.Sprintf("node %d", ids[0])
	default:
		who = fmt.Sprintf("nodes %s", joinIDs(ids))
	}
	if f.partition >= 0 {
		who += fmt.Sprintf(" (leader of %s-%d)", topic, f.partition)
	}
	return fmt.Sprintf("%s %s for %s", f.kind, who, f.hold.Round(100*time.Millisecond))
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// holdRange is how long each kind of fault lasts, drawn uniformly. Every
// hold is longer than probeAfter, so the mid-fault doctor probe sees the
// fault; a pause outlasts the default 1.5 s broker session timeout.
var holdRange = map[kind][2]time.Duration{
	killAny:        {3 * time.Second, 6 * time.Second},
	killLeader:     {3 * time.Second, 6 * time.Second},
	killController: {3 * time.Second, 6 * time.Second},
	killTwo:        {3 * time.Second, 5 * time.Second},
	pauseNode:      {3 * time.Second, 6 * time.Second},
	termRestart:    {3 * time.Second, 5 * time.Second},
	cutNode:        {3 * time.Second, 6 * time.Second},
	cutLink:        {3 * time.Second, 6 * time.Second},
	diskFull:       {3 * time.Second, 5 * time.Second},
	slowFsync:      {4 * time.Second, 7 * time.Second},
}

// fsyncDelay is what slowFsync injects: far above this disk's 0.2-1 ms.
const fsyncDelay = 200 * time.Millisecond

// nemesis draws faults from a seeded generator and injects and heals them.
// The seed fixes the sequence of kinds, holds and which node or partition
// each picks by position; which node that is (the leader of partition 2,
// say) depends on the cluster at that moment.
type nemesis struct {
	rng     *rand.Rand
	kinds   []kind
	rounds  bool   // draw kinds in rounds (drawKind)
	pending []kind // what is left of the current round
	c       *nodes.Cluster
	meta    func(ctx context.Context) (clusterMeta, error)
	hc      *http.Client
}

func newNemesis(seed uint64, kinds []kind, rounds bool) *nemesis {
	return &nemesis{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), kinds: kinds, rounds: rounds}
}

// clusterMeta is who leads what, as Metadata answers it.
type clusterMeta struct {
	controller int32
	leaders    map[int32]int32 // partition -> leader
}

// drawKind draws the next fault kind: uniformly, or with rounds, from a
// seeded permutation of every kind, refilled when used up.
func (m *nemesis) drawKind() kind {
	if !m.rounds {
		return m.kinds[m.rng.IntN(len(m.kinds))]
	}
	if len(m.pending) == 0 {
		m.pending = slices.Clone(m.kinds)
		m.rng.Shuffle(len(m.pending), func(i, j int) { m.pending[i], m.pending[j] = m.pending[j], m.pending[i] })
	}
	k := m.pending[0]
	m.pending = m.pending[1:]
	return k
}

// next draws the next fault and picks its targets.
func (m *nemesis) next(ctx context.Context, partitions int32) (*fault, error) {
	k := m.drawKind()
	r := holdRange[k]
	f := &fault{kind: k, partition: -1, hold: r[0] + time.Duration(m.rng.Int64N(int64(r[1]-r[0])))}
	pick := m.rng.IntN(len(m.c.Nodes)) // drawn for every kind, so the sequence does not depend on metadata
	pickPartition := int32(m.rng.IntN(int(partitions)))
	switch k {
	case killLeader, killController:
		md, err := m.meta(ctx)
		if err != nil {
			return nil, err
		}
		id := md.controller
		if k == killLeader {
			f.partition = pickPartition
			id = md.leaders[pickPartition]
		}
		n := m.c.Node(id)
		if n == nil {
			return nil, fmt.Errorf("%s: metadata names node %d, not one of ours", k, id)
		}
		f.targets = []*nodes.Node{n}
	case killTwo, cutLink:
		others := m.c.Others(m.c.Nodes[pick].ID)
		f.targets = []*nodes.Node{m.c.Nodes[pick], others[m.rng.IntN(len(others))]}
	default:
		f.targets = []*nodes.Node{m.c.Nodes[pick]}
	}
	slices.SortFunc(f.targets, func(a, b *nodes.Node) int { return int(a.ID - b.ID) })
	return f, nil
}

// inject starts the fault.
func (m *nemesis) inject(ctx context.Context, f *fault) error {
	c := m.c
	switch f.kind {
	case killAny, killLeader, killController, killTwo:
		for _, n := range f.targets {
			if err := c.Kill(ctx, n); err != nil {
				return err
			}
		}
	case pauseNode:
		return c.Pause(f.targets[0])
	case termRestart:
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Term(tctx, f.targets[0]); err != nil {
			return fmt.Errorf("controlled shutdown did not finish: %w", err)
		}
	case cutNode:
		return c.Cut(f.targets[0])
	case cutLink:
		return c.CutLink(f.targets[0], f.targets[1])
	case diskFull:
		return c.FillDisk(f.targets[0])
	case slowFsync:
		return setFsyncDelay(ctx, m.hc, f.targets[0], fsyncDelay)
	}
	return nil
}

// heal ends the fault: what was killed (or stopped itself, like a node
// whose disk filled) is restarted.
func (m *nemesis) heal(ctx context.Context, f *fault) error {
	c := m.c
	switch f.kind {
	case pauseNode:
		return c.Resume(f.targets[0])
	case cutNode:
		return c.Heal(f.targets[0])
	case cutLink:
		return c.HealLink(f.targets[0], f.targets[1])
	case slowFsync:
		return setFsyncDelay(ctx, m.hc, f.targets[0], 0)
	case diskFull:
		if err := c.FreeDisk(f.targets[0]); err != nil {
			return err
		}
	}
	for _, n := range f.targets {
		if !n.Running() {
			if err := c.Restart(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// faultsPath is the admin endpoint of a binary built with -tags chronik_faults.
const faultsPath = "/v1/debug/faults"

// setFsyncDelay sets (or, with 0, clears) a node's injected fsync delay.
func setFsyncDelay(ctx context.Context, hc *http.Client, n *nodes.Node, d time.Duration) error {
	body := "{}"
	if d > 0 {
		body = fmt.Sprintf(`{"fsync_delay":%q}`, d.String())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+n.AdminAddr+faultsPath, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("set the fsync delay of node %d: %w", n.ID, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("set the fsync delay of node %d: PUT %s: %s", n.ID, faultsPath, resp.Status)
	}
	return nil
}

// faultsAvailable says whether the nodes serve the fault endpoint (a binary
// built with -tags chronik_faults).
func faultsAvailable(ctx context.Context, hc *http.Client, n *nodes.Node) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.AdminAddr+faultsPath, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
