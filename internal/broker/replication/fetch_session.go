package replication

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchSession is a follower's side of its incremental fetch session
// (KIP-227) with one leader. The first fetch is a full one with epoch 0,
// which asks the leader for a session; while one is open, requests name only
// the partitions whose fetch state changed since last sent and forget those
// no longer fetched, and a response lists only partitions with something to
// say (the others are unchanged). FETCH_SESSION_ID_NOT_FOUND,
// INVALID_FETCH_SESSION_EPOCH, any other top-level error, a request cut
// short or a connection error make the next fetch a full one again;
// partition errors do not. The fetch loop owns it: no locking.
type fetchSession struct {
	id    int32 // the leader's session id; 0: none
	epoch int32 // the next request's epoch; 0: the next fetch is full
	// sent is the fetch state of each partition in the leader's session,
	// as of the last answered request.
	sent map[TopicPartition]kmsg.FetchRequestTopicPartition
	// pending is what sent becomes once the request in flight is answered.
	pending map[TopicPartition]kmsg.FetchRequestTopicPartition
}

// request turns full, a fetch of every partition to fetch now with its
// current fetch state, into the request to send in the session.
func (s *fetchSession) request(full *kmsg.FetchRequest) *kmsg.FetchRequest {
	want := make(map[TopicPartition]kmsg.FetchRequestTopicPartition, len(s.sent))
	for _, rt := range full.Topics {
		for _, rp := range rt.Partitions {
			want[TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp
		}
	}
	s.pending = want
	if s.epoch == 0 {
		// A full fetch; naming the old id (if any) closes it on the leader,
		// freeing its slot.
		req := *full
		req.SessionID, req.SessionEpoch = s.id, 0
		return &req
	}
	req := *full
	req.SessionID, req.SessionEpoch = s.id, s.epoch
	req.Topics, req.ForgottenTopics = nil, nil
	for _, rt := range full.Topics {
		var changed []kmsg.FetchRequestTopicPartition
		for _, rp := range rt.Partitions {
			if last, ok := s.sent[TopicPartition{Topic: rt.Topic, Partition: rp.Partition}]; !ok || !sameFetchState(last, rp) {
				changed = append(changed, rp)
			}
		}
		if len(changed) > 0 {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.Partitions = rt.Topic, changed
			req.Topics = append(req.Topics, t)
		}
	}
	forgotten := map[string]int{} // topic -> index in ForgottenTopics
	for tp := range s.sent {
		if _, ok := want[tp]; ok {
			continue
		}
		i, ok := forgotten[tp.Topic]
		if !ok {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.Topic = tp.Topic
			req.ForgottenTopics = append(req.ForgottenTopics, ft)
			i = len(req.ForgottenTopics) - 1
			forgotten[tp.Topic] = i
		}
		req.ForgottenTopics[i].Partitions = append(req.ForgottenTopics[i].Partitions, tp.Partition)
	}
	return &req
}

// sameFetchState reports whether the leader's cached state for a partition
// needs no update.
func sameFetchState(a, b kmsg.FetchRequestTopicPartition) bool {
	return a.FetchOffset == b.FetchOffset && a.CurrentLeaderEpoch == b.CurrentLeaderEpoch &&
		a.LastFetchedEpoch == b.LastFetchedEpoch && a.LogStartOffset == b.LogStartOffset &&
		a.PartitionMaxBytes == b.PartitionMaxBytes
}

// answered takes the response to the last request. It reports whether the
// response was a session error, to be retried at once with a full fetch.
func (s *fetchSession) answered(resp *kmsg.FetchResponse) (retry bool) {
	switch {
	case resp.ErrorCode == kerr.FetchSessionIDNotFound.Code:
		s.id = 0 // gone on the leader: nothing to close
		s.reset()
		return true
	case resp.ErrorCode == kerr.InvalidFetchSessionEpoch.Code:
		s.reset()
		return true
	case resp.ErrorCode != 0:
		s.reset()
		return false
	case resp.SessionID == 0:
		// Served sessionless (no slot, or the session ended): full fetches
		// ask for a session again.
		s.id = 0
		s.reset()
		return false
	case s.epoch != 0 && resp.SessionID != s.id:
		s.reset() // an incremental answer from another session: start over
		return false
	}
	s.id = resp.SessionID
	s.epoch = nextEpoch(s.epoch)
	s.sent, s.pending = s.pending, nil
	return false
}

// reset makes the next fetch a full one. The request in flight, if any, may
// or may not have reached the leader: the session's state is unknown.
func (s *fetchSession) reset() {
	s.epoch = 0
	s.sent, s.pending = nil, nil
}

// nextEpoch follows e, wrapping past MaxInt32 to 1 as Kafka does.
func nextEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}
