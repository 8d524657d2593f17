package kafka

// Incremental fetch sessions (KIP-227), the broker's side.
//
// A fetch session caches the partitions a client fetches and the fetch state
// it last sent for each, so that later requests name only what changed and
// responses list only partitions with something to say. The request's
// (SessionID, SessionEpoch) pair decides, as in Kafka:
//
//	(0, -1)  sessionless full fetch
//	(0, 0)   full fetch that creates a session (its id in the response, or 0
//	         when no slot could be had: the client goes on sessionless)
//	(X, 0)   closes X, then as (0, 0)
//	(X, -1)  closes X, then sessionless
//	(X, N>0) incremental: N must be X's next epoch, else
//	         INVALID_FETCH_SESSION_EPOCH (the session is kept); an unknown X
//	         is FETCH_SESSION_ID_NOT_FOUND
//
// Every fetch in a session serves the session's whole partition set (for a
// follower that records its position on every partition, from the cached
// fetch offset where the request does not name it), and the response lists
// only partitions with records, an error, a diverging epoch, or a high
// watermark, last stable offset or log start offset other than last told.
// Partitions that returned records move to the end of the session's order,
// so that under MaxBytes the others get their turn (Kafka does the same).
//
// Trust: a session belongs to the identity that created it, the
// authenticated principal and, on a cluster connection, the proven replica
// id; anyone else naming its id gets FETCH_SESSION_ID_NOT_FOUND, and closing
// another's session is ignored. READ is checked on every topic of the
// session at each fetch. A session holds at most maxParts partitions (the
// broker's --max-partitions-per-broker: more could never all be led here);
// a full fetch naming more is served sessionless, an incremental one that
// would grow past it closes the session and gets FETCH_SESSION_ID_NOT_FOUND,
// which makes clients fall back to full fetches. Memory is thus bounded by
// slots times maxParts.
//
// Eviction: with every slot taken, a new session takes the slot of the
// least recently used session idle longer than fetchSessionEvictionGrace
// (Kafka's two minutes); a follower's new session may also take the least
// recently used consumer session however recent, so a flood of consumer
// sessions never costs replication its sessions. Otherwise the new session
// fails and the fetch is served sessionless. An evicted session's next
// incremental fetch gets FETCH_SESSION_ID_NOT_FOUND.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// DefaultFetchSessionSlots is Kafka's
	// max.incremental.fetch.session.cache.slots default.
	DefaultFetchSessionSlots = 1000
	// fetchSessionEvictionGrace is how long a session must have been idle
	// before any new session may take its slot (Kafka's eviction time).
	fetchSessionEvictionGrace = 2 * time.Minute
)

// FetchSessionStats is what /metrics shows of the fetch session cache.
type FetchSessionStats struct {
	// Open is the number of sessions cached now.
	Open int
	// Evictions counts sessions removed to make room for new ones.
	Evictions uint64
	// Failures counts fetches that asked for a new session and got none
	// (no slot could be had, or too many partitions).
	Failures uint64
}

// sessionOwner is the identity a session is bound to.
type sessionOwner struct {
	principal Principal
	replica   int32 // the proven replica id on a cluster connection, else -1
}

type topicPartition struct {
	topic     string
	partition int32
}

// sessionPart is one partition of a session: the fetch state the client last
// sent and what the last response told it.
type sessionPart struct {
	topic string
	req   kmsg.FetchRequestTopicPartition
	gone  bool // forgotten, or its session closed: a fetch still running must not report it
	// told: hw, lso and logStart were sent in a response of this session.
	told              bool
	hw, lso, logStart int64
}

type fetchSession struct {
	id         int32
	owner      sessionOwner
	privileged bool  // a follower's session
	epoch      int32 // the epoch the next incremental request must carry
	lastUsed   time.Time
	parts      []*sessionPart // fetch order
	index      map[topicPartition]*sessionPart
	// built is the request topics and parts snapshot of the last context,
	// reused while the partitions and their order are unchanged (an idle
	// consumer's sessions); nil after a change. Never modified once built:
	// fetches still running hold them.
	built      []kmsg.FetchRequestTopic
	builtParts []*sessionPart
}

// fetchSessions is a node's bounded fetch session cache.
type fetchSessions struct {
	slots    int
	maxParts int
	now      func() time.Time

	mu   sync.Mutex
	byID map[int32]*fetchSession

	evictions, failures atomic.Uint64
}

func newFetchSessions(slots, maxParts int) *fetchSessions {
	return &fetchSessions{slots: max(slots, 0), maxParts: max(maxParts, 0), now: time.Now, byID: map[int32]*fetchSession{}}
}

// Stats reports the cache's size and counters.
func (fs *fetchSessions) Stats() FetchSessionStats {
	fs.mu.Lock()
	n := len(fs.byID)
	fs.mu.Unlock()
	return FetchSessionStats{Open: n, Evictions: fs.evictions.Load(), Failures: fs.failures.Load()}
}

// fetchContext is one fetch request resolved against the cache: the full
// request to serve and, when in a session, which one.
type fetchContext struct {
	full *kmsg.FetchRequest // every partition to serve, in the session's order
	// parts are the session's partitions in full's order, so that the
	// answer (in the request's order) is matched without lookups.
	parts       []*sessionPart
	session     *fetchSession // nil: sessionless
	incremental bool
}

// begin resolves req for owner. It returns the context to serve, or the
// top-level error to answer with (nothing served then).
func (fs *fetchSessions) begin(owner sessionOwner, req *kmsg.FetchRequest) (*fetchContext, error) {
	now := fs.now()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case req.Version < 7: // no session fields: always sessionless
		return &fetchContext{full: req}, nil
	case req.SessionEpoch < 0: // FINAL_EPOCH
		fs.closeOwned(owner, req.SessionID)
		return &fetchContext{full: req}, nil
	case req.SessionEpoch == 0:
		fs.closeOwned(owner, req.SessionID)
		s := fs.create(owner, req, now)
		if s == nil {
			return &fetchContext{full: req}, nil
		}
		return s.context(req, false), nil
	}
	s := fs.byID[req.SessionID]
	if s == nil || s.owner != owner {
		return nil, kerr.FetchSessionIDNotFound
	}
	if req.SessionEpoch != s.epoch {
		return nil, kerr.InvalidFetchSessionEpoch
	}
	if !s.update(req, fs.maxParts) {
		fs.remove(s)
		return nil, errSessionTooLarge
	}
	s.epoch = nextSessionEpoch(s.epoch)
	s.lastUsed = now
	return s.context(req, true), nil
}

// errSessionTooLarge refuses an incremental fetch that would grow its
// session past maxParts. The session is gone then and the client is answered
// FETCH_SESSION_ID_NOT_FOUND (Kafka has no code for this), so it starts over
// with a full fetch, served sessionless.
var errSessionTooLarge = errors.New("fetch session would exceed its partition limit")

// sessionErrorCode is the Fetch error code of an error from begin.
func sessionErrorCode(err error) int16 {
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Code
	}
	return kerr.FetchSessionIDNotFound.Code
}

func nextSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}

// closeOwned removes session id if owner created it.
func (fs *fetchSessions) closeOwned(owner sessionOwner, id int32) {
	if s := fs.byID[id]; id != 0 && s != nil && s.owner == owner {
		fs.remove(s)
	}
}

// remove drops s from the cache; fetches of it still running answer
// sessionless (finish).
func (fs *fetchSessions) remove(s *fetchSession) {
	delete(fs.byID, s.id)
}

// create makes a session of req's partitions, or returns nil (counted as a
// failure) when the partitions are too many or no slot can be had.
func (fs *fetchSessions) create(owner sessionOwner, req *kmsg.FetchRequest, now time.Time) *fetchSession {
	n := 0
	for _, rt := range req.Topics {
		n += len(rt.Partitions)
	}
	if n > fs.maxParts || (len(fs.byID) >= fs.slots && !fs.evictFor(owner.replica >= 0, now)) {
		fs.failures.Add(1)
		return nil
	}
	s := &fetchSession{id: fs.newID(), owner: owner, privileged: owner.replica >= 0, epoch: 1, lastUsed: now,
		index: make(map[topicPartition]*sessionPart, n)}
	s.update(req, n)
	fs.byID[s.id] = s
	return s
}

// evictFor frees a slot for a new session, reporting whether it could.
func (fs *fetchSessions) evictFor(privileged bool, now time.Time) bool {
	var lru, lruConsumer *fetchSession
	for _, s := range fs.byID {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) {
			lru = s
		}
		if !s.privileged && (lruConsumer == nil || s.lastUsed.Before(lruConsumer.lastUsed)) {
			lruConsumer = s
		}
	}
	victim := lruConsumer
	if lru != nil && now.Sub(lru.lastUsed) > fetchSessionEvictionGrace {
		victim = lru
	} else if !privileged {
		victim = nil
	}
	if victim == nil {
		return false
	}
	fs.remove(victim)
	fs.evictions.Add(1)
	return true
}

// newID is a random positive session id no live session has.
func (fs *fetchSessions) newID() int32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		id := int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
		if _, live := fs.byID[id]; id != 0 && !live {
			return id
		}
	}
}

// update applies req's partitions (added or their fetch state replaced) and
// then its forgotten topics, as Kafka orders them, unless the session would
// then hold more than maxParts partitions: it reports false and changes
// nothing.
func (s *fetchSession) update(req *kmsg.FetchRequest, maxParts int) bool {
	added := map[topicPartition]bool{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if k := (topicPartition{rt.Topic, rp.Partition}); s.index[k] == nil {
				added[k] = true
			}
		}
	}
	removed := map[topicPartition]bool{}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			if k := (topicPartition{ft.Topic, p}); s.index[k] != nil || added[k] {
				removed[k] = true
			}
		}
	}
	if len(s.parts)+len(added)-len(removed) > maxParts {
		return false
	}
	if len(req.Topics) > 0 || len(removed) > 0 {
		s.built, s.builtParts = nil, nil
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := topicPartition{rt.Topic, rp.Partition}
			if sp := s.index[k]; sp != nil {
				sp.req = rp
				continue
			}
			sp := &sessionPart{topic: rt.Topic, req: rp}
			s.index[k] = sp
			s.parts = append(s.parts, sp)
		}
	}
	if len(removed) > 0 {
		for k := range removed {
			s.index[k].gone = true
			delete(s.index, k)
		}
		kept := s.parts[:0]
		for _, sp := range s.parts {
			if s.index[topicPartition{sp.topic, sp.req.Partition}] == sp {
				kept = append(kept, sp)
			}
		}
		clear(s.parts[len(kept):])
		s.parts = kept
	}
	return true
}

// context is the fetch of req in the session: req with the session's whole
// partition set, in its order, grouping runs of one topic as Kafka does.
func (s *fetchSession) context(req *kmsg.FetchRequest, incremental bool) *fetchContext {
	if s.builtParts == nil {
		all := make([]kmsg.FetchRequestTopicPartition, len(s.parts)) // one allocation, sliced per topic
		start := 0
		for i, sp := range s.parts {
			all[i] = sp.req
			if i+1 == len(s.parts) || s.parts[i+1].topic != sp.topic {
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic = sp.topic
				rt.Partitions = all[start : i+1 : i+1]
				s.built = append(s.built, rt)
				start = i + 1
			}
		}
		s.builtParts = slices.Clone(s.parts)
	}
	full := *req
	full.Topics, full.ForgottenTopics = s.built, nil
	return &fetchContext{full: &full, parts: s.builtParts, session: s, incremental: incremental}
}

// finish fits resp, the answer to the full request of fc, to the session:
// it records what the response tells the client and, for an incremental
// fetch, keeps only the partitions with something to say. A session evicted
// meanwhile answers in full with session id 0, which ends it for the client.
func (fs *fetchSessions) finish(fc *fetchContext, resp *kmsg.FetchResponse) *kmsg.FetchResponse {
	resp.SessionID = 0
	if fc.session == nil {
		return resp
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fc.session
	if fs.byID[s.id] != s {
		return resp
	}
	resp.SessionID = s.id
	var moved map[*sessionPart]bool
	topics := resp.Topics[:0]
	i := 0 // the answer lists fc.parts in order
	for _, st := range resp.Topics {
		parts := st.Partitions[:0]
		for _, rp := range st.Partitions {
			var sp *sessionPart
			if i < len(fc.parts) && fc.parts[i].topic == st.Topic && fc.parts[i].req.Partition == rp.Partition {
				sp = fc.parts[i]
			} else { // not in the request's order after all
				sp = s.index[topicPartition{st.Topic, rp.Partition}]
			}
			i++
			if sp == nil || sp.gone {
				continue // forgotten by a later request
			}
			changed := !sp.told || sp.hw != rp.HighWatermark || sp.lso != rp.LastStableOffset || sp.logStart != rp.LogStartOffset
			sp.told, sp.hw, sp.lso, sp.logStart = true, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset
			if len(rp.RecordBatches) > 0 {
				if moved == nil {
					moved = map[*sessionPart]bool{}
				}
				moved[sp] = true
			}
			if !fc.incremental || changed || len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 ||
				rp.DivergingEpoch.EndOffset >= 0 || len(rp.AbortedTransactions) > 0 {
				parts = append(parts, rp)
			}
		}
		if len(parts) > 0 {
			st.Partitions = parts
			topics = append(topics, st)
		}
	}
	clear(resp.Topics[len(topics):])
	resp.Topics = topics
	if len(moved) > 0 && len(moved) < len(s.parts) {
		order := make([]*sessionPart, 0, len(s.parts))
		for _, sp := range s.parts {
			if !moved[sp] {
				order = append(order, sp)
			}
		}
		for _, sp := range s.parts {
			if moved[sp] {
				order = append(order, sp)
			}
		}
		s.parts = order
		s.built, s.builtParts = nil, nil
	}
	return resp
}
