package kafka

// ListOffsets, versions 1-7.
//
// Timestamp -1 is the latest committed offset (the high watermark), -2 the
// log start offset, -3 (v7, KIP-734) the record with the largest timestamp;
// any other value finds the first committed record whose timestamp is at
// least it (offset -1 when there is none). Time lookups read batch headers
// through the time index and never decompress: in an uncompressed batch the
// answer is exact; in a compressed one it is the batch's base offset with its
// max timestamp (for -3 too), from which a consumer misses nothing at or
// after the time (Kafka would inflate the batch to name the record inside).
// IsolationLevel 1 (read_committed) sees offsets below the last stable
// offset: latest (-1) is the last stable offset, and a time lookup (-3
// too) whose answer lies at or beyond it finds nothing (offset -1), as
// Kafka's lastFetchableOffset.
// CurrentLeaderEpoch (v4+) is checked like Fetch's. A leader whose high
// watermark has not yet reached the start of its own epoch (just elected,
// followers not fetched yet) answers OFFSET_NOT_AVAILABLE, retriable, as
// Kafka does, except for the log start (-2). Needs DESCRIBE on each topic
// (TOPIC_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listOffsetsAPI declares ListOffsets (key 2): its served versions and handler.
func (b *Backend) listOffsetsAPI() served {
	return served{key: 2, API: API{Min: 1, Max: 7, Handle: b.handleListOffsets}}
}

func (b *Backend) handleListOffsets(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := respond[*kmsg.ListOffsetsResponse](req)
	topics := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		topics[i] = rt.Topic
	}
	denied := b.deniedTopics(c, acl.OpDescribe, topics)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
			if denied[rt.Topic] {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if err := b.listOffset(rt.Topic, rp, &sp, req.IsolationLevel); err != nil {
				sp.ErrorCode = code(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return done(resp)
}

func (b *Backend) listOffset(topic string, rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition, isolation int8) error {
	p, err := b.servedReplica(topic, rp.Partition)
	if err != nil {
		return err
	}
	if !p.IsLeader() {
		return kerr.NotLeaderForPartition
	}
	if err := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	sp.LeaderEpoch = p.LeaderEpoch()
	if rp.Timestamp != -2 && !p.HighWatermarkCurrent() {
		// A new leader's high watermark lags until its followers fetch:
		// answering with it could move a consumer's "latest" backwards.
		return kerr.OffsetNotAvailable
	}
	fetchable := p.HighWatermark()
	if isolation == 1 {
		fetchable = p.LastStableOffset()
	}
	switch rp.Timestamp {
	case -1:
		sp.Offset = fetchable
	case -2:
		sp.Offset = p.LogStartOffset()
	case -3:
		off, ts, ok, err := p.MaxTimestamp()
		if err != nil {
			return kerr.KafkaStorageError
		}
		if ok && off < fetchable {
			sp.Offset, sp.Timestamp = off, ts
		}
	default:
		if rp.Timestamp < 0 {
			return kerr.InvalidRequest
		}
		off, ts, ok, err := p.OffsetForTimestamp(rp.Timestamp)
		if err != nil {
			return kerr.KafkaStorageError
		}
		if ok && off < fetchable {
			sp.Offset, sp.Timestamp = off, ts
		}
	}
	return nil
}
