package kafka

// FindCoordinator, versions 0-4 (v4 batches keys).
//
// Groups (key type 0) are coordinated by this node; __consumer_offsets is
// created on first use. Transaction coordinators (key type 1) are refused with
// INVALID_REQUEST: transactions are not supported.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Backend) handleFindCoordinator(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := respond[*kmsg.FindCoordinatorResponse](req)
	find := func(key string) (errCode int16, msg *string) {
		if req.CoordinatorType != 0 {
			b.Logger.Warn("refused a transaction coordinator lookup: transactions are not supported",
				"transactional_id", key, "client_id", c.ClientID, "remote", c.Remote)
			m := "transactions are not supported by chronik"
			return kerr.InvalidRequest.Code, &m
		}
		if err := b.ensureOffsetsTopic(); err != nil {
			b.Logger.Error("create offsets topic", "err", err)
			return kerr.CoordinatorNotAvailable.Code, message(err)
		}
		return 0, nil
	}
	if req.GetVersion() >= 4 {
		for _, key := range req.CoordinatorKeys {
			ck := kmsg.NewFindCoordinatorResponseCoordinator()
			ck.Key = key
			ck.ErrorCode, ck.ErrorMessage = find(key)
			ck.NodeID, ck.Host, ck.Port = -1, "", -1
			if ck.ErrorCode == 0 {
				ck.NodeID, ck.Host, ck.Port = b.NodeID, b.Host, b.Port
			}
			resp.Coordinators = append(resp.Coordinators, ck)
		}
		return done(resp)
	}
	resp.ErrorCode, resp.ErrorMessage = find(req.CoordinatorKey)
	resp.NodeID, resp.Host, resp.Port = -1, "", -1
	if resp.ErrorCode == 0 {
		resp.NodeID, resp.Host, resp.Port = b.NodeID, b.Host, b.Port
	}
	return done(resp)
}
