package kafka

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// QuotaEnforcer measures what each client's requests cost and says how long
// to throttle it (ServerConfig.Quotas; internal/broker/quota implements it).
// The server calls Record once per request: when its response is ready to
// be written, or for an acks=0 Produce (no response) when its handler has
// returned. A throttle above zero is sent as the response's throttle_time_ms
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

// applyQuota records the request of it with the quota enforcer, if any, and
// throttles the connection as it says: throttle_time_ms in resp (nil for an
// acks=0 Produce) and the read loop muted until the throttle has passed.
func (c *conn) applyQuota(it *inflight, resp kmsg.Response) {
	q := c.s.cfg.Quotas
	if q == nil {
		return
	}
	u := QuotaUsage{Key: it.key, RequestBytes: it.reqBytes, HandlerTime: it.handlerTime}
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		u.ResponseRecordBytes = fetchRecordBytes(fr)
	}
	d := q.Record(c.info, u)
	if d <= 0 {
		return
	}
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		ms := int32(min(math.Ceil(float64(d)/float64(time.Millisecond)), math.MaxInt32))
		if cur, _ := tr.Throttle(); cur < ms {
			resp.(kmsg.SetThrottleResponse).SetThrottle(ms)
		}
	}
	c.info.MuteUntil(time.Now().Add(d))
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
