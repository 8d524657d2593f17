package kafka

// DescribeTransactions, versions 0-0.
//
// KIP-664. Describes transactional ids coordinated here, from the coordinator's
// loaded __transaction_state partitions: state, timeout, start time,
// producer id and epoch, and the partitions of the open transaction. Per id:
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED without DESCRIBE on it,
// NOT_COORDINATOR for an id of a partition not led here,
// COORDINATOR_LOAD_IN_PROGRESS while it loads, TRANSACTIONAL_ID_NOT_FOUND
// for an unknown id. As Kafka, topics the caller may not DESCRIBE are left
// out of the partitions.

import (
	"context"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// describeTransactionsAPI declares DescribeTransactions (key 65): its served versions and handler.
func (b *Backend) describeTransactionsAPI() served {
	return served{key: 65, API: API{Min: 0, Max: 0, Handle: b.handleDescribeTransactions}}
}

func (b *Backend) handleDescribeTransactions(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := respond[*kmsg.DescribeTransactionsResponse](req)
	var allowed []string
	for _, id := range req.TransactionalIDs {
		if b.authorize(c, acl.OpDescribe, acl.ResourceTransactionalID, id) {
			allowed = append(allowed, id)
		}
	}
	var descs map[string]int
	var described []kmsg.DescribeTransactionsResponseTransactionState
	if b.Txn != nil {
		descs = map[string]int{}
		for _, d := range b.Txn.Describe(allowed) {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID = d.TransactionalID
			st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
			if d.Err != nil {
				st.ErrorCode = txnCode(d.Err, 0, 0)
			} else {
				st.State, st.TimeoutMillis = string(d.State), d.TimeoutMs
				st.ProducerID, st.ProducerEpoch = d.ProducerID, d.ProducerEpoch
				if !d.StartTime.IsZero() {
					st.StartTimestamp = d.StartTime.UnixMilli()
				}
				for topic, ps := range d.Partitions {
					if !b.authorizeQuiet(c, acl.OpDescribe, acl.ResourceTopic, topic) {
						continue
					}
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic, t.Partitions = topic, ps
					st.Topics = append(st.Topics, t)
				}
			}
			descs[d.TransactionalID] = len(described)
			described = append(described, st)
		}
	}
	for _, id := range req.TransactionalIDs {
		if i, ok := descs[id]; ok {
			resp.TransactionStates = append(resp.TransactionStates, described[i])
			continue
		}
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		if b.Txn == nil && b.authorizeQuiet(c, acl.OpDescribe, acl.ResourceTransactionalID, id) {
			st.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return done(resp)
}
