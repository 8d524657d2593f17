package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The cluster endpoints of a running node (nodeSource implements
// ClusterSource).

func ago(t time.Time, now time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	s := max(now.Sub(t).Seconds(), 0)
	return &s
}

func (s nodeSource) Brokers() Brokers {
	controllerID, leading, bs := s.n.Brokers()
	now := time.Now()
	out := Brokers{ControllerID: controllerID, Controller: leading, Brokers: []BrokerInfo{}}
	for _, b := range bs {
		out.Brokers = append(out.Brokers, BrokerInfo{
			ID: b.ID, KafkaAddr: b.KafkaAddr, ClusterAddr: b.ClusterAddr, AdminAddr: b.AdminAddr,
			Fenced: b.Fenced, ShutDown: b.ShutDown, Controller: b.ID == controllerID,
			LastHeartbeatSeconds: ago(b.LastContact, now),
		})
	}
	return out
}

func (s nodeSource) Partitions() []PartitionInfo {
	now := time.Now()
	views := s.n.Partitions()
	out := make([]PartitionInfo, 0, len(views))
	for _, v := range views {
		out = append(out, partitionInfo(v, now))
	}
	return out
}

func partitionInfo(v broker.PartitionView, now time.Time) PartitionInfo {
	p := PartitionInfo{
		Topic: v.Topic, Partition: v.Partition, Leader: v.Leader, LeaderEpoch: v.LeaderEpoch,
		PartitionEpoch: v.PartitionEpoch, Replicas: nonNilIDs(v.Replicas), ISR: nonNilIDs(v.ISR),
		MinISR: v.MinISR, LagTimeMaxSeconds: v.LagTimeMax.Seconds(), Running: v.Running,
		LogStartOffset: v.LogStartOffset, LogEndOffset: v.LogEndOffset, HighWatermark: v.HighWatermark,
		AcksAllWaiting: v.AcksAllWaiting, AcksAllOldestWaitSeconds: v.AcksAllOldest.Seconds(),
	}
	switch {
	case v.Leader < 0:
		p.Role = ReplicaOffline
	case v.IsLeader:
		p.Role = ReplicaLeader
	default:
		p.Role = ReplicaFollower
	}
	for _, f := range v.Followers {
		p.Followers = append(p.Followers, ReplicaState{
			ID: f.ID, LogEndOffset: f.LogEndOffset, Lag: max(v.LogEndOffset-f.LogEndOffset, 0),
			InISR: f.InISR, Lagging: f.Lagging,
			LastCaughtUpSeconds: ago(f.LastCaughtUp, now), LastFetchSeconds: ago(f.LastFetch, now),
		})
	}
	if v.Fetcher != nil {
		p.Fetcher = &FetcherState{Leader: v.Fetcher.Leader, Running: v.Fetcher.Running,
			LastFetchSeconds: ago(v.Fetcher.LastFetch, now), LastError: v.Fetcher.LastError}
	}
	return p
}

func nonNilIDs(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

func (s nodeSource) Reconcile() Reconcile {
	v := s.n.Reconcile()
	conv := func(refs []broker.TopicPartitionRef) []TopicPartition {
		out := []TopicPartition{}
		for _, r := range refs {
			out = append(out, TopicPartition{Topic: r.Topic, Partition: r.Partition})
		}
		return out
	}
	out := Reconcile{Expected: conv(v.Expected), Running: conv(v.Running), CaughtUp: v.CaughtUp,
		Missing: []TopicPartition{}, Extra: []TopicPartition{}}
	running := map[TopicPartition]bool{}
	for _, r := range out.Running {
		running[r] = true
	}
	expected := map[TopicPartition]bool{}
	for _, e := range out.Expected {
		expected[e] = true
		if !running[e] {
			out.Missing = append(out.Missing, e)
		}
	}
	for _, r := range out.Running {
		if !expected[r] {
			out.Extra = append(out.Extra, r)
		}
	}
	return out
}

func (s nodeSource) CreateTopic(ctx context.Context, req CreateTopicRequest) (TopicCreated, error) {
	t, err := s.n.CreateTopic(ctx, controller.CreateTopic{
		Name: req.Name, Partitions: req.Partitions, ReplicationFactor: req.ReplicationFactor, Configs: req.Configs,
	})
	if err != nil {
		return TopicCreated{}, mutationError(err)
	}
	out := TopicCreated{Name: t.Name, ID: hex.EncodeToString(t.ID[:]), Partitions: []PartitionInfo{}}
	for i, p := range t.Partitions {
		out.Partitions = append(out.Partitions, PartitionInfo{Topic: t.Name, Partition: int32(i), Leader: p.Leader,
			LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, Replicas: nonNilIDs(p.Replicas), ISR: nonNilIDs(p.ISR)})
	}
	return out, nil
}

func (s nodeSource) DeleteTopic(ctx context.Context, name string) error {
	if err := s.n.DeleteTopic(ctx, name); err != nil {
		return mutationError(err)
	}
	return nil
}

func (s nodeSource) ElectLeaders(ctx context.Context, req ElectLeadersRequest) (ElectLeadersResult, error) {
	var refs []state.PartitionRef
	for _, p := range req.Partitions {
		refs = append(refs, state.PartitionRef{Topic: p.Topic, Partition: p.Partition})
	}
	results, err := s.n.ElectLeaders(ctx, req.Type == "unclean", refs)
	if err != nil {
		return ElectLeadersResult{}, mutationError(err)
	}
	out := ElectLeadersResult{Results: []ElectionResult{}}
	for _, r := range results {
		er := ElectionResult{Topic: r.Ref.Topic, Partition: r.Ref.Partition}
		if r.Err != nil {
			er.Error, er.Message = r.Err.Code.Message, r.Err.Message
		}
		out.Results = append(out.Results, er)
	}
	return out, nil
}

// mutationError maps the controller's Kafka error codes to HTTP answers.
func mutationError(err error) error {
	code := controller.Code(err)
	msg := err.Error()
	status, c := http.StatusBadRequest, CodeBadRequest
	switch {
	case errors.Is(code, kerr.TopicAlreadyExists):
		status, c = http.StatusConflict, CodeConflict
	case errors.Is(code, kerr.UnknownTopicOrPartition):
		status, c = http.StatusNotFound, CodeNotFound
	case errors.Is(code, kerr.RequestTimedOut), errors.Is(code, kerr.NotController), errors.Is(code, kerr.UnknownServerError):
		status, c = http.StatusServiceUnavailable, CodeUnavailable
	}
	return &MutationError{Status: status, Code: c, Message: msg}
}
