package kafka

// WriteTxnMarkers, versions 0-1.
//
// A transaction coordinator asks the leaders of a transaction's partitions
// to end it there: each marker is a COMMIT or ABORT control batch for the
// producer, appended and answered once committed (the high watermark passed
// it; min.insync.replicas holds as for acks=all). Served only to brokers:
// on a Kafka listener every partition is CLUSTER_AUTHORIZATION_FAILED
// (Kafka checks CLUSTER_ACTION; here only a proven cluster connection has
// it), so no client can end or forge a transaction. Per partition:
// UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER when this node does
// not lead it, INVALID_PRODUCER_EPOCH for an epoch older than the
// partition knows the producer by, TRANSACTION_COORDINATOR_FENCED for a
// coordinator epoch older than the producer's last marker's,
// NOT_ENOUGH_REPLICAS(_AFTER_APPEND) and REQUEST_TIMED_OUT (markerTimeout)
// as for produce. A marker for a producer with no transaction open on the
// partition is still written, as Kafka does; it changes no offsets. After
// a marker committed, Backend.OnTxnMarker is told (transactional offsets of
// __consumer_offsets).

import (
	"context"
	"sync"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/replica"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// markerTimeout bounds the wait for a marker to commit (Kafka's
// request.timeout.ms default); the coordinator retries what timed out.
const markerTimeout = 30 * time.Second

// writeTxnMarkersAPI declares WriteTxnMarkers (key 27): its served versions and handler.
func (b *Backend) writeTxnMarkersAPI() served {
	return served{key: 27, API: API{Min: 0, Max: 1, Handle: b.handleWriteTxnMarkers}}
}

func (b *Backend) handleWriteTxnMarkers(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := respond[*kmsg.WriteTxnMarkersResponse](req)
	type job struct {
		topic string
		p     *replica.Partition
		m     replica.TxnMarker
		resp  *kmsg.WriteTxnMarkersResponseMarkerTopicPartition
	}
	var jobs []job
	var refuse error
	if c.Replica == nil {
		refuse = kerr.ClusterAuthorizationFailed
		b.Logger.Warn("WriteTxnMarkers refused on a Kafka listener", "remote", c.Remote, "client_id", c.ClientID)
	}
	resp.Markers = make([]kmsg.WriteTxnMarkersResponseMarker, 0, len(req.Markers))
	for _, rm := range req.Markers {
		sm := kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = rm.ProducerID
		sm.Topics = make([]kmsg.WriteTxnMarkersResponseMarkerTopic, 0, len(rm.Topics))
		m := replica.TxnMarker{ProducerID: rm.ProducerID, ProducerEpoch: rm.ProducerEpoch,
			Commit: rm.Committed, CoordinatorEpoch: rm.CoordinatorEpoch}
		for _, rt := range rm.Topics {
			st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			st.Topic = rt.Topic
			// Preallocated: jobs keep pointers into this slice.
			st.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, 0, len(rt.Partitions))
			for _, partition := range rt.Partitions {
				sp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				sp.Partition = partition
				st.Partitions = append(st.Partitions, sp)
				r := &st.Partitions[len(st.Partitions)-1]
				err := refuse
				var p *replica.Partition
				if err == nil {
					p, err = b.servedReplica(rt.Topic, partition)
				}
				if err == nil && !p.IsLeader() {
					err = kerr.NotLeaderForPartition
				}
				if err != nil {
					r.ErrorCode = code(err)
					continue
				}
				jobs = append(jobs, job{topic: rt.Topic, p: p, m: m, resp: r})
			}
			sm.Topics = append(sm.Topics, st)
		}
		resp.Markers = append(resp.Markers, sm)
	}
	if len(jobs) == 0 {
		return done(resp)
	}
	return nil, func(ctx context.Context) kmsg.Response {
		ctx, cancel := context.WithTimeout(ctx, markerTimeout)
		defer cancel()
		// Partitions have their own logs: their markers commit together.
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				off, err := j.p.WriteTxnMarkerAt(ctx, j.m)
				if err != nil {
					j.resp.ErrorCode = code(err)
					return
				}
				if b.OnTxnMarker != nil {
					b.OnTxnMarker(j.topic, j.p.Index, j.m.ProducerID, j.m.Commit, off)
				}
			}()
		}
		wg.Wait()
		return resp
	}, nil
}
