package server

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replica"
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

func (s nodeSource) Brokers() api.Brokers {
	controllerID, leading, bs := s.n.Brokers()
	now := time.Now()
	out := api.Brokers{ControllerID: controllerID, Controller: leading, Brokers: []api.BrokerInfo{}}
	for _, b := range bs {
		out.Brokers = append(out.Brokers, api.BrokerInfo{
			ID: b.ID, KafkaAddr: b.KafkaAddr, ClusterAddr: b.ClusterAddr, AdminAddr: b.AdminAddr, Rack: b.Rack,
			Fenced: b.Fenced, ShutDown: b.ShutDown, Controller: b.ID == controllerID,
			LastHeartbeatSeconds: ago(b.LastContact, now),
		})
	}
	return out
}

func (s nodeSource) Partitions() []api.PartitionInfo {
	now := time.Now()
	views := s.n.Partitions()
	out := make([]api.PartitionInfo, 0, len(views))
	for _, v := range views {
		p := partitionInfo(v, now)
		if st, ok := s.n.PartitionCleaner(v.Topic, v.Partition); ok {
			p.Cleaner = partitionCleaner(st, now)
		}
		if t, ok := s.n.PartitionTxns(v.Topic, v.Partition); ok {
			partitionTxns(&p, t, now)
		}
		out = append(out, p)
	}
	return out
}

func partitionInfo(v broker.PartitionView, now time.Time) api.PartitionInfo {
	p := api.PartitionInfo{
		Topic: v.Topic, Partition: v.Partition, Leader: v.Leader, LeaderEpoch: v.LeaderEpoch,
		PartitionEpoch: v.PartitionEpoch, Replicas: nonNilIDs(v.Replicas), ISR: nonNilIDs(v.ISR),
		AddingReplicas: v.AddingReplicas, RemovingReplicas: v.RemovingReplicas,
		MinISR: v.MinISR, LagTimeMaxSeconds: v.LagTimeMax.Seconds(), Running: v.Running,
		LogStartOffset: v.LogStartOffset, LogEndOffset: v.LogEndOffset, HighWatermark: v.HighWatermark,
		AcksAllWaiting: v.AcksAllWaiting, AcksAllOldestWaitSeconds: v.AcksAllOldest.Seconds(),
	}
	switch {
	case v.Leader < 0:
		p.Role = api.ReplicaOffline
	case v.IsLeader:
		p.Role = api.ReplicaLeader
	default:
		p.Role = api.ReplicaFollower
	}
	for _, f := range v.Followers {
		rs := api.ReplicaState{
			ID: f.ID, LogEndOffset: f.LogEndOffset, Lag: max(v.LogEndOffset-f.LogEndOffset, 0),
			InISR: f.InISR, Lagging: f.Lagging,
			LastCaughtUpSeconds: ago(f.LastCaughtUp, now), LastFetchSeconds: ago(f.LastFetch, now),
		}
		if slices.Contains(v.AddingReplicas, f.ID) {
			addingProgress(&rs, v, f, now)
		}
		p.Followers = append(p.Followers, rs)
	}
	if v.Fetcher != nil {
		p.Fetcher = &api.FetcherState{Leader: v.Fetcher.Leader, Running: v.Fetcher.Running,
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

func (s nodeSource) Reconcile() api.Reconcile {
	v := s.n.Reconcile()
	conv := func(refs []broker.TopicPartitionRef) []api.TopicPartition {
		out := []api.TopicPartition{}
		for _, r := range refs {
			out = append(out, api.TopicPartition{Topic: r.Topic, Partition: r.Partition})
		}
		return out
	}
	out := api.Reconcile{Expected: conv(v.Expected), Running: conv(v.Running), CaughtUp: v.CaughtUp,
		Missing: []api.TopicPartition{}, Extra: []api.TopicPartition{}}
	running := map[api.TopicPartition]bool{}
	for _, r := range out.Running {
		running[r] = true
	}
	expected := map[api.TopicPartition]bool{}
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

func (s nodeSource) CreateTopic(ctx context.Context, req api.CreateTopicRequest) (api.TopicCreated, error) {
	t, err := s.n.CreateTopic(ctx, controller.CreateTopic{
		Name: req.Name, Partitions: req.Partitions, ReplicationFactor: req.ReplicationFactor, Configs: req.Configs,
	})
	if err != nil {
		return api.TopicCreated{}, mutationError(err)
	}
	out := api.TopicCreated{Name: t.Name, ID: hex.EncodeToString(t.ID[:]), Partitions: []api.PartitionInfo{}}
	for i, p := range t.Partitions {
		out.Partitions = append(out.Partitions, api.PartitionInfo{Topic: t.Name, Partition: int32(i), Leader: p.Leader,
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

func (s nodeSource) ElectLeaders(ctx context.Context, req api.ElectLeadersRequest) (api.ElectLeadersResult, error) {
	var refs []state.PartitionRef
	for _, p := range req.Partitions {
		refs = append(refs, state.PartitionRef{Topic: p.Topic, Partition: p.Partition})
	}
	results, err := s.n.ElectLeaders(ctx, req.Type == "unclean", refs)
	if err != nil {
		return api.ElectLeadersResult{}, mutationError(err)
	}
	out := api.ElectLeadersResult{Results: []api.ElectionResult{}}
	for _, r := range results {
		er := api.ElectionResult{Topic: r.Ref.Topic, Partition: r.Ref.Partition}
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
	status, c := http.StatusBadRequest, api.CodeBadRequest
	switch {
	case errors.Is(code, kerr.TopicAlreadyExists):
		status, c = http.StatusConflict, api.CodeConflict
	case errors.Is(code, kerr.UnknownTopicOrPartition):
		status, c = http.StatusNotFound, api.CodeNotFound
	case errors.Is(code, kerr.RequestTimedOut), errors.Is(code, kerr.NotController), errors.Is(code, kerr.UnknownServerError):
		status, c = http.StatusServiceUnavailable, api.CodeUnavailable
	}
	return &MutationError{Status: status, Code: c, Message: msg}
}

// addingProgress fills in how far an adding replica's copy is: bytes left
// and rate are estimates from the leader's average bytes per offset (the
// leader knows offsets, not the follower's byte position).
func addingProgress(rs *api.ReplicaState, v broker.PartitionView, f replica.FollowerInfo, now time.Time) {
	rs.Adding = true
	perOffset := 0.0
	if n := v.LogEndOffset - v.LogStartOffset; n > 0 && v.LogBytes > 0 {
		perOffset = float64(v.LogBytes) / float64(n)
	}
	left := int64(float64(rs.Lag) * perOffset)
	rate := f.OffsetsPerSecond * perOffset
	rs.BytesLeft, rs.CopyBytesPerSecond = &left, &rate
	rs.LastAdvanceSeconds = ago(f.LastAdvance, now)
}
