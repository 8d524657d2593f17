package kafka

// FindCoordinator, versions 0-4.
//
// v4 batches keys. A group (key type 0) is coordinated by the broker leading
// its partition of __consumer_offsets, a transactional id (key type 1) by the
// broker leading its partition of __transaction_state (Kafka's hash of the
// id, as the groups'); each topic is created on first use. Other key types
// and an empty transactional id are INVALID_REQUEST. A key needs DESCRIBE on
// its group (GROUP_AUTHORIZATION_FAILED) or transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/group"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// findCoordinatorAPI declares FindCoordinator (key 10): its served versions and handler.
func (b *Backend) findCoordinatorAPI() served {
	return served{key: 10, API: API{Min: 0, Max: 4, Handle: b.handleFindCoordinator}}
}

func (b *Backend) handleFindCoordinator(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := respond[*kmsg.FindCoordinatorResponse](req)
	// find answers one key: the broker leading the key's partition of
	// __consumer_offsets or __transaction_state.
	find := func(key string) (nodeID int32, host string, port int32, errCode int16, msg *string) {
		switch {
		case req.CoordinatorType == 0 && !b.authorize(c, acl.OpDescribe, acl.ResourceGroup, key):
			return -1, "", -1, kerr.GroupAuthorizationFailed.Code, nil
		case req.CoordinatorType == 1 && !b.authorize(c, acl.OpDescribe, acl.ResourceTransactionalID, key):
			return -1, "", -1, kerr.TransactionalIDAuthorizationFailed.Code, nil
		}
		var t *state.Topic
		var err error
		switch {
		case req.CoordinatorType == 0:
			t, err = b.ensureOffsetsTopic(ctx)
		case req.CoordinatorType != 1:
			m := "unknown coordinator type"
			return -1, "", -1, kerr.InvalidRequest.Code, &m
		case b.Txn == nil:
			m := "transactions are not enabled on this broker"
			return -1, "", -1, kerr.InvalidRequest.Code, &m
		case key == "":
			m := "empty transactional id"
			return -1, "", -1, kerr.InvalidRequest.Code, &m
		default:
			t, err = b.ensureInternalTopic(ctx, controller.TransactionStateTopic)
		}
		if err != nil {
			b.Logger.Warn("create coordinator topic", "err", err)
			return -1, "", -1, kerr.CoordinatorNotAvailable.Code, message(err)
		}
		p := t.Partitions[group.PartitionFor(key, int32(len(t.Partitions)))]
		br, ok := b.Meta.State().Brokers[p.Leader]
		if !ok || br.Fenced {
			return -1, "", -1, kerr.CoordinatorNotAvailable.Code, nil
		}
		if host, port, ok = listenerAddr(br, c.Listener); !ok {
			// The coordinator has no listener of this name: as Kafka
			// does, the client is told to retry, not given another
			// protocol's address.
			return -1, "", -1, kerr.CoordinatorNotAvailable.Code, nil
		}
		return br.ID, host, port, 0, nil
	}
	if req.GetVersion() >= 4 {
		for _, key := range req.CoordinatorKeys {
			ck := kmsg.NewFindCoordinatorResponseCoordinator()
			ck.Key = key
			ck.NodeID, ck.Host, ck.Port, ck.ErrorCode, ck.ErrorMessage = find(key)
			resp.Coordinators = append(resp.Coordinators, ck)
		}
		return done(resp)
	}
	resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = find(req.CoordinatorKey)
	return done(resp)
}
