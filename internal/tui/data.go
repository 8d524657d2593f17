package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// What the views show, derived from an applied snapshot in Update so that
// View only formats.

// historyWindow is how far back the detail view's sparklines reach, and
// historyMax bounds the samples kept per partition whatever the refresh.
const (
	historyWindow = time.Minute
	historyMax    = 120
)

// sample is one refresh's positions of a partition: its high watermark and
// each replica's log end offset (the leader's own included), as the leader
// reported them.
type sample struct {
	at  time.Time
	hw  int64
	leo map[int32]int64
}

// history is a partition's samples, oldest first, bounded in age and count.
type history []sample

func (h history) add(s sample) history {
	h = append(h, s)
	cut := 0
	for cut < len(h) && s.at.Sub(h[cut].at) > historyWindow {
		cut++
	}
	if n := len(h) - cut; n > historyMax {
		cut = len(h) - historyMax
	}
	if cut > 0 {
		h = slices.Clone(h[cut:]) // let the dropped samples go
	}
	return h
}

// trend is a partition's max lag compared with the previous refresh.
type trend int

const (
	trendUnknown trend = iota // no previous value, or the leader did not answer
	trendUp
	trendDown
	trendFlat
)

func (t trend) arrow() string {
	switch t {
	case trendUp:
		return "↑"
	case trendDown:
		return "↓"
	case trendFlat:
		return "→"
	}
	return " "
}

func tpOf(r api.PartitionRow) api.TopicPartition {
	return api.TopicPartition{Topic: r.Topic, Partition: r.Partition}
}

func tpName(tp api.TopicPartition) string {
	return tp.Topic + "-" + strconv.Itoa(int(tp.Partition))
}

// sortColumn is a column the partitions table can be sorted by; `s` cycles
// through them in this order.
type sortColumn int

const (
	sortTopic sortColumn = iota
	sortLeader
	sortEpoch
	sortISR
	sortHW
	sortLag
	sortStatus
	numSortColumns
)

func (c sortColumn) String() string {
	return [...]string{"topic", "leader", "epoch", "ISR", "HW", "max lag", "status"}[c]
}

// compareRows orders two rows by column c in its natural direction
// (topics A-Z, leaders by id, the rest worst or largest first), ties by
// topic and partition.
func compareRows(c sortColumn, a, b api.PartitionRow) int {
	var r int
	switch c {
	case sortLeader:
		r = cmp.Compare(a.Leader, b.Leader)
	case sortEpoch:
		r = cmp.Compare(b.LeaderEpoch, a.LeaderEpoch)
	case sortISR:
		r = cmp.Compare(len(a.ISR), len(b.ISR)) // smallest ISR first
	case sortHW:
		r = cmp.Compare(b.HighWatermark, a.HighWatermark)
	case sortLag:
		r = cmp.Compare(b.MaxLag, a.MaxLag)
	case sortStatus:
		r = cmp.Compare(api.StatusRank(a.Status), api.StatusRank(b.Status))
	}
	return cmp.Or(r, cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// filter is a parsed partitions filter: whitespace-separated tokens, case
// insensitive. A bare word is a substring of the topic; status:WORD a
// substring of the status (status:stall, status:under-min); leader:N and
// node:N a leader or a replica id. Tokens of one kind are alternatives,
// kinds must all match.
type filter struct {
	topics, statuses []string
	leaders, nodes   []int32
	bad              []string // tokens that do not parse, shown to the user
}

func parseFilter(s string) filter {
	var f filter
	for _, tok := range strings.Fields(strings.ToLower(s)) {
		k, v, ok := strings.Cut(tok, ":")
		if !ok {
			f.topics = append(f.topics, tok)
			continue
		}
		switch k {
		case "topic":
			f.topics = append(f.topics, v)
		case "status":
			f.statuses = append(f.statuses, strings.ReplaceAll(v, "-", "_"))
		case "leader", "node", "replica":
			id, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				f.bad = append(f.bad, tok)
				continue
			}
			if k == "leader" {
				f.leaders = append(f.leaders, int32(id))
			} else {
				f.nodes = append(f.nodes, int32(id))
			}
		default:
			// Topic names cannot hold ':', so this is a mistyped key.
			f.bad = append(f.bad, tok)
		}
	}
	return f
}

func (f filter) match(r api.PartitionRow) bool {
	anyOf := func(terms []string, s string) bool {
		if len(terms) == 0 {
			return true
		}
		s = strings.ToLower(s)
		for _, t := range terms {
			if strings.Contains(s, t) {
				return true
			}
		}
		return false
	}
	if !anyOf(f.topics, r.Topic) || !anyOf(f.statuses, r.Status) {
		return false
	}
	if len(f.leaders) > 0 && !slices.Contains(f.leaders, r.Leader) {
		return false
	}
	if len(f.nodes) > 0 && !slices.ContainsFunc(f.nodes, func(id int32) bool { return slices.Contains(r.Replicas, id) }) {
		return false
	}
	return true
}

// nodeRow is one node in the overview and raft views: what it says of
// itself, what the controller says of it, and what the raft leader knows
// of its replication.
type nodeRow struct {
	id         int32 // -1 when unknown (it never answered and nobody names its address)
	admin      string
	state      string // up, fenced, shut down, unreachable (fenced)
	down       bool   // did not answer
	err        string // why it did not answer
	controller bool
	raft       *api.RaftStatus
	peer       *api.RaftPeer // the raft leader's record of it
	heartbeat  *float64      // seconds since the controller heard from it
}

// nodeRows merges the view's nodes with the controller's broker list
// (brokers that no node answered for still show up) and the raft leader's
// peer records.
func nodeRows(v api.ClusterView) []nodeRow {
	byID := map[int32]*nodeRow{}
	var out []*nodeRow
	get := func(id int32) *nodeRow {
		if id >= 0 {
			if r, ok := byID[id]; ok {
				return r
			}
		}
		r := &nodeRow{id: id} // state set below: up only once it answered
		if id >= 0 {
			byID[id] = r
		}
		out = append(out, r)
		return r
	}
	for _, n := range v.Nodes {
		r := get(n.NodeID)
		r.admin = n.Admin
		if n.Pending {
			r.state, r.err, r.down = "waiting", n.Error, true // a partial view
			continue
		}
		if !n.Reachable() {
			r.state, r.err, r.down = "unreachable", n.Error, true
			continue
		}
		r.raft, r.state = n.Raft, "up"
		if n.Node != nil && n.Node.Fenced {
			r.state = "fenced"
		}
	}
	if list := v.BrokerList(); list != nil {
		for _, b := range list.Brokers {
			r := get(b.ID)
			r.controller = b.Controller || b.ID == list.ControllerID
			if list.Controller {
				r.heartbeat = b.LastHeartbeatSeconds
			}
			if r.state == "" {
				// Named by the broker list only: nobody asked it.
				if b.AdminAddr != "" {
					r.admin = "http://" + b.AdminAddr
				}
				r.state, r.down = "unreachable", true
				r.err = "not asked: no admin address registered"
			}
			if r.down {
				switch {
				case r.state == "waiting":
				case b.ShutDown:
					r.state = "unreachable, shut down"
				case b.Fenced:
					r.state = "unreachable, fenced"
				}
				continue
			}
			switch {
			case b.ShutDown:
				r.state = "shut down"
			case b.Fenced:
				r.state = "fenced"
			}
		}
	}
	if lv, ok := raftLeader(v); ok {
		for i := range lv.Raft.Peers {
			p := &lv.Raft.Peers[i]
			get(int32(p.ID)).peer = p
		}
	}
	rows := make([]nodeRow, 0, len(out))
	for _, r := range out {
		if r.state == "" {
			// Only the raft leader knows of it.
			r.state, r.down, r.err = "unknown", true, "not asked: only the raft leader names it"
		}
		rows = append(rows, *r)
	}
	slices.SortStableFunc(rows, func(a, b nodeRow) int { return api.CompareNodeIDs(a.id, b.id) })
	return rows
}

// raftLeader is the answering node that says it leads raft, the highest
// term winning (a deposed leader may not know yet).
func raftLeader(v api.ClusterView) (api.NodeView, bool) {
	var best api.NodeView
	found := false
	for _, n := range v.Nodes {
		if n.Raft == nil || n.Raft.Role != api.RoleLeader {
			continue
		}
		if !found || n.Raft.Term > best.Raft.Term {
			best, found = n, true
		}
	}
	return best, found
}

// fetcherOf is the fetch loop a follower reports for tp, from its own
// answer.
func fetcherOf(v api.ClusterView, tp api.TopicPartition, node int32) (*api.FetcherState, bool) {
	for _, n := range v.Nodes {
		if n.NodeID != node || n.Partitions == nil {
			continue
		}
		for _, p := range n.Partitions.Partitions {
			if p.Topic == tp.Topic && p.Partition == tp.Partition {
				return p.Fetcher, true
			}
		}
	}
	return nil, false
}

// electTargets are the admin URLs to send a mutation to: the nodes that
// answered, the controller first; every node when none answered.
func electTargets(v api.ClusterView) []string {
	var ctl int32 = api.NoController
	for _, n := range v.Nodes {
		if n.Node != nil && n.Node.ControllerID >= 0 {
			ctl = n.Node.ControllerID
			break
		}
	}
	var up, down []string
	for _, n := range v.Nodes {
		switch {
		case !n.Reachable():
			down = append(down, n.Admin)
		case n.NodeID == ctl:
			up = append([]string{n.Admin}, up...)
		default:
			up = append(up, n.Admin)
		}
	}
	if len(up) == 0 {
		return down
	}
	return up
}

// findingKey identifies a finding across refreshes, so the selection stays
// on it when the list changes.
func findingKey(f api.Finding) string {
	var b strings.Builder
	b.WriteString(f.Code)
	b.WriteByte('|')
	b.WriteString(f.Topic)
	if f.Partition != nil {
		b.WriteString("-" + strconv.Itoa(int(*f.Partition)))
	}
	if f.Node != nil {
		b.WriteString("|n" + strconv.Itoa(int(*f.Node)))
	}
	return b.String()
}

// byCause orders findings cause by cause, in the causes' order, and says
// which cause each is under. Correlate puts every finding under exactly
// one cause; one it missed would go last, under none (-1).
func byCause(fs []api.Finding, causes []api.Cause) ([]api.Finding, []int) {
	out := make([]api.Finding, 0, len(fs))
	of := make([]int, 0, len(fs))
	placed := make([]bool, len(fs))
	for ci, c := range causes {
		for _, i := range c.Findings {
			if i >= 0 && i < len(fs) && !placed[i] {
				placed[i] = true
				out = append(out, fs[i])
				of = append(of, ci)
			}
		}
	}
	for i, f := range fs {
		if !placed[i] {
			out = append(out, f)
			of = append(of, -1)
		}
	}
	return out, of
}
