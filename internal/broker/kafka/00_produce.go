package kafka

// Produce, versions 0-11.
//
// Only RecordBatch v2 (magic 2) is accepted: v0/v1 message sets get
// UNSUPPORTED_FOR_MESSAGE_FORMAT, so old clients must use a v3+ request. Each
// partition must carry exactly one batch (INVALID_RECORD otherwise, as Kafka).
// The batch is validated by replica.Partition.Append (frame, CRC-32C, and
// every record, compressed batches decompressed as a bounded stream) and
// stored as received, with only base offset, leader epoch and a max timestamp
// that disagrees with the records patched in place. A refused batch appends
// nothing and gets CORRUPT_MESSAGE (bad CRC or frame, undecodable compressed
// data), INVALID_RECORD (records that disagree with the header or overrun
// their lengths), or MESSAGE_TOO_LARGE (above max.message.bytes, or inflating
// past batch.InflateLimit); from v8 the ErrorMessage says what was wrong and
// RecordErrors names the record at fault.
//
// acks=0 gets no response; acks=1 is answered once the leader has the batch
// (fsynced, group commit, under --log-flush=always); acks=-1 once the high
// watermark passed it, i.e. every ISR member has it, and it is refused with
// NOT_ENOUGH_REPLICAS before anything is appended while the ISR is below the
// effective min.insync.replicas (ISR members the leader found lagging do not
// count), and answered NOT_ENOUGH_REPLICAS_AFTER_APPEND when the in-sync
// replicas fall below it while the request waits, NOT_LEADER_OR_FOLLOWER when
// the leadership ends first. acks=-1 honours the request timeout
// (REQUEST_TIMED_OUT). A replica that does not lead the partition answers
// NOT_LEADER_OR_FOLLOWER, from v10 with KIP-951's hint (CurrentLeader and
// the leader's endpoint in NodeEndpoints) when the metadata names a live
// leader elsewhere. Idempotent batches are checked against
// the producer's last five sequences: a duplicate gets its original offset,
// a gap OUT_OF_ORDER_SEQUENCE_NUMBER. Transactional batches
// (replica/txn_append.go) need the request's TransactionID (else the
// whole request is TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka) and a
// transaction coordinator to verify with (Backend.TxnVerifier; without one
// INVALID_TXN_STATE): a producer's first batch of a transaction on a
// partition is appended only once its coordinator confirms the partition
// was added to that transaction (KIP-890 part 1), asked on the connection's
// read goroutine so later requests keep their order, bounded by the
// request timeout (defaultVerifyTimeout when it has none); a partition never
// added gets INVALID_TXN_STATE and nothing is appended. Producers may not
// write control batches (INVALID_RECORD). Internal topics
// (__consumer_offsets) are written only by the broker: INVALID_TOPIC_EXCEPTION.
// With an authorizer each topic needs WRITE (TOPIC_AUTHORIZATION_FAILED),
// its auto-creation CREATE on the cluster or the topic, and a transactional
// id WRITE on it (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Idempotent
// producers need no more here: InitProducerId checks them (KIP-679).

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/batch"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setRejection fills the v8+ error message and record errors of a refused
// batch; older versions drop them when encoding.
func setRejection(r *kmsg.ProduceResponseTopicPartition, err error) {
	var rej *replica.RejectedError
	if !errors.As(err, &rej) {
		return
	}
	r.ErrorMessage = &rej.Message
	if rej.Record >= 0 {
		er := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		er.RelativeOffset = rej.Record
		er.ErrorMessage = &rej.Message
		r.ErrorRecords = append(r.ErrorRecords, er)
	}
}

type produceWait struct {
	p     *replica.Partition
	end   int64
	epoch int32
	resp  *kmsg.ProduceResponseTopicPartition
}

// produceAPI declares Produce (key 0): its served versions and handler.
func (b *Backend) produceAPI() served {
	return served{key: 0, API: API{Min: 0, Max: 11, Handle: b.handleProduce}}
}

func (b *Backend) handleProduce(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := respond[*kmsg.ProduceResponse](req)

	var reqErr error
	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		reqErr = kerr.InvalidRequiredAcks
	case req.TransactionID != nil && !b.authorize(c, acl.OpWrite, acl.ResourceTransactionalID, *req.TransactionID):
		reqErr = kerr.TransactionalIDAuthorizationFailed
	case req.TransactionID == nil && hasTransactionalBatch(req):
		reqErr = kerr.TransactionalIDAuthorizationFailed
	}
	txn := replica.TxnProduce{Verifier: b.TxnVerifier}
	if req.TransactionID != nil {
		txn.TransactionalID = *req.TransactionID
	}
	verifyCtx, cancelVerify := context.WithTimeout(ctx, verifyTimeout(req.TimeoutMillis))
	defer cancelVerify()

	var waits []produceWait
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		// Preallocated: waits keep pointers into this slice.
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		var (
			topic *state.Topic
			terr  error
		)
		if b.authorize(c, acl.OpWrite, acl.ResourceTopic, rt.Topic) {
			// Auto-creation needs CREATE on the cluster or the topic.
			topic, terr = b.lookupTopic(ctx, rt.Topic, b.mayCreateTopic(c, rt.Topic))
		} else {
			terr = kerr.TopicAuthorizationFailed
		}
		if terr == nil && topic.Internal {
			// Only the broker writes its internal topics: a foreign record in
			// __consumer_offsets would break the coordinator's replay.
			terr = &controller.Error{Code: kerr.InvalidTopicException, Message: "cannot produce to internal topic " + topic.Name}
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			sp.LogAppendTime = -1
			st.Partitions = append(st.Partitions, sp)
			r := &st.Partitions[len(st.Partitions)-1]

			err := reqErr
			if err == nil {
				err = terr
			}
			var p *replica.Partition
			if err == nil {
				p, err = b.servedReplica(topic.Name, rp.Partition)
			}
			if err == nil {
				err = p.CheckProduce(req.Acks)
			}
			if err != nil {
				r.ErrorCode = code(err)
				r.ErrorMessage = message(err)
				continue
			}
			res, err := p.AppendTxn(verifyCtx, rp.Records, txn)
			if err != nil {
				r.ErrorCode = code(err)
				setRejection(r, err)
				continue
			}
			r.BaseOffset = res.BaseOffset
			r.LogStartOffset = p.LogStartOffset()
			waits = append(waits, produceWait{p: p, end: res.LastOffset + 1, epoch: res.LeaderEpoch, resp: r})
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(waits) == 0 {
		return done(b.withLeaderHints(resp, c.Listener))
	}
	timeout := time.Duration(0)
	if req.Acks == -1 && req.TimeoutMillis > 0 {
		timeout = time.Duration(req.TimeoutMillis) * time.Millisecond
	}
	return nil, func(ctx context.Context) kmsg.Response {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		wait := func(w produceWait) {
			var err error
			if req.Acks == -1 {
				err = w.p.WaitCommitted(ctx, w.end, w.epoch)
			} else {
				err = w.p.WaitDurable(ctx, w.end)
			}
			if err != nil {
				if errors.Is(err, context.Canceled) {
					err = kerr.RequestTimedOut
				}
				w.resp.ErrorCode = code(err)
				w.resp.BaseOffset = -1
			}
		}
		if len(waits) == 1 {
			wait(waits[0])
			return b.withLeaderHints(resp, c.Listener)
		}
		// Partitions have their own logs: wait for their fsyncs together.
		var wg sync.WaitGroup
		for _, w := range waits {
			wg.Add(1)
			go func() { defer wg.Done(); wait(w) }()
		}
		wg.Wait()
		return b.withLeaderHints(resp, c.Listener)
	}, nil
}

// withLeaderHints adds KIP-951's new-leader hints to a v10+ answer: each
// partition answered NOT_LEADER_OR_FOLLOWER carries the leader and leader
// epoch the metadata names (CurrentLeader), and the response the endpoints
// of those leaders (NodeEndpoints), so a client moves its batches there at
// once instead of refreshing metadata first (franz-go does when the epoch
// is newer than the one it knows, and retries after its backoff without a
// refresh when it is the leader it already uses). No hint for a partition
// without a live leader, or whose leader this node knows is gone (see
// leaderGone).
func (b *Backend) withLeaderHints(resp *kmsg.ProduceResponse, listener string) *kmsg.ProduceResponse {
	if resp.GetVersion() < 10 {
		return resp
	}
	var s *state.State
	added := map[int32]bool{}
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			if rp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			if s == nil {
				s = b.Meta.State()
			}
			t, ok := s.Topics[rt.Topic]
			if !ok || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				continue
			}
			part := t.Partitions[rp.Partition]
			leader, ok := s.Brokers[part.Leader]
			// The leader may be this node: the metadata names it, its
			// replica is not leading yet. The hint then tells the client
			// to retry here after its backoff rather than wait for a
			// metadata refresh (franz-go's producer waits out 5 s).
			if part.Leader < 0 || !ok || b.leaderGone(s, part.Leader) {
				continue
			}
			host, port, ok := listenerAddr(leader, listener)
			if !ok {
				continue // no address on the client's listener to hint
			}
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = part.Leader, part.LeaderEpoch
			if !added[part.Leader] {
				added[part.Leader] = true
				nb := kmsg.NewProduceResponseBroker()
				nb.NodeID = part.Leader
				nb.Host, nb.Port = host, port
				resp.Brokers = append(resp.Brokers, nb)
			}
		}
	}
	return resp
}

// hasTransactionalBatch reports whether any partition of req carries a
// batch with the transactional bit (a malformed one is left to Append).
func hasTransactionalBatch(req *kmsg.ProduceRequest) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if h, err := batch.ParseHeader(rp.Records); err == nil && h.IsTransactional() {
				return true
			}
		}
	}
	return false
}

// defaultVerifyTimeout bounds asking the transaction coordinator about a
// produce that has no timeout of its own (acks 0 and 1 may send 0).
const defaultVerifyTimeout = 5 * time.Second

// verifyTimeout is how long a produce may wait for its coordinator's
// verification: the request's timeout, defaultVerifyTimeout without one.
func verifyTimeout(timeoutMillis int32) time.Duration {
	if timeoutMillis > 0 {
		return time.Duration(timeoutMillis) * time.Millisecond
	}
	return defaultVerifyTimeout
}
