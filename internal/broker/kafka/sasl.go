package kafka

// SASL authentication of SASL_PLAINTEXT and SASL_SSL listeners: the
// mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), the state of each
// connection's exchange, the gate that keeps unauthenticated connections
// to ApiVersions and the SASL APIs, KIP-368 session expiry, and the
// per-address limit on failed attempts. The two APIs are 17_sasl_handshake.go
// and 36_sasl_authenticate.go; credentials live in the raft metadata
// (state/scram.go).
//
// PLAIN sends the password in the clear: it is safe only on SASL_SSL.

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/xdg-go/scram"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/netlimit"
)

const (
	saslHandshakeKey    int16 = 17
	saslAuthenticateKey int16 = 36
)

// MechanismPlain is SASL PLAIN (RFC 4616).
const MechanismPlain = "PLAIN"

// SASLMechanisms are the mechanisms the broker implements, in the order
// SaslHandshake lists them; all are enabled by default
// (--sasl-enabled-mechanisms).
func SASLMechanisms() []string {
	return []string{MechanismPlain, state.ScramSHA256, state.ScramSHA512}
}

// Limits of SASL authentication without flags of their own.
const (
	// DefaultSASLFailureBurst failed authentications from one address are
	// allowed at once; then one more per DefaultSASLFailureRefill. A person
	// mistyping a password never meets it; a password guesser gets 10 tries
	// a minute per address.
	DefaultSASLFailureBurst  = 5
	DefaultSASLFailureRefill = 6 * time.Second
	// DefaultSASLFailureIPs bounds the addresses whose failures are
	// tracked; past it the least-failed are forgotten first.
	DefaultSASLFailureIPs = 10000
	// saslMaxReceiveBytes caps a request frame before authentication,
	// Kafka's sasl.server.max.receive.size default (512 KiB): whoever has
	// not authenticated cannot make the broker buffer 100 MiB. Real SASL
	// messages are under 1 KiB.
	saslMaxReceiveBytes = 512 << 10
)

// SASLConfig configures SASL authentication on the SASL listeners.
type SASLConfig struct {
	// Mechanisms are the enabled mechanisms (--sasl-enabled-mechanisms);
	// empty means all of SASLMechanisms.
	Mechanisms []string
	// MaxReauth is Kafka's connections.max.reauth.ms: an authenticated
	// session lasts this long, clients that support KIP-368 re-authenticate
	// before it ends, and a connection whose session ended is closed at its
	// next request other than the SASL ones. 0: sessions never end.
	MaxReauth time.Duration
	// FailureBurst and FailureRefill are the per-address budget of failed
	// authentications (defaults DefaultSASLFailureBurst/Refill);
	// FailureIPs bounds the addresses tracked (DefaultSASLFailureIPs).
	FailureBurst  int
	FailureRefill time.Duration
	FailureIPs    int
}

// ValidateSASLMechanisms checks a --sasl-enabled-mechanisms list.
func ValidateSASLMechanisms(mechs []string) error {
	if len(mechs) == 0 {
		return errors.New("no SASL mechanism enabled")
	}
	for _, m := range mechs {
		if !slices.Contains(SASLMechanisms(), m) {
			return fmt.Errorf("unknown SASL mechanism %q (supported: %s)", m, strings.Join(SASLMechanisms(), ", "))
		}
	}
	return nil
}

// saslConn is one connection's SASL state. Only the connection's read
// goroutine touches it: the SASL handlers answer at once (no Pending) and
// the gate runs in dispatch.
type saslConn struct {
	// required: the connection came in on a SASL listener and must
	// authenticate before anything but ApiVersions and the SASL APIs.
	required bool
	// mechanism was chosen by a SaslHandshake whose SaslAuthenticate
	// exchange has not finished; "" otherwise.
	mechanism string
	scram     *scramExchange // the SCRAM exchange in progress (sasl_scram.go)
	// authMechanism is what the connection authenticated with; "" before.
	authMechanism string
	// expires ends the session (KIP-368); zero: never.
	expires time.Time
}

// authenticating reports an exchange in progress.
func (s *saslConn) authenticating() bool { return s.mechanism != "" }

// reset abandons an exchange in progress.
func (s *saslConn) reset() { s.mechanism, s.scram = "", nil }

// saslAuth is the backend's SASL side, shared by all connections.
type saslAuth struct {
	cfg  SASLConfig
	meta Metadata
	// decoyKey makes the credential of a user that does not exist: the
	// exchange goes on to fail at the proof, so one exchange does not tell
	// unknown users from wrong passwords (RFC 5802 section 9; Kafka tells
	// outright). A client comparing nodes, or a node before and after a
	// restart, still can: decoy salts are per process.
	decoyKey [32]byte
	failures *failureLimiter
	logs     *netlimit.LogLimiter
}

func newSASLAuth(cfg SASLConfig, meta Metadata) *saslAuth {
	if len(cfg.Mechanisms) == 0 {
		cfg.Mechanisms = SASLMechanisms()
	}
	if cfg.FailureBurst <= 0 {
		cfg.FailureBurst = DefaultSASLFailureBurst
	}
	if cfg.FailureRefill <= 0 {
		cfg.FailureRefill = DefaultSASLFailureRefill
	}
	if cfg.FailureIPs <= 0 {
		cfg.FailureIPs = DefaultSASLFailureIPs
	}
	a := &saslAuth{
		cfg:      cfg,
		meta:     meta,
		failures: newFailureLimiter(cfg.FailureBurst, cfg.FailureRefill, cfg.FailureIPs),
		logs:     newLogLimiter(),
	}
	_, _ = rand.Read(a.decoyKey[:])
	return a
}

// enabled reports whether mechanism may be used.
func (a *saslAuth) enabled(mechanism string) bool {
	return slices.Contains(a.cfg.Mechanisms, mechanism)
}

// scramCredential is user's stored credential for mechanism, or a decoy
// that no proof matches.
func (a *saslAuth) scramCredential(mechanism, user string) scram.StoredCredentials {
	if c, ok := a.meta.State().ScramCredentialFor(user, mechanism); ok {
		return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: int(c.Iterations)},
			StoredKey: c.StoredKey, ServerKey: c.ServerKey}
	}
	salt, stored := a.decoy(mechanism, user)
	return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: state.MinScramIterations},
		StoredKey: stored, ServerKey: stored}
}

// decoy derives, per user, a stable salt and a key no password produces
// except by chance, from a secret of this process.
func (a *saslAuth) decoy(mechanism, user string) (salt, key []byte) {
	mac := hmac.New(sha256.New, a.decoyKey[:])
	mac.Write([]byte("salt\x00" + mechanism + "\x00" + user))
	salt = mac.Sum(nil)
	size, _ := state.ScramKeySize(mechanism)
	key = make([]byte, 0, size)
	for i := byte(0); len(key) < size; i++ {
		mac.Reset()
		mac.Write([]byte{'k', i})
		mac.Write([]byte(mechanism + "\x00" + user))
		key = mac.Sum(key)
	}
	return salt, key[:size]
}

// checkPlain verifies a PLAIN message (authzid NUL authcid NUL password)
// against the SCRAM credentials: the password salted with a stored salt
// and iterations must give the stored key. It returns the user.
func (a *saslAuth) checkPlain(msg []byte) (user string, err error) {
	parts := strings.Split(string(msg), "\x00")
	if len(parts) != 3 {
		return "", errors.New("malformed PLAIN message: want authzid, user and password separated by NUL")
	}
	authzID, user, password := parts[0], parts[1], parts[2]
	switch {
	case user == "":
		return "", errors.New("no user name given")
	case password == "":
		return user, errors.New("no password given")
	case authzID != "" && authzID != user:
		return user, errors.New("the authorization id differs from the user name")
	}
	st := a.meta.State()
	// Either mechanism's credential proves the password; the stronger first.
	for _, mech := range []string{state.ScramSHA512, state.ScramSHA256} {
		c, ok := st.ScramCredentialFor(user, mech)
		if !ok {
			continue
		}
		salted, err := pbkdf2.Key(state.ScramHash(mech), password, c.Salt, int(c.Iterations), len(c.StoredKey))
		if err != nil {
			return user, fmt.Errorf("derive the salted password: %w", err)
		}
		stored, _ := state.ScramKeys(mech, salted)
		if !hmac.Equal(stored, c.StoredKey) {
			return user, errors.New("wrong password")
		}
		return user, nil
	}
	// Spend what a real check costs, so timing does not tell unknown users.
	salt, _ := a.decoy(state.ScramSHA512, user)
	_, _ = pbkdf2.Key(state.ScramHash(state.ScramSHA512), password, salt, state.MinScramIterations, 64)
	return user, errors.New("unknown user")
}

// logFailure writes a failed authentication at warn, at most once per
// second for all connections, never with the password.
func (a *saslAuth) logFailure(log *slog.Logger, c *Conn, mechanism, user, reason string) {
	if ok, suppressed := a.logs.Allow("", time.Now()); ok {
		log.Warn("kafka SASL authentication failed; closing connection", "remote", c.Remote.String(),
			"mechanism", mechanism, "user", user, "reason", reason, "failed_since_last_log", suppressed)
	}
}

// failureLimiter is a token bucket per remote address: each failed
// authentication takes a token, one comes back per refill, and an address
// with none left is refused before its credentials are checked. Memory is
// bounded by maxIPs.
type failureLimiter struct {
	burst  float64
	refill time.Duration
	maxIPs int

	mu  sync.Mutex
	ips map[string]*failureBucket
}

type failureBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

func newFailureLimiter(burst int, refill time.Duration, maxIPs int) *failureLimiter {
	return &failureLimiter{burst: float64(burst), refill: refill, maxIPs: maxIPs, ips: map[string]*failureBucket{}}
}

// level refreshes b's tokens to now.
func (l *failureLimiter) level(b *failureBucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.refill))
		b.at = now
	}
	return b.tokens
}

// allow reports whether ip may try to authenticate now, and if not, how
// long until it may.
func (l *failureLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.ips[ip]
	if b == nil {
		return true, 0
	}
	if t := l.level(b, now); t < 1 {
		return false, time.Duration((1 - t) * float64(l.refill))
	}
	return true, 0
}

// failed takes a token from ip.
func (l *failureLimiter) failed(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.ips[ip]
	if b == nil {
		if len(l.ips) >= l.maxIPs {
			l.evict(now)
		}
		b = &failureBucket{tokens: l.burst, at: now}
		l.ips[ip] = b
	}
	l.level(b, now)
	b.tokens = max(b.tokens-1, 0)
}

// evict makes room: addresses whose bucket has refilled are forgotten
// (they lose nothing), and if none has, the one with the most tokens left.
func (l *failureLimiter) evict(now time.Time) {
	var fullest string
	most := -1.0
	for ip, b := range l.ips {
		t := l.level(b, now)
		if t >= l.burst {
			delete(l.ips, ip)
			continue
		}
		if t > most {
			fullest, most = ip, t
		}
	}
	if len(l.ips) >= l.maxIPs {
		delete(l.ips, fullest)
	}
}

// tracked is how many addresses the limiter holds, for tests.
func (l *failureLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ips)
}

// saslRefusal says why the connection may not be served a request of key
// now, or "" if it may: on a SASL listener only ApiVersions and the SASL
// APIs pass before authentication, during an exchange and after the
// session expired (KIP-368). Kafka closes the connection in each case.
func (c *conn) saslRefusal(key int16, now time.Time) string {
	st := &c.info.sasl
	if !st.required {
		return ""
	}
	switch key {
	case apiVersionsKey, saslHandshakeKey, saslAuthenticateKey:
		return ""
	}
	switch {
	case st.authenticating():
		return "request in the middle of a SASL exchange"
	case st.authMechanism == "":
		return "request before SASL authentication"
	case !st.expires.IsZero() && now.After(st.expires):
		return "SASL session expired without re-authentication (connections.max.reauth.ms)"
	}
	return ""
}

// saslAdmits is the gate dispatch runs before a handler: false closes the
// connection, with a rate-limited log line.
func (c *conn) saslAdmits(d decoded, start time.Time) bool {
	now := time.Now()
	refusal := c.saslRefusal(d.key, now)
	if refusal == "" {
		return true
	}
	c.s.observe(d.key, d.version, start, true)
	if ok, suppressed := c.s.refusals.Allow("sasl", now); ok {
		c.log.Warn("kafka request refused on a SASL listener; closing connection", "reason", refusal,
			"key", d.key, "name", kmsg.NameForKey(d.key), "principal", c.info.Principal().String(), "refused_since_last_log", suppressed)
	}
	return false
}

// frameLimit is the largest request frame the connection may send now.
func (c *conn) frameLimit() int32 {
	if st := &c.info.sasl; st.required && st.authMechanism == "" {
		return min(c.s.cfg.MaxRequestBytes, saslMaxReceiveBytes)
	}
	return c.s.cfg.MaxRequestBytes
}
