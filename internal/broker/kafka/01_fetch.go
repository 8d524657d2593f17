package kafka

// Fetch, versions 4-12.
//
// RecordBatch v2 only; v13+ would need topic ids. Consumers are served
// committed data only: batches below the high watermark. Followers
// (ReplicaID >= 0) are served up to the leader's log end, fsynced or not
// (replica.Partition.FollowerReadEnd says why that is safe), and their
// fetch offset tells the leader their log end. MaxWaitMillis/MinBytes
// long-poll until enough bytes are committed or the wait expires; MaxBytes
// bounds the response and PartitionMaxBytes each partition, each lowered (never
// raised) to the broker's --fetch-max-bytes and --max-partition-fetch-bytes
// and to what the connection's and the broker's queued bytes budgets have
// free, except that the first non-empty partition always gets at least one
// whole batch (KIP-74), so a batch larger than the limits is never stuck. A
// fetch that finds no budget free reads nothing and, if it may wait, waits
// for budget as for data. Large record sets are written to the socket from
// the bytes read, not copied into the encoded response (splice.go). Incremental fetch
// sessions (KIP-227) are offered (fetch_session.go): a session's fetch serves
// all its partitions and answers those with something to say; without a
// free slot (--max-incremental-fetch-session-cache-slots) the fetch is
// served sessionless, with session id 0. CurrentLeaderEpoch (v9+) is checked: older ->
// FENCED_LEADER_EPOCH, newer -> UNKNOWN_LEADER_EPOCH. Errors end the long
// poll at once. A follower's LastFetchedEpoch (v12) is checked against the
// leader's epoch cache and a divergent follower gets DivergingEpoch instead
// of data. Consumers need READ on each topic (TOPIC_AUTHORIZATION_FAILED).
//
// IsolationLevel 1 (read_committed) serves only batches below the last
// stable offset (the high watermark, held back at the first offset of the
// oldest transaction still open or whose marker is not committed yet) and
// lists the aborted transactions overlapping the records returned, whose
// records the consumer drops; the last stable offset only moves with the
// high watermark, so the long poll waits on that. Every answer reports the
// last stable offset (read_uncommitted too, as Kafka).

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchAPI declares Fetch (key 1): its served versions and handler.
func (b *Backend) fetchAPI() served {
	return served{key: 1, API: API{Min: 4, Max: 12, Handle: b.handleFetch}}
}

func (b *Backend) handleFetch(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.FetchRequest)
	if refused := b.checkReplicaFetch(ctx, c, req); refused != nil {
		return done(refused) // replica_conn.go: nothing read, nothing recorded
	}
	owner := sessionOwner{principal: c.Principal(), replica: -1}
	if c.Replica != nil {
		owner.replica = c.Replica.ID
	}
	fc, err := b.sessions.begin(owner, req)
	if err != nil {
		if errors.Is(err, errSessionTooLarge) {
			b.Logger.Warn("kafka fetch session closed: the partitions it would hold exceed the limit",
				"remote", addrString(c.Remote), "client_id", c.ClientID, "session", req.SessionID,
				"limit", b.sessions.maxParts)
		}
		resp := respond[*kmsg.FetchResponse](req)
		resp.ErrorCode = sessionErrorCode(err)
		return done(resp)
	}
	full := fc.full // the session's whole partition set (fetch_session.go)
	// Consumers need READ on each topic, checked again at every fetch of a
	// session (followers come over the cluster listener, authorized as the
	// broker).
	topics := make([]string, len(full.Topics))
	for i, rt := range full.Topics {
		topics[i] = rt.Topic
	}
	denied := b.deniedTopics(c, acl.OpRead, topics)
	mem := BudgetFrom(ctx)
	resp, n, waitOn, failed := b.fetchOnce(full, mem, denied)
	if failed || n >= int(req.MinBytes) || req.MaxWaitMillis <= 0 || len(waitOn) == 0 {
		return done(b.sessions.finish(fc, resp))
	}
	mem.Release(n) // this answer is dropped; the long poll reads again
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	stopping := b.stopping
	return nil, func(ctx context.Context) kmsg.Response {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		cases := make([]reflect.SelectCase, 0, len(waitOn)+3)
		for {
			cases = cases[:0]
			cases = append(cases,
				reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
				reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
				reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(stopping)})
			for _, ch := range waitOn {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
			}
			chosen, _, _ := reflect.Select(cases)
			if refused := b.checkReplicaFetch(ctx, c, req); refused != nil {
				return refused
			}
			resp, n, waitOn, failed = b.fetchOnce(full, mem, denied)
			if chosen < 3 || failed || n >= int(req.MinBytes) || len(waitOn) == 0 {
				return b.sessions.finish(fc, resp)
			}
			mem.Release(n)
		}
	}, nil
}

// fetchOnce reads what is available now, within the broker's limits and what
// mem grants. It returns the response, the record bytes in it (held in mem),
// the channels that signal new committed data for the partitions asked (or
// freed budget, when the budget cut the read short), and whether any
// partition failed. Topics in denied are answered TOPIC_AUTHORIZATION_FAILED.
func (b *Backend) fetchOnce(req *kmsg.FetchRequest, mem ResponseBudget, denied map[string]bool) (*kmsg.FetchResponse, int, []<-chan struct{}, bool) {
	resp := respond[*kmsg.FetchResponse](req)
	maxBytes := b.fetchMaxBytes()
	if req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int(req.MaxBytes))
	}
	freed := mem.Freed() // before taking, so bytes freed in between wake a waiter
	follower := req.ReplicaID >= 0
	var granted int
	if follower {
		// Replication never waits for budget (a flood of unread client
		// fetches must not push followers out of the ISR); it is bounded by
		// the broker's caps and the number of followers, and counted.
		granted = maxBytes
		mem.Charge(granted)
	} else {
		granted = mem.Take(maxBytes)
	}
	short := granted < maxBytes
	maxBytes = granted
	total := 0
	failed := false
	var waitOn []<-chan struct{}
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			p, perr := b.servedReplica(rt.Topic, rp.Partition)
			if denied[rt.Topic] {
				p, perr = nil, kerr.TopicAuthorizationFailed
			}
			var changed <-chan struct{}
			if p != nil {
				// Taken before the read so that new data in between still wakes us.
				if follower {
					_, changed = p.FollowerEndChanged()
				} else {
					_, changed = p.HighWatermarkChanged()
				}
			}
			// With nothing granted nothing is read, not even the one batch
			// for progress: that waits for budget.
			first := total == 0 && granted > 0
			err := perr
			if err == nil {
				err = fetchPartition(p, rp, &sp, min(maxBytes-total, b.partitionFetchMaxBytes()), first, req.ReplicaID, req.IsolationLevel == 1)
			}
			switch {
			case err != nil:
				sp.ErrorCode = code(err)
				failed = true
			case sp.DivergingEpoch.EndOffset >= 0:
				failed = true // the follower must truncate now, not after a long poll
			case len(sp.RecordBatches) == 0:
				waitOn = append(waitOn, changed)
			}
			if sp.RecordBatches == nil {
				// Empty, not null: librdkafka rejects a null record set (size -1).
				sp.RecordBatches = []byte{}
			}
			total += len(sp.RecordBatches)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	mem.Settle(granted, total)
	if short && len(waitOn) > 0 {
		waitOn = append(waitOn, freed...)
	}
	return resp, total, waitOn, failed
}

// fetchMaxBytes is the broker's cap on a fetch response's record bytes.
func (b *Backend) fetchMaxBytes() int {
	if b.FetchMaxBytes > 0 {
		return int(b.FetchMaxBytes)
	}
	return DefaultFetchMaxBytes
}

// partitionFetchMaxBytes is the broker's cap on one partition's record bytes
// in a fetch response.
func (b *Backend) partitionFetchMaxBytes() int {
	if b.PartitionFetchMaxBytes > 0 {
		return int(b.PartitionFetchMaxBytes)
	}
	return DefaultPartitionFetchMaxBytes
}

const (
	// DefaultFetchMaxBytes is Kafka's fetch.max.bytes broker default, 55 MiB:
	// the most record bytes one fetch response carries (plus one batch when
	// the first is larger), whatever the request asks.
	DefaultFetchMaxBytes = 55 << 20
	// DefaultPartitionFetchMaxBytes, 10 MiB, caps one partition's share of a
	// response (the request's PartitionMaxBytes is only lowered to it): ten
	// times the clients' max.partition.fetch.bytes default of 1 MiB, so no
	// stock client is slowed, while one partition read never allocates more
	// than this plus one batch.
	DefaultPartitionFetchMaxBytes = 10 << 20
)

func fetchPartition(p *replica.Partition, rp kmsg.FetchRequestTopicPartition, sp *kmsg.FetchResponseTopicPartition, budget int, first bool, replicaID int32, readCommitted bool) error {
	if !p.IsLeader() {
		return kerr.NotLeaderForPartition
	}
	if err := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	limit := int(rp.PartitionMaxBytes) // lowered to the budget, never raised
	if limit <= 0 || limit > budget {
		limit = budget
	}
	if replicaID >= 0 {
		return fetchForFollower(p, rp, sp, max(limit, 0), first, replicaID)
	}
	if readCommitted {
		recs, hw, lso, aborted, err := p.ReadCommitted(rp.FetchOffset, max(limit, 0), first)
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, lso, p.LogStartOffset()
		if err != nil {
			return err
		}
		sp.RecordBatches = recs
		for _, a := range aborted {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
			sp.AbortedTransactions = append(sp.AbortedTransactions, at)
		}
		return nil
	}
	recs, hw, err := p.Read(rp.FetchOffset, max(limit, 0), first)
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, min(hw, p.LastStableOffset()), p.LogStartOffset()
	if err != nil {
		return err
	}
	sp.RecordBatches = recs
	return nil
}

// fetchForFollower serves a replica's fetch on the leader. A follower whose
// last fetched epoch ended earlier here (or never existed here) is told the
// diverging epoch and its end offset (v12+; KIP-320) and must truncate
// before its position counts. Otherwise the fetch offset tells the leader the
// follower's log end (it fsyncs before fetching again), which may move the
// high watermark, and data is served up to the leader's log end, beyond the
// high watermark.
func fetchForFollower(p *replica.Partition, rp kmsg.FetchRequestTopicPartition, sp *kmsg.FetchResponseTopicPartition, limit int, first bool, replicaID int32) error {
	if !slices.Contains(p.Role().Replicas, replicaID) {
		return kerr.NotLeaderForPartition
	}
	sp.LogStartOffset = p.LogStartOffset()
	if epoch, end, diverged := p.DivergingEpoch(rp.LastFetchedEpoch, rp.FetchOffset); diverged {
		sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = epoch, end
		sp.HighWatermark = p.HighWatermark()
		sp.LastStableOffset = sp.HighWatermark
		return nil
	}
	if err := p.UpdateFollower(replicaID, rp.FetchOffset); err != nil {
		sp.HighWatermark = p.HighWatermark()
		sp.LastStableOffset = sp.HighWatermark
		return err
	}
	recs, err := p.ReadForFollower(rp.FetchOffset, limit, first)
	hw := p.HighWatermark()
	sp.HighWatermark, sp.LastStableOffset = hw, hw
	if err != nil {
		return err
	}
	sp.RecordBatches = recs
	return nil
}

// checkLeaderEpoch fences clients that saw another leader epoch (KIP-320).
func checkLeaderEpoch(p *replica.Partition, current int32) error {
	switch e := p.LeaderEpoch(); {
	case current == -1 || current == e:
		return nil
	case current < e:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}
