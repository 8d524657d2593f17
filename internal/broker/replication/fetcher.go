package replication

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/notify"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FetchersConfig is what the follower fetch loops need from the node.
type FetchersConfig struct {
	NodeID   int32    // the replica id follower fetches carry
	Replicas Replicas // the local replicas fetched data goes to
	// Dial opens the connection fetches to leader travel on: on a node,
	// an authenticated cluster connection (transport.PurposeReplica) with
	// the preamble sent (OpenReplicaConn), because a leader honours a
	// replica id only there. Nil dials the leader's address from Set over
	// plain TCP, for tests of this package against a bare Kafka server.
	Dial   func(ctx context.Context, leader int32) (net.Conn, error)
	Logger *slog.Logger
	// Throttle limits the fetches of the partitions SetThrottled names
	// (the replicas a reassignment adds here); nil: no limit.
	Throttle *Throttle
	// OnApply, when set, is told for each fetch response that carried data
	// how long copying it into the logs took and how long their fsyncs
	// then took to finish; it must not block.
	OnApply func(copy, fsync time.Duration)
}

// Fetchers runs, on a follower, one fetch loop per leader broker it copies
// partitions from. The reconciler tells it what to follow (Set); Stop ends
// every loop.
type Fetchers struct {
	cfg       FetchersConfig
	mu        sync.Mutex
	byLeader  map[int32]*fetcher
	throttled map[TopicPartition]bool // fetched under cfg.Throttle
	wg        sync.WaitGroup
}

// SetThrottled names the partitions whose fetches the throttle limits;
// every other partition is fetched at full speed.
func (f *Fetchers) SetThrottled(parts map[TopicPartition]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttled = parts
}

// isThrottled reports whether tp's fetches are limited.
func (f *Fetchers) isThrottled(tp TopicPartition) bool {
	if f.cfg.Throttle.Rate() == 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.throttled[tp]
}

// NewFetchers returns fetch loops that run nothing until Set.
func NewFetchers(cfg FetchersConfig) *Fetchers {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Fetchers{cfg: cfg}
}

// fetcher copies partitions from one leader over the Kafka protocol, as a
// follower (Fetch with this node's replica id), on connections from
// FetchersConfig.Dial.
type fetcher struct {
	leader int32
	addr   string
	cancel context.CancelFunc

	mu      sync.Mutex
	parts   map[TopicPartition]bool
	changed notify.Notifier // fires when parts changes; Notify under mu
	// inFlight cancels the fetch request running now, if any: a partition
	// added while a long poll runs would otherwise wait for it to end.
	inFlight context.CancelFunc

	// settles is the run loop's scratch list, reused across fetches.
	settles []settle
	// session is the run loop's fetch session with the leader
	// (fetch_session.go).
	session fetchSession

	// What the admin API reports about this fetcher.
	lastFetch time.Time // last answered fetch
	lastErr   string    // last failure, "" after a clean fetch
}

// record notes the outcome of one fetch.
func (ft *fetcher) record(err error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if err == nil {
		ft.lastFetch, ft.lastErr = time.Now(), ""
		return
	}
	ft.lastErr = err.Error()
}

// Set makes the running fetch loops match want (leader -> its partitions,
// with the leader's Kafka address). New loops run until ctx ends, the leader
// leaves want, or Stop.
func (f *Fetchers) Set(ctx context.Context, want map[int32]map[TopicPartition]bool, addrs map[int32]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byLeader == nil {
		f.byLeader = map[int32]*fetcher{}
	}
	for id, ft := range f.byLeader {
		if len(want[id]) == 0 || addrs[id] != ft.addr {
			ft.cancel()
			delete(f.byLeader, id)
		}
	}
	for id, parts := range want {
		if len(parts) == 0 {
			continue
		}
		ft := f.byLeader[id]
		if ft == nil {
			fctx, cancel := context.WithCancel(ctx)
			ft = &fetcher{leader: id, addr: addrs[id], cancel: cancel}
			f.byLeader[id] = ft
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.run(fctx, ft)
			}()
		}
		ft.mu.Lock()
		ft.parts = parts
		ft.changed.Notify()
		if ft.inFlight != nil {
			ft.inFlight()
		}
		ft.mu.Unlock()
	}
}

// Stop ends every fetch loop and waits for them.
func (f *Fetchers) Stop() {
	f.mu.Lock()
	for _, ft := range f.byLeader {
		ft.cancel()
	}
	f.byLeader = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// FetcherStatus is what the admin API reports about one fetch loop.
type FetcherStatus struct {
	LastFetch time.Time // last answered fetch; zero: none yet
	LastError string    // last failure, "" after a clean fetch
}

// Status reports the fetch loop to leader; ok is false when none runs.
func (f *Fetchers) Status(leader int32) (st FetcherStatus, ok bool) {
	f.mu.Lock()
	ft := f.byLeader[leader]
	f.mu.Unlock()
	if ft == nil {
		return FetcherStatus{}, false
	}
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return FetcherStatus{LastFetch: ft.lastFetch, LastError: ft.lastErr}, true
}

// run long-polls the leader for every partition this node follows from it,
// appends what arrives verbatim, fsyncs, and fetches again: the next fetch
// offset tells the leader what this replica has.
func (f *Fetchers) run(ctx context.Context, ft *fetcher) {
	logger := f.cfg.Logger
	opts := []kgo.Opt{kgo.SeedBrokers(ft.addr)}
	if dial := f.cfg.Dial; dial != nil {
		// kgo names the seed's address; the leader's id is what counts.
		opts = append(opts, kgo.Dialer(func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, ft.leader)
		}))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		logger.Error("follower fetcher client", "leader", ft.leader, "err", err)
		return
	}
	defer cl.Close()
	seed := cl.Broker(math.MinInt32) // the leader, addressed directly
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		ft.mu.Lock()
		parts, changed := ft.parts, ft.changed.Wait()
		ft.mu.Unlock()
		req, throttledWait := f.request(parts)
		if req == nil {
			if throttledWait > 0 {
				// Only throttled partitions, and the bucket is empty.
				waitOrChange(ctx, changed, throttledWait)
				continue
			}
			select {
			case <-ctx.Done():
			case <-changed:
			}
			continue
		}
		req = ft.session.request(req) // only what changed, once a session is open
		// A change of the followed set (Set) cancels the request.
		rctx, cancel := context.WithCancel(ctx)
		ft.mu.Lock()
		if fired(changed) { // changed since the request was built
			ft.mu.Unlock()
			cancel()
			continue
		}
		ft.inFlight = cancel
		ft.mu.Unlock()
		kresp, err := seed.Request(rctx, req)
		cut := rctx.Err() != nil && ctx.Err() == nil
		ft.mu.Lock()
		ft.inFlight = nil
		ft.mu.Unlock()
		cancel()
		if cut || err != nil {
			ft.session.reset() // the leader may or may not have seen it
		}
		if cut {
			continue
		}
		if err != nil {
			ft.record(err)
			if ctx.Err() == nil {
				logger.Debug("follower fetch failed; retrying", "leader", ft.leader, "err", err, "retry_in", backoff)
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Second)
			}
			continue
		}
		backoff = 50 * time.Millisecond
		resp := kresp.(*kmsg.FetchResponse)
		if ft.session.answered(resp) {
			// Evicted, or the leader restarted: fetch in full at once.
			ft.record(kerr.ErrorForCode(resp.ErrorCode))
			logger.Debug("follower fetch session lost; fetching in full", "leader", ft.leader, "error_code", resp.ErrorCode)
			continue
		}
		if resp.ErrorCode != 0 {
			ft.record(kerr.ErrorForCode(resp.ErrorCode))
			logger.Debug("follower fetch refused", "leader", ft.leader, "error_code", resp.ErrorCode)
			waitOrChange(ctx, changed, time.Second)
			continue
		}
		failed := 0
		var lastErr error
		fail := func(tp TopicPartition, err error) {
			failed++
			lastErr = err
			logger.Debug("follower fetch partition failed", "leader", ft.leader, "topic", tp.Topic, "partition", tp.Partition, "err", err)
		}
		// Copy every partition first, then wait for their fsyncs: each
		// partition's log fsyncs on its own, so they run in parallel and
		// the next fetch goes out as soon as the slowest is done.
		settles := ft.settles[:0]
		copyStart, copied := time.Now(), false
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				tp := TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
				p := f.cfg.Replicas.Follower(tp)
				if p == nil || p.IsLeader() {
					continue
				}
				if f.isThrottled(tp) {
					f.cfg.Throttle.Take(len(rp.RecordBatches))
				}
				copied = copied || len(rp.RecordBatches) > 0
				s, err := f.apply(tp, p, rp)
				switch {
				case err != nil:
					fail(tp, err)
				case s.p != nil:
					settles = append(settles, s)
				}
			}
		}
		fsyncStart := time.Now()
		for i, s := range settles {
			if err := s.p.SettleFromLeader(ctx, s.end, s.leaderHW); err != nil && ctx.Err() == nil {
				fail(s.tp, err)
			}
			settles[i] = settle{} // drop the replica reference
		}
		ft.settles = settles[:0]
		if copied && f.cfg.OnApply != nil {
			f.cfg.OnApply(fsyncStart.Sub(copyStart), time.Since(fsyncStart))
		}
		ft.record(lastErr)
		if failed > 0 {
			// Usually metadata on its way (a new leader or epoch): wait for
			// the reconciler's update instead of spinning.
			waitOrChange(ctx, changed, 200*time.Millisecond)
		}
	}
}

// settle is a partition of a fetch response whose data was copied and
// whose fsync and high watermark remain (FollowerReplica.SettleFromLeader).
type settle struct {
	tp            TopicPartition
	p             FollowerReplica
	end, leaderHW int64
}

// apply applies one partition of a follower fetch: data is appended
// verbatim, and what remains to settle it is returned; a diverging epoch
// truncates the tail the leader does not have; an out-of-range offset
// restarts the log at the leader's log start.
func (f *Fetchers) apply(tp TopicPartition, p FollowerReplica, rp kmsg.FetchResponseTopicPartition) (settle, error) {
	switch {
	case rp.ErrorCode == kerr.OffsetOutOfRange.Code && rp.LogStartOffset > p.LogEndOffset():
		f.cfg.Logger.Info("follower is behind the leader's log start; restarting its log there",
			"topic", tp.Topic, "partition", tp.Partition, "log_end", p.LogEndOffset(), "leader_log_start", rp.LogStartOffset)
		return settle{}, p.StartAt(rp.LogStartOffset)
	case rp.ErrorCode == kerr.OffsetOutOfRange.Code && rp.HighWatermark >= 0:
		return settle{}, p.Truncate(rp.HighWatermark)
	case rp.ErrorCode != 0:
		return settle{}, kerr.ErrorForCode(rp.ErrorCode)
	case rp.DivergingEpoch.EndOffset >= 0 || rp.DivergingEpoch.Epoch >= 0:
		leo, epoch := p.LogEndOffset(), p.LastFetchedEpoch()
		if err := p.TruncateDiverged(rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset); err != nil {
			return settle{}, err
		}
		if p.LogEndOffset() == leo && p.LastFetchedEpoch() == epoch {
			// Nothing changed: the next fetch would diverge the same way.
			// Report it (the fetch loop backs off) rather than spin.
			return settle{}, fmt.Errorf("leader reports divergence at epoch %d offset %d, but truncating changed nothing (log end %d, last epoch %d)",
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset, leo, epoch)
		}
		return settle{}, nil
	}
	end, err := p.CopyFromLeader(rp.RecordBatches)
	if err != nil {
		f.cfg.Logger.Warn("follower could not append what the leader sent", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		return settle{}, err
	}
	return settle{tp: tp, p: p, end: end, leaderHW: rp.HighWatermark}, nil
}

// waitOrChange waits for d, a change of the followed partitions, or ctx.
func waitOrChange(ctx context.Context, changed <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-changed:
	case <-t.C:
	}
}

// fired reports whether a notification channel is closed.
func fired(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// request builds one fetch for the followed partitions, from each
// replica's log end; nil when there is nothing to follow. A throttled
// partition asks for what the throttle allows, and is left out while the
// throttle allows nothing: wait then says when it will.
func (f *Fetchers) request(parts map[TopicPartition]bool) (req *kmsg.FetchRequest, wait time.Duration) {
	req = kmsg.NewPtrFetchRequest()
	req.ReplicaID = f.cfg.NodeID
	req.MaxWaitMillis = 500
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	topics := map[string]int{}
	for tp := range parts {
		p := f.cfg.Replicas.Follower(tp)
		if p == nil || p.IsLeader() {
			continue
		}
		if p.CommittedEnd() < p.LogEndOffset() {
			// An fsync failed: the fetch offset would tell the leader this
			// replica has data it may not keep. Stay silent; it drops out.
			continue
		}
		maxBytes := int32(1 << 20)
		if f.isThrottled(tp) {
			allowed, w := f.cfg.Throttle.Allowance(maxBytes)
			if allowed == 0 {
				if wait == 0 || w < wait {
					wait = w
				}
				continue
			}
			maxBytes = allowed
		}
		i, ok := topics[tp.Topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			topics[tp.Topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.FetchOffset = p.LogEndOffset()
		rp.CurrentLeaderEpoch = p.LeaderEpoch()
		rp.LastFetchedEpoch = p.LastFetchedEpoch()
		rp.PartitionMaxBytes = maxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(req.Topics) == 0 {
		return nil, wait
	}
	return req, wait
}
