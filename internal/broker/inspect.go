package broker

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/chronik-dev/chronik/internal/broker/replication"
)

// What the admin API reads from a running node. Every number comes from
// this node: its applied metadata, its replicas, its fetchers, and (on the
// controller) its liveness tracking.

// PartitionView is one partition replica this node hosts (or metadata says
// it hosts): metadata as applied here and the replica's own state.
type PartitionView struct {
	Topic          string
	Partition      int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
	// AddingReplicas and RemovingReplicas: a reassignment in progress.
	AddingReplicas   []int32
	RemovingReplicas []int32
	MinISR           int // effective: topicconfig.Config.EffectiveMinISR
	LagTimeMax       time.Duration
	Running          bool // a replica runs here
	IsLeader         bool
	LogStartOffset   int64
	LogEndOffset     int64
	HighWatermark    int64
	LogBytes         int64                  // size of the local log
	Followers        []replica.FollowerInfo // on the leader
	AcksAllWaiting   int
	AcksAllOldest    time.Duration
	Fetcher          *FetcherView // on a follower
}

// FetcherView is a follower's fetch loop to one leader.
type FetcherView struct {
	Leader    int32
	Running   bool
	LastFetch time.Time // zero: no answered fetch yet
	LastError string
}

// Partitions lists the partitions metadata says this node hosts, and any
// replica still running here that metadata no longer names, sorted.
func (n *Node) Partitions() []PartitionView {
	s := n.raft.State()
	self := n.cfg.NodeID
	var out []PartitionView
	seen := map[replication.TopicPartition]bool{}
	for name, hosted := range s.HostedBy(self) {
		t := s.Topics[name]
		cfg, err := n.controller.EffectiveConfig(t)
		if err != nil {
			cfg = n.controller.Defaults()
		}
		for _, i := range hosted {
			p := t.Partitions[i]
			v := PartitionView{
				Topic: name, Partition: i, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
				PartitionEpoch: p.PartitionEpoch, Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR),
				AddingReplicas: slices.Clone(p.AddingReplicas), RemovingReplicas: slices.Clone(p.RemovingReplicas),
				MinISR:     cfg.EffectiveMinISR(len(p.Replicas)),
				LagTimeMax: time.Duration(cfg.ReplicaLagTimeMaxMs) * time.Millisecond,
			}
			n.fillReplica(&v)
			out = append(out, v)
			seen[replication.TopicPartition{Topic: name, Partition: i}] = true
		}
	}
	for _, p := range n.replicas.All() {
		if seen[replication.TopicPartition{Topic: p.Topic, Partition: p.Index}] {
			continue
		}
		r := p.Role()
		v := PartitionView{Topic: p.Topic, Partition: p.Index, Leader: r.LeaderID, LeaderEpoch: r.LeaderEpoch,
			PartitionEpoch: r.PartitionEpoch, Replicas: r.Replicas, ISR: r.ISR}
		n.fillReplica(&v)
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// fillReplica adds what the local replica (if it runs) knows.
func (n *Node) fillReplica(v *PartitionView) {
	p := n.replicas.Get(v.Topic, v.Partition)
	if p == nil {
		v.HighWatermark, v.LogStartOffset, v.LogEndOffset = -1, -1, -1
		return
	}
	v.Running = true
	v.IsLeader = p.IsLeader()
	v.LogStartOffset, v.LogEndOffset, v.HighWatermark = p.LogStartOffset(), p.LogEndOffset(), p.HighWatermark()
	v.LogBytes = p.LogBytes()
	if v.IsLeader {
		v.Followers = p.Followers()
		v.AcksAllWaiting, v.AcksAllOldest = p.AcksAllWaiting()
		return
	}
	if v.Leader >= 0 && v.Leader != n.cfg.NodeID {
		v.Fetcher = n.fetcherView(v.Leader)
	}
}

// BrokerView is one registered broker as this node sees it.
type BrokerView struct {
	state.Broker
	// LastContact is when the controller last heard from the broker; set
	// only on the controller (for itself: now).
	LastContact time.Time
}

// Brokers lists the registered brokers, sorted by id, with the controller's
// last contact when this node is the controller.
func (n *Node) Brokers() (controllerID int32, isController bool, brokers []BrokerView) {
	s := n.raft.State()
	_, leading, contact := n.activity()
	controllerID = n.ControllerID()
	for _, b := range s.Brokers {
		v := BrokerView{Broker: *b}
		if leading {
			if b.ID == n.cfg.NodeID {
				v.LastContact = time.Now()
			} else {
				v.LastContact = contact[b.ID]
			}
		}
		brokers = append(brokers, v)
	}
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].ID < brokers[j].ID })
	return controllerID, leading, brokers
}

// ReconcileView compares the replicas metadata says this node hosts with
// the replicas running here.
type ReconcileView struct {
	Expected, Running []TopicPartitionRef
	CaughtUp          bool // metadata caught up with the raft leader
}

// TopicPartitionRef names one partition.
type TopicPartitionRef struct {
	Topic     string
	Partition int32
}

// Reconcile reports expected against running replicas.
func (n *Node) Reconcile() ReconcileView {
	s := n.raft.State()
	v := ReconcileView{CaughtUp: n.raft.Ready()}
	for name, parts := range s.HostedBy(n.cfg.NodeID) {
		for _, p := range parts {
			v.Expected = append(v.Expected, TopicPartitionRef{name, p})
		}
	}
	for _, p := range n.replicas.All() {
		v.Running = append(v.Running, TopicPartitionRef{p.Topic, p.Index})
	}
	less := func(a, b TopicPartitionRef) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	}
	slices.SortFunc(v.Expected, less)
	slices.SortFunc(v.Running, less)
	return v
}

// CreateTopic creates a topic through the controller (raft), as
// CreateTopics does, and returns it once applied here.
func (n *Node) CreateTopic(ctx context.Context, req controller.CreateTopic) (*state.Topic, error) {
	return n.controller.CreateTopic(ctx, req)
}

// DeleteTopic deletes a topic through the controller.
func (n *Node) DeleteTopic(ctx context.Context, name string) error {
	return n.controller.DeleteTopic(ctx, name)
}

// ElectLeaders runs preferred (or unclean) elections through the controller.
func (n *Node) ElectLeaders(ctx context.Context, unclean bool, refs []state.PartitionRef) ([]controller.ElectionResult, error) {
	return n.controller.ElectLeaders(ctx, unclean, refs)
}
