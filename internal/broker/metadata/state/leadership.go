package state

import (
	"fmt"
	"slices"
)

// Leadership and ISR changes. Every rule that picks a leader lives here, in
// the state machine, so that all nodes apply the same decision and a change
// of liveness and the elections it causes are one committed command.

// UncleanConfig is the topic config that lets a replica outside the ISR
// lead when no ISR member is alive.
const UncleanConfig = "unclean.leader.election.enable"

// Typed rejections of ISR and leadership changes, matched by the controller
// to Kafka error codes.
var (
	// ErrFencedLeaderEpoch: the request came from a leader (or leader epoch)
	// that is no longer current.
	ErrFencedLeaderEpoch = fmt.Errorf("%w: fenced leader epoch", ErrRejected)
	// ErrStalePartitionEpoch: the partition changed since the requester
	// read it (AlterPartition's compare-and-set failed).
	ErrStalePartitionEpoch = fmt.Errorf("%w: stale partition epoch", ErrRejected)
	// ErrIneligibleReplica: a replica to be added to the ISR is fenced or
	// shutting down.
	ErrIneligibleReplica = fmt.Errorf("%w: ineligible replica", ErrRejected)
	// ErrUnknownPartition: no such topic or partition.
	ErrUnknownPartition = fmt.Errorf("%w: unknown topic or partition", ErrRejected)
)

// AlterPartition is a partition leader's ISR change: a compare-and-set on
// the partition epoch, valid only from the current leader at its epoch.
type AlterPartition struct {
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	ISR            []int32 `json:"isr"`
}

// PartitionRef names one partition.
type PartitionRef struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// ElectLeaders moves leadership: preferred elections hand each partition
// to its first replica when that replica is alive and in the ISR; unclean
// elections give an offline partition to any live replica.
type ElectLeaders struct {
	Unclean    bool           `json:"unclean,omitempty"`
	Partitions []PartitionRef `json:"partitions"`
}

// ShutdownBroker is a broker's controlled shutdown: it is fenced at once
// (its leaderships move, it leaves every ISR) and stays fenced until it
// registers again.
type ShutdownBroker struct {
	ID int32 `json:"id"`
}

// Live reports whether broker id is registered and not fenced.
func (s *State) Live(id int32) bool {
	b, ok := s.Brokers[id]
	return ok && !b.Fenced
}

// Partition returns a partition of a topic.
func (s *State) Partition(topic string, partition int32) (*Partition, bool) {
	t, ok := s.Topics[topic]
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, false
	}
	return &t.Partitions[partition], true
}

// ChooseLeader is the leader a partition should have now: the first replica
// in assignment order that is alive and in the ISR; failing that, with
// unclean election allowed, the first live replica (whose ISR is then just
// itself); failing that -1 (offline). The ISR to go with it is returned.
func (s *State) ChooseLeader(t *Topic, p *Partition, unclean bool) (int32, []int32) {
	for _, r := range p.Replicas {
		if slices.Contains(p.ISR, r) && s.Live(r) {
			return r, p.ISR
		}
	}
	if unclean || t.Configs[UncleanConfig] == "true" {
		for _, r := range p.Replicas {
			if s.Live(r) {
				return r, []int32{r}
			}
		}
	}
	return -1, p.ISR
}

// setLeader installs a leader and ISR, bumping the leader epoch when the
// leader changes and the partition epoch on any change.
func setLeader(p *Partition, leader int32, isr []int32) {
	if leader == p.Leader && slices.Equal(isr, p.ISR) {
		return
	}
	if leader != p.Leader {
		p.Leader = leader
		p.LeaderEpoch++
	}
	p.ISR = slices.Clone(isr)
	p.PartitionEpoch++
}

// fenceBroker marks a broker fenced, removes it from every ISR it is not the
// last member of (the last member stays so that it can lead again without
// loss), and elects new leaders where it led.
func (s *State) fenceBroker(id int32, shutdown bool) {
	b := s.Brokers[id]
	b.Fenced = true
	b.ShutDown = b.ShutDown || shutdown
	for _, t := range s.Topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			isr := p.ISR
			if slices.Contains(isr, id) && len(isr) > 1 {
				isr = slices.DeleteFunc(slices.Clone(isr), func(r int32) bool { return r == id })
			}
			leader := p.Leader
			if leader == id || leader == -1 {
				q := *p
				q.ISR = isr
				leader, isr = s.ChooseLeader(t, &q, false)
			}
			setLeader(p, leader, isr)
		}
	}
}

// electOffline gives every partition without a leader the leader it can
// have now (after a broker came back).
func (s *State) electOffline() {
	for _, t := range s.Topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if p.Leader != -1 {
				continue
			}
			leader, isr := s.ChooseLeader(t, p, false)
			if leader != -1 {
				setLeader(p, leader, isr)
			}
		}
	}
}

// applyRegisterBroker records a broker. A new incarnation of a broker that was
// alive is a restart the controller did not see: it is treated as fenced and
// unfenced at once, so its leaderships move to replicas that kept running
// (its own log may have lost an unsynced tail) and it rejoins ISRs by
// catching up.
func (s *State) applyRegisterBroker(c RegisterBroker) error {
	b := c.Broker
	if err := s.checkRegistration(b); err != nil {
		return err
	}
	if old, ok := s.Brokers[b.ID]; ok && !old.Fenced && old.Incarnation != b.Incarnation {
		s.fenceBroker(b.ID, false)
	}
	b.Fenced, b.ShutDown = false, false
	s.Brokers[b.ID] = &b
	s.electOffline()
	return nil
}

func (s *State) applyFenceBroker(c FenceBroker) error {
	if _, ok := s.Brokers[c.ID]; !ok {
		return rejectf("broker %d is not registered", c.ID)
	}
	s.fenceBroker(c.ID, false)
	return nil
}

// applyShutdownBroker takes a FenceBroker: the controller proposes one, and
// the payload has the same shape.
func (s *State) applyShutdownBroker(c FenceBroker) error {
	if _, ok := s.Brokers[c.ID]; !ok {
		return rejectf("broker %d is not registered", c.ID)
	}
	s.fenceBroker(c.ID, true)
	return nil
}

func (s *State) applyUnfenceBroker(c FenceBroker) error {
	b, ok := s.Brokers[c.ID]
	switch {
	case !ok:
		return rejectf("broker %d is not registered", c.ID)
	case b.ShutDown:
		return rejectf("broker %d shut down; it returns by registering again", c.ID)
	}
	b.Fenced = false
	s.electOffline()
	return nil
}

func (s *State) applyAlterPartition(a AlterPartition) error {
	p, ok := s.Partition(a.Topic, a.Partition)
	if !ok {
		return fmt.Errorf("%w: %s-%d", ErrUnknownPartition, a.Topic, a.Partition)
	}
	switch {
	case p.Leader != a.Leader || p.LeaderEpoch != a.LeaderEpoch:
		return fmt.Errorf("%w: %s-%d is led by %d at epoch %d, not %d at %d",
			ErrFencedLeaderEpoch, a.Topic, a.Partition, p.Leader, p.LeaderEpoch, a.Leader, a.LeaderEpoch)
	case p.PartitionEpoch != a.PartitionEpoch:
		return fmt.Errorf("%w: %s-%d is at partition epoch %d, not %d",
			ErrStalePartitionEpoch, a.Topic, a.Partition, p.PartitionEpoch, a.PartitionEpoch)
	case len(a.ISR) == 0 || !slices.Contains(a.ISR, a.Leader):
		return rejectf("%s-%d: ISR %v must contain the leader %d", a.Topic, a.Partition, a.ISR, a.Leader)
	}
	for i, r := range a.ISR {
		if !slices.Contains(p.Replicas, r) || slices.Contains(a.ISR[:i], r) {
			return rejectf("%s-%d: ISR %v is not a set of replicas %v", a.Topic, a.Partition, a.ISR, p.Replicas)
		}
		if !slices.Contains(p.ISR, r) && !s.Live(r) {
			return fmt.Errorf("%w: %s-%d: broker %d is fenced", ErrIneligibleReplica, a.Topic, a.Partition, r)
		}
	}
	setLeader(p, p.Leader, a.ISR)
	return nil
}

func (s *State) applyElectLeaders(e ElectLeaders) error {
	for _, ref := range e.Partitions {
		t, ok := s.Topics[ref.Topic]
		p, found := s.Partition(ref.Topic, ref.Partition)
		if !ok || !found {
			continue
		}
		if e.Unclean {
			if p.Leader == -1 {
				if leader, isr := s.ChooseLeader(t, p, true); leader != -1 {
					setLeader(p, leader, isr)
				}
			}
			continue
		}
		if pref := p.Replicas[0]; p.Leader != pref && slices.Contains(p.ISR, pref) && s.Live(pref) {
			setLeader(p, pref, p.ISR)
		}
	}
	return nil
}
