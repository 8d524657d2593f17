package kafka

// SASLHandshake, versions 0-1.
//
// Picks the mechanism of the SaslAuthenticate exchange that follows (sasl.go).
// After a v0 handshake the SASL tokens would follow as raw frames with no
// Kafka request header, which only clients from before Kafka 1.0 send; we do
// not serve that flow. Version 0 is still advertised because librdkafka
// decides from it that the broker speaks SASL at all (and then uses v1 with
// SaslAuthenticate, like franz-go, Java and kafka-python): a v0 request is
// answered UNSUPPORTED_SASL_MECHANISM with no mechanisms — none is offered
// over raw tokens — and the connection is closed, with a warning that says why.
//
// An unknown or disabled mechanism is answered UNSUPPORTED_SASL_MECHANISM
// with the enabled list, then the connection is closed (as Kafka does). On a
// listener without SASL, and in the middle of an exchange, the answer is
// ILLEGAL_SASL_STATE. A handshake on an authenticated connection starts a
// re-authentication (KIP-368), which must keep the mechanism.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Backend) saslHandshakeAPI() served {
	return served{key: 17, API: API{Min: 0, Max: 1, Handle: b.saslHandshake}}
}

func (b *Backend) saslHandshake(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := respond[*kmsg.SASLHandshakeResponse](kreq)
	resp.SupportedMechanisms = append([]string(nil), b.sasl.cfg.Mechanisms...)
	st := &c.sasl
	refuse := func(code *kerr.Error, reason string) (kmsg.Response, Pending, error) {
		resp.ErrorCode = code.Code
		if st.required {
			b.sasl.logFailure(b.Logger, c, req.Mechanism, "", reason)
			CloseAfterResponse(ctx)
		}
		return done(resp)
	}
	switch {
	case !st.required:
		return refuse(kerr.IllegalSaslState, "SaslHandshake on a listener without SASL")
	case req.Version == 0:
		resp.SupportedMechanisms = []string{}
		return refuse(kerr.UnsupportedSaslMechanism, "SaslHandshake v0 (raw SASL tokens, clients before Kafka 1.0) is not served; use a client with SaslAuthenticate")
	case st.authenticating():
		return refuse(kerr.IllegalSaslState, "SaslHandshake in the middle of a SASL exchange")
	case !b.sasl.enabled(req.Mechanism):
		return refuse(kerr.UnsupportedSaslMechanism, "mechanism not enabled")
	case st.authMechanism != "" && req.Mechanism != st.authMechanism:
		return refuse(kerr.UnsupportedSaslMechanism, "re-authentication must use the mechanism of the session ("+st.authMechanism+")")
	}
	st.mechanism = req.Mechanism
	st.scram = b.sasl.newSCRAM(req.Mechanism) // nil for PLAIN
	return done(resp)
}
