package kafka

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// QuotaEnforcer measures what each client's requests cost and says how long
// to throttle it (ServerConfig.Quotas; internal/broker/quota implements it).
// The server calls Record once per request, as soon as its cost is known:
// when its handler has returned, or for a Fetch answered by a Pending (a
// long poll) when the Pending is done. A throttle above zero is sent as the response's throttle_time_ms
// and mutes the connection for that long: the server reads none of its
// requests until then (KIP-219; the client also holds back on its own). It
// is called concurrently from every connection and must be quick.
type QuotaEnforcer interface {
	Record(c *Conn, u QuotaUsage) time.Duration
}

// QuotaUsage is what one request cost.
type QuotaUsage struct {
	Key int16
	// RequestBytes is the request frame's size (what Kafka's produce quota
	// counts).
	RequestBytes int64
	// ResponseRecordBytes is the record bytes of a Fetch response (what
	// Kafka's fetch quota counts); 0 for other APIs.
	ResponseRecordBytes int64
	// HandlerTime is the time the handler ran on the connection's read
	// goroutine: the work it did, not a Pending's wait (a long poll, an
	// acks=all wait for replicas), as Kafka counts request handler time.
	HandlerTime time.Duration
}

// fetchKey is Fetch's API key: the one API whose quota cost (its response's
// record bytes) is known only once its response is.
const fetchKey int16 = 1

// applyQuota records the request of it with the quota enforcer, if any, and
// throttles the connection as it says: the read loop is muted until the
// throttle has passed, and throttle_time_ms is set in resp, or, when resp
// does not exist yet (a Pending's; nil also for an acks=0 Produce), kept in
// it for finishQuota.
func (c *conn) applyQuota(it *inflight, resp kmsg.Response) {
	q := c.s.cfg.Quotas
	if q == nil {
		return
	}
	it.quotaDone = true
	u := QuotaUsage{Key: it.key, RequestBytes: it.reqBytes, HandlerTime: it.handlerTime}
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		u.ResponseRecordBytes = fetchRecordBytes(fr)
	}
	d := q.Record(c.info, u)
	if d <= 0 {
		return
	}
	it.throttle = d
	setThrottle(resp, d)
	c.info.MuteUntil(time.Now().Add(d))
}

// finishQuota runs on the writer before a response is encoded: it applies
// the quota of a request whose cost needed the response (a long-poll Fetch),
// or writes the throttle decided earlier into the response.
func (c *conn) finishQuota(it *inflight) {
	if c.s.cfg.Quotas == nil {
		return
	}
	if !it.quotaDone {
		c.applyQuota(it, it.resp)
		return
	}
	setThrottle(it.resp, it.throttle)
}

// setThrottle sets throttle_time_ms (rounded up) in a response that has it,
// unless it already holds more.
func setThrottle(resp kmsg.Response, d time.Duration) {
	tr, ok := resp.(kmsg.ThrottleResponse)
	if !ok || d <= 0 {
		return
	}
	ms := int32(min(math.Ceil(float64(d)/float64(time.Millisecond)), math.MaxInt32))
	if cur, _ := tr.Throttle(); cur < ms {
		resp.(kmsg.SetThrottleResponse).SetThrottle(ms)
	}
}

// fetchRecordBytes is the record bytes of a Fetch response.
func fetchRecordBytes(fr *kmsg.FetchResponse) int64 {
	var n int64
	for _, t := range fr.Topics {
		for _, p := range t.Partitions {
			n += int64(len(p.RecordBatches))
		}
	}
	return n
}

// waitUnmuted holds the read loop while the connection is muted by a quota
// throttle: the client's next requests wait in the socket, costing the
// broker nothing. It returns false when the server or the connection stops
// first, so a throttle never delays a shutdown.
func (c *conn) waitUnmuted() bool {
	for {
		d := time.Until(c.info.MutedUntil())
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.s.stopping:
			t.Stop()
			return false
		case <-c.ctx.Done():
			t.Stop()
			return false
		}
	}
}
