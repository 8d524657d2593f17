package kafka

// Metadata, versions 0-12.
//
// Lists the live (registered, unfenced) brokers and the controller (the raft
// leader); partitions carry leader, leader epoch, replicas, ISR and the
// replicas that are offline, all from the replicated metadata. A null topic list
// (or an empty one at v0) means every topic, internal ones included. A
// requested topic that does not exist is created when auto-creation is on
// and the request allows it (v4+ AllowAutoTopicCreation; always before v4)
// — synchronously, so the answer already carries its partitions. Invalid
// names get INVALID_TOPIC_EXCEPTION, unknown ones UNKNOWN_TOPIC_OR_PARTITION
// (UNKNOWN_TOPIC_ID when asked by id, v10+).
//
// A partition whose leader this node knows is gone answers
// LEADER_NOT_AVAILABLE with leader -1, as Kafka does for a partition
// without a leader, before the controller has moved the leadership: the
// leader is fenced, or its cluster address refused this node's last dial
// (BackendConfig.PeerReach; its process is gone). librdkafka and
// kafka-python ask again within a few hundred milliseconds. Silence alone
// (a stopped or slow leader) changes nothing here.
//
// A request that names such a topic is held until the controller has
// elected another leader (or the old one is back), at most
// BackendConfig.GoneLeaderWait, and then answered; so is one that arrives
// while this node's connection to the leader has just broken (within
// suspectWindow) and its redial has not said yet whether the process is
// gone. A client that is told "no leader", or the dead leader without an
// error, may not ask again for seconds (franz-go's producer waits out its
// 5 s minimum metadata age), while one held for the few hundred
// milliseconds an election takes learns the new leader in its first
// refresh. Requests for every topic (listing tools) are never held.
//
// With an authorizer, topics the principal may not DESCRIBE are left out of
// a list of every topic and answered TOPIC_AUTHORIZATION_FAILED when named
// (existing or not; by id without the name); auto-creation needs CREATE on
// the cluster or the topic (TOPIC_AUTHORIZATION_FAILED). Authorized
// operations (v8+) are computed when asked.

import (
	"context"
	"sort"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const authorizedOpsUnknown = -2147483648 // Kafka's "not requested" sentinel

// metadataAPI declares Metadata (key 3): its served versions and handler.
func (b *Backend) metadataAPI() served {
	return served{key: 3, API: API{Min: 0, Max: 12, Handle: b.handleMetadata}}
}

func (b *Backend) handleMetadata(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp, gone := b.metadataResponse(ctx, c, req)
	if len(gone) == 0 || b.GoneLeaderWait <= 0 {
		return done(resp)
	}
	return nil, func(ctx context.Context) kmsg.Response {
		b.awaitLeaders(ctx, gone)
		resp, _ := b.metadataResponse(ctx, c, req)
		return resp
	}, nil
}

// metadataResponse answers req from the current metadata. gone lists the
// requested topics (by name, only when topics were named) with a partition
// whose leader is gone (answered LEADER_NOT_AVAILABLE) or suspect (see
// leaderState). Addresses are those of the listener c came in on
// (listener_endpoints.go).
func (b *Backend) metadataResponse(ctx context.Context, c *Conn, req *kmsg.MetadataRequest) (resp *kmsg.MetadataResponse, gone []string) {
	resp = respond[*kmsg.MetadataResponse](req)
	s := b.Meta.State()
	// Checked against the newest state: partitions may come from one newer
	// than s (a topic created on the way).
	defer func() { leadersWithoutListener(b.Meta.State(), resp, c.Listener) }()
	for _, br := range liveBrokers(s) {
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID = br.ID
		rb.Rack = rackOf(br)
		var ok bool
		if rb.Host, rb.Port, ok = listenerAddr(br, c.Listener); !ok {
			continue
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	cid := s.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = b.controllerID()
	resp.AuthorizedOperations = authorizedOpsUnknown
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = b.clusterAuthorizedOps(c)
	}
	// Topics the principal may not DESCRIBE are left out of a list of
	// every topic, and answered TOPIC_AUTHORIZATION_FAILED when named,
	// existing or not, as Kafka does: their existence is not disclosed.
	defer func() {
		if req.IncludeTopicAuthorizedOperations {
			for i := range resp.Topics {
				if st := &resp.Topics[i]; st.ErrorCode == 0 && st.Topic != nil {
					st.AuthorizedOperations = b.authorizedOps(c, acl.ResourceTopic, *st.Topic)
				}
			}
		}
	}()

	all := req.Topics == nil || (req.GetVersion() == 0 && len(req.Topics) == 0)
	if all {
		names := make([]string, 0, len(s.Topics))
		for name := range s.Topics {
			if b.authorizeQuiet(c, acl.OpDescribe, acl.ResourceTopic, name) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			st, _ := b.metadataTopic(s, s.Topics[name])
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	autoCreate := req.GetVersion() < 4 || req.AllowAutoTopicCreation
	for _, rt := range req.Topics {
		var (
			t   *state.Topic
			err error
		)
		if rt.Topic == nil {
			var ok bool
			if t, ok = s.TopicByID(rt.TopicID); !ok {
				err = kerr.UnknownTopicID
			} else if !b.authorize(c, acl.OpDescribe, acl.ResourceTopic, t.Name) {
				err = kerr.TopicAuthorizationFailed // by id: the id is answered, never the name
			}
		} else if !b.authorize(c, acl.OpDescribe, acl.ResourceTopic, *rt.Topic) {
			err = kerr.TopicAuthorizationFailed
		} else if _, exists := s.Topics[*rt.Topic]; !exists && autoCreate && b.AutoCreateTopics && !b.mayCreateTopic(c, *rt.Topic) {
			err = kerr.TopicAuthorizationFailed
		} else {
			t, err = b.lookupTopic(ctx, *rt.Topic, autoCreate)
		}
		if err != nil {
			st := kmsg.NewMetadataResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			st.ErrorCode = code(err)
			st.AuthorizedOperations = authorizedOpsUnknown
			resp.Topics = append(resp.Topics, st)
			continue
		}
		st, unsettled := b.metadataTopic(b.Meta.State(), t)
		resp.Topics = append(resp.Topics, st)
		if unsettled {
			gone = append(gone, t.Name)
		}
	}
	return resp, gone
}

// goneLeaderPoll is how often awaitLeaders re-checks besides metadata
// changes: what the transport knows changes without any (a redial refused
// or accepted).
const goneLeaderPoll = 20 * time.Millisecond

// suspectWindow is how long after this node's connection to a leader broke
// its Metadata answers wait for the redial to tell whether the process is
// gone (refused) or not (connected, or a timeout: no evidence). The
// transport redials a connection that was stable at once, so a killed
// process is known gone within milliseconds; the window only covers a
// client that asks in those milliseconds (franz-go asks at once).
const suspectWindow = 500 * time.Millisecond

// awaitLeaders waits, at most GoneLeaderWait, until no partition of the
// named topics has a gone or suspect leader: the controller elected
// another (or the leader is reachable), so the answer names a leader the
// client can use.
func (b *Backend) awaitLeaders(ctx context.Context, topics []string) {
	deadline := time.NewTimer(b.GoneLeaderWait)
	defer deadline.Stop()
	changes, _ := b.Meta.(interface{ Changed() <-chan struct{} })
	for {
		var changed <-chan struct{}
		if changes != nil {
			changed = changes.Changed() // before reading the state: no change is missed
		}
		if !b.anyLeaderUnsettled(b.Meta.State(), topics) {
			return
		}
		if !b.waitChange(ctx, deadline.C, changed) {
			return
		}
	}
}

// waitChange waits for a metadata change or the next poll; false when ctx,
// the backend or the deadline ended the wait.
func (b *Backend) waitChange(ctx context.Context, deadline <-chan time.Time, changed <-chan struct{}) bool {
	poll := time.NewTimer(goneLeaderPoll)
	defer poll.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-b.stopping:
		return false
	case <-deadline:
		return false
	case <-changed:
	case <-poll.C:
	}
	return true
}

// anyLeaderUnsettled reports whether a partition of the named topics has a
// leader that is gone or suspect.
func (b *Backend) anyLeaderUnsettled(s *state.State, topics []string) bool {
	for _, name := range topics {
		t, ok := s.Topics[name]
		if !ok {
			continue
		}
		for _, p := range t.Partitions {
			if p.Leader >= 0 && b.leaderState(s, p.Leader) != leaderReachable {
				return true
			}
		}
	}
	return false
}

// metadataTopic describes a topic as the metadata says: each partition's
// leader, leader epoch, replicas and ISR; replicas on fenced brokers are
// offline. A leader that is gone (leaderState) is answered as no leader; a
// gone or suspect one makes unsettled true.
func (b *Backend) metadataTopic(s *state.State, t *state.Topic) (st kmsg.MetadataResponseTopic, unsettled bool) {
	st = kmsg.NewMetadataResponseTopic()
	name := t.Name
	st.Topic = &name
	st.TopicID = t.ID
	st.IsInternal = t.Internal
	st.AuthorizedOperations = authorizedOpsUnknown
	for i, p := range t.Partitions {
		sp := kmsg.NewMetadataResponseTopicPartition()
		sp.Partition = int32(i)
		sp.Leader = p.Leader
		sp.LeaderEpoch = p.LeaderEpoch
		sp.Replicas = append([]int32(nil), p.Replicas...)
		sp.ISR = append([]int32(nil), p.ISR...)
		for _, r := range p.Replicas {
			if b, ok := s.Brokers[r]; !ok || b.Fenced {
				sp.OfflineReplicas = append(sp.OfflineReplicas, r)
			}
		}
		if p.Leader >= 0 {
			switch b.leaderState(s, p.Leader) {
			case leaderGone:
				sp.Leader = -1
				unsettled = true
			case leaderSuspect:
				unsettled = true
			}
		}
		if sp.Leader < 0 {
			sp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		st.Partitions = append(st.Partitions, sp)
	}
	return st, unsettled
}

// What this node knows of a partition leader named by the metadata.
const (
	leaderReachable = iota // as far as this node can tell
	leaderSuspect          // the connection just broke; the redial has not told yet
	leaderGone             // fenced, or its address refuses connections
)

// leaderState says what this node knows of broker id, a partition leader
// in the metadata: gone when it is fenced or its cluster address refused
// this node's last dial (its process is gone); suspect when the
// connection to it broke less than suspectWindow ago and no redial has
// succeeded or been refused; otherwise reachable (a stopped or cut-off
// broker whose dials time out included: silence is no evidence). This
// node itself is always reachable.
func (b *Backend) leaderState(s *state.State, id int32) int {
	if id == b.NodeID {
		return leaderReachable
	}
	if br, ok := s.Brokers[id]; ok && br.Fenced {
		return leaderGone
	}
	if b.PeerReach == nil {
		return leaderReachable
	}
	r := b.PeerReach(id)
	switch {
	case r.RefusedDials > 0:
		return leaderGone
	case !r.Connected && !r.DownSince.IsZero() && time.Since(r.DownSince) < suspectWindow:
		return leaderSuspect
	}
	return leaderReachable
}

// leaderGone reports whether broker id, a partition leader in the
// metadata, is gone (leaderState).
func (b *Backend) leaderGone(s *state.State, id int32) bool {
	return b.leaderState(s, id) == leaderGone
}
