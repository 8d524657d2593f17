package kafka

// SASLAuthenticate, versions 0-2.
//
// Carries the tokens of the mechanism SaslHandshake chose (sasl.go): one
// message for PLAIN, two round trips for SCRAM (client-first, then
// client-final; sasl_scram.go). On success the connection's principal is
// User:<name>; v1+ answers the session lifetime (connections.max.reauth.ms,
// 0 when sessions do not expire, KIP-368).
//
// Any failure — wrong or unknown credentials, a malformed or truncated
// message, a nonce that is not the one we sent, a re-authentication as a
// different principal, too many failures from the address — is answered
// SASL_AUTHENTICATION_FAILED with a message, and the connection is closed
// once the answer is written. Before SaslHandshake the answer is
// ILLEGAL_SASL_STATE (closed too, on a SASL listener).

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/netlimit"
)

func (b *Backend) saslAuthenticateAPI() served {
	return served{key: 36, API: API{Min: 0, Max: 2, Handle: b.saslAuthenticate}}
}

func (b *Backend) saslAuthenticate(ctx context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := respond[*kmsg.SASLAuthenticateResponse](kreq)
	st := &c.sasl
	mech := st.mechanism
	if !st.authenticating() {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate before SaslHandshake"
		resp.ErrorMessage = &msg
		if st.required {
			b.sasl.logFailure(b.Logger, c, "", "", msg)
			CloseAfterResponse(ctx)
		}
		return done(resp)
	}
	now := time.Now()
	ip := netlimit.RemoteIP(c.Remote)
	fail := func(user, reason string, counts bool) (kmsg.Response, Pending, error) {
		if counts {
			b.sasl.failures.failed(ip, now)
		}
		b.sasl.logFailure(b.Logger, c, mech, user, reason)
		st.reset()
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := fmt.Sprintf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", mech)
		if !counts {
			msg = "Authentication failed: " + reason
		}
		resp.ErrorMessage = &msg
		resp.SASLAuthBytes = nil
		CloseAfterResponse(ctx)
		return done(resp)
	}
	if ok, wait := b.sasl.failures.allow(ip, now); !ok {
		return fail("", fmt.Sprintf("too many failed authentications from %s; retry in %s", ip, wait.Round(time.Second)), false)
	}

	var user string
	if st.scram == nil { // PLAIN
		var err error
		if user, err = b.sasl.checkPlain(req.SASLAuthBytes); err != nil {
			return fail(user, err.Error(), true)
		}
	} else {
		out, finished, err := st.scram.step(req.SASLAuthBytes)
		user = st.scram.user
		if err != nil {
			return fail(user, "SCRAM: "+err.Error(), true)
		}
		resp.SASLAuthBytes = out
		if !finished {
			return done(resp) // server-first sent; the client-final follows
		}
	}

	p := Principal{Type: PrincipalUserType, Name: user}
	reauth := st.authMechanism != ""
	if reauth && c.Principal() != p {
		return fail(user, "re-authentication as "+p.String()+" on a connection of "+c.Principal().String(), true)
	}
	c.SetPrincipal(p)
	st.authMechanism = mech
	st.reset()
	st.expires = time.Time{}
	if b.sasl.cfg.MaxReauth > 0 {
		st.expires = now.Add(b.sasl.cfg.MaxReauth)
		resp.SessionLifetimeMillis = b.sasl.cfg.MaxReauth.Milliseconds()
	}
	b.Logger.Debug("kafka SASL authentication succeeded", "remote", c.Remote.String(), "mechanism", mech,
		"principal", p.String(), "reauthentication", reauth, "session_lifetime", b.sasl.cfg.MaxReauth)
	return done(resp)
}
