package kafka

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	fscram "github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/xdg-go/scram"

	"github.com/chronik-dev/chronik/internal/broker/controller"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// lines renders every record with its attributes, to search for what must
// never be logged.
func (r *logRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		line := rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			line += fmt.Sprintf(" %s=%v", a.Key, a.Value)
			return true
		})
		out = append(out, line)
	}
	return out
}

// wrapRaw is dialRaw over a connection the test dialed itself.
func wrapRaw(t *testing.T, nc net.Conn) *rawClient {
	t.Helper()
	t.Cleanup(func() { _ = nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(testTimeout)); err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, nc: nc.(*net.TCPConn), br: bufio.NewReader(nc)}
}

// readResponseFrame reads one response frame, or the error that ended the
// connection.
func readResponseFrame(c *rawClient) ([]byte, error) {
	var prefix [4]byte
	if _, err := io.ReadFull(c.br, prefix[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(prefix[:]))
	if _, err := io.ReadFull(c.br, frame); err != nil {
		return nil, err
	}
	return frame, nil
}

// saslMeta is one node's metadata without raft: a proposal is applied at
// once, to a clone that then replaces the state (as the raft node does).
type saslMeta struct {
	mu sync.Mutex
	st *state.State
}

func (m *saslMeta) State() *state.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

func (m *saslMeta) LeaderID() uint64 { return 1 }

func (m *saslMeta) Propose(_ context.Context, typ string, payload any) (state.Result, error) {
	b, err := state.Encode(typ, payload)
	if err != nil {
		return state.Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.st.Clone()
	res, err := next.Apply(b)
	if err != nil {
		return res, err
	}
	m.st = next
	return res, nil
}

// saslFixture is one backend served on a PLAINTEXT and a SASL_PLAINTEXT
// listener; broker 1 is registered at the PLAINTEXT one, where the users
// are created.
type saslFixture struct {
	b     *Backend
	meta  *saslMeta
	plain *testServer
	sasl  *testServer
	logs  *logRecorder // the backend's: the SASL handlers log there
}

func newSASLFixture(t *testing.T, cfg SASLConfig) *saslFixture {
	t.Helper()
	meta := &saslMeta{st: state.New()}
	ctx := context.Background()
	if _, err := meta.Propose(ctx, state.TypeInitCluster, state.InitCluster{ClusterID: "sasl-test", MetadataVersion: state.SecurityMetadataVersion}); err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{}
	logger := slog.New(&recordingHandler{rec: rec, next: slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})})
	ctrl := controller.New(controller.Options{NodeID: 1, Logger: logger}, meta)
	b := NewBackend(BackendConfig{NodeID: 1, SASL: cfg, Meta: meta, Controller: ctrl, Logger: logger})
	f := &saslFixture{b: b, meta: meta, logs: rec}
	f.plain = startServer(t, ServerConfig{Protocol: ProtocolPlaintext}, b.APIs())
	f.sasl = startServer(t, ServerConfig{Protocol: ProtocolSASLPlaintext, ListenerName: "SASL_PLAINTEXT"}, b.APIs())
	if _, err := meta.Propose(ctx, state.TypeRegisterBroker, state.RegisterBroker{Broker: state.Broker{
		ID: 1, KafkaAddr: f.plain.addr, MinMetadataVersion: 1, MaxMetadataVersion: state.MaxMetadataVersion,
	}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// createUser sets user's password for mechanism through kadm on the
// PLAINTEXT listener.
func (f *saslFixture) createUser(t *testing.T, user, password string, mech kadm.ScramMechanism) {
	t.Helper()
	adm := kadm.NewClient(f.client(t, f.plain.addr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: mech, Iterations: 4096, Password: password}})
	if err != nil {
		t.Fatalf("alter SCRAM credentials: %v", err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("alter SCRAM credentials of %s: %v (%s)", user, err, res[user].ErrMessage)
	}
}

func (f *saslFixture) client(t *testing.T, addr string, mech sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}, opts...)
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// describe asks for every user's credentials over cl: a request served
// only once cl authenticated.
func describe(cl *kgo.Client) (*kmsg.DescribeUserSCRAMCredentialsResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest().RequestWith(ctx, cl)
}

func scramAuth(user, pass string) fscram.Auth { return fscram.Auth{User: user, Pass: pass} }

// TestSASLClientsAuthenticate: franz-go authenticates with PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 against credentials created with kadm,
// and the connection's principal is User:<name>.
func TestSASLClientsAuthenticate(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha256)
	f.createUser(t, "bob", "bob-secret", kadm.ScramSha512)
	for name, mech := range map[string]sasl.Mechanism{
		"PLAIN over SHA-256": plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(),
		"PLAIN over SHA-512": plain.Auth{User: "bob", Pass: "bob-secret"}.AsMechanism(),
		"SCRAM-SHA-256":      scramAuth("alice", "alice-secret").AsSha256Mechanism(),
		"SCRAM-SHA-512":      scramAuth("bob", "bob-secret").AsSha512Mechanism(),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := describe(f.client(t, f.sasl.addr, mech))
			if err != nil {
				t.Fatalf("request after authentication: %v", err)
			}
			if len(resp.Results) != 2 {
				t.Fatalf("want both users described, got %+v", resp.Results)
			}
		})
	}
	if _, ok := f.logs.find(slog.LevelDebug, "kafka SASL authentication succeeded"); !ok {
		t.Error("no debug line for a successful authentication")
	}
	for _, line := range f.logs.lines() {
		if strings.Contains(line, "secret") {
			t.Errorf("a password reached the log: %q", line)
		}
	}
}

// TestSASLWrongCredentialsFail: a wrong password, an unknown user and a
// mechanism the user has no credential for all fail with
// SASL_AUTHENTICATION_FAILED, and the password is never logged.
func TestSASLWrongCredentialsFail(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{FailureBurst: 100})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha256)
	for name, mech := range map[string]sasl.Mechanism{
		"PLAIN wrong password":       plain.Auth{User: "alice", Pass: "guess-1"}.AsMechanism(),
		"PLAIN unknown user":         plain.Auth{User: "mallory", Pass: "guess-2"}.AsMechanism(),
		"SCRAM wrong password":       scramAuth("alice", "guess-3").AsSha256Mechanism(),
		"SCRAM unknown user":         scramAuth("mallory", "guess-4").AsSha256Mechanism(),
		"SCRAM mechanism not set up": scramAuth("alice", "alice-secret").AsSha512Mechanism(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := describe(f.client(t, f.sasl.addr, mech))
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("want SASL_AUTHENTICATION_FAILED, got %v", err)
			}
		})
	}
	if _, ok := f.logs.find(slog.LevelWarn, "kafka SASL authentication failed"); !ok {
		t.Error("no warning for a failed authentication")
	}
	for _, line := range f.logs.lines() {
		if strings.Contains(line, "guess-") || strings.Contains(line, "alice-secret") {
			t.Errorf("a password reached the log: %q", line)
		}
	}
}

// saslRaw is a raw connection to the SASL listener that has done a v1
// handshake for mechanism.
func saslRaw(t *testing.T, f *saslFixture, mechanism string) *rawClient {
	t.Helper()
	c := dialRaw(t, f.sasl.addr)
	if resp := handshake(c, 1, 1, mechanism); resp.ErrorCode != 0 {
		t.Fatalf("handshake %s: error %d", mechanism, resp.ErrorCode)
	}
	return c
}

// handshake sends one SaslHandshake of version v for mechanism and reads
// its answer.
func handshake(c *rawClient, corr int32, v int16, mechanism string) *kmsg.SASLHandshakeResponse {
	c.t.Helper()
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.SetVersion(v)
	req.Mechanism = mechanism
	c.send(req, corr)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.SetVersion(v)
	c.read(resp)
	return resp
}

// scramFirst sends alice's SCRAM-SHA-256 client-first on c (after a
// handshake) and returns the conversation, the client-first and the
// server-first answer.
func scramFirst(t *testing.T, c *rawClient, corr int32) (*scram.ClientConversation, string, *kmsg.SASLAuthenticateResponse) {
	t.Helper()
	client, _ := scram.SHA256.NewClient("alice", "alice-secret", "")
	conv := client.NewConversation()
	first, _ := conv.Step("")
	r := authenticate(c, corr, []byte(first))
	if r.ErrorCode != 0 {
		t.Fatalf("client-first: %d", r.ErrorCode)
	}
	return conv, first, r
}

// authenticate sends one SaslAuthenticate (v2) and reads its answer.
func authenticate(c *rawClient, corr int32, token []byte) *kmsg.SASLAuthenticateResponse {
	c.t.Helper()
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.SetVersion(2)
	req.SASLAuthBytes = token
	c.send(req, corr)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.SetVersion(2)
	c.read(resp)
	return resp
}

func describeReq() *kmsg.DescribeUserSCRAMCredentialsRequest {
	return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
}

// served asserts the connection serves a request (it authenticated).
func wantServed(c *rawClient, corr int32) {
	c.t.Helper()
	c.send(describeReq(), corr)
	resp := kmsg.NewPtrDescribeUserSCRAMCredentialsResponse()
	c.read(resp)
}

func wantFailedAndClosed(t *testing.T, c *rawClient, resp *kmsg.SASLAuthenticateResponse, code *kerr.Error) {
	t.Helper()
	if resp.ErrorCode != code.Code {
		t.Fatalf("want %s, got error %d (%v)", code.Message, resp.ErrorCode, resp.ErrorMessage)
	}
	if resp.ErrorMessage == nil || *resp.ErrorMessage == "" {
		t.Error("no error message")
	}
	c.expectClosed()
}

// TestSASLGate: on a SASL listener only ApiVersions and the SASL APIs are
// served before authentication; anything else closes the connection
// unanswered, while a PLAINTEXT listener of the same backend serves it.
func TestSASLGate(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha256)

	t.Run("api versions then produce", func(t *testing.T) {
		c := dialRaw(t, f.sasl.addr)
		av := kmsg.NewPtrApiVersionsRequest()
		av.SetVersion(3)
		av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
		c.send(av, 1)
		avr := kmsg.NewPtrApiVersionsResponse()
		avr.SetVersion(3)
		c.read(avr)
		if avr.ErrorCode != 0 {
			t.Fatalf("ApiVersions refused before authentication: %d", avr.ErrorCode)
		}
		p := kmsg.NewPtrProduceRequest()
		p.SetVersion(9)
		p.Acks = -1
		p.TimeoutMillis = 1000
		c.send(p, 2)
		c.expectClosed()
	})
	t.Run("describe before auth", func(t *testing.T) {
		c := dialRaw(t, f.sasl.addr)
		c.send(describeReq(), 1)
		c.expectClosed()
	})
	t.Run("request in the middle of a SCRAM exchange", func(t *testing.T) {
		c := saslRaw(t, f, state.ScramSHA256)
		scramFirst(t, c, 2)
		c.send(describeReq(), 3)
		c.expectClosed()
	})
	t.Run("plaintext listener serves without auth", func(t *testing.T) {
		c := dialRaw(t, f.plain.addr)
		wantServed(c, 1)
	})
	t.Run("sasl APIs on a plaintext listener", func(t *testing.T) {
		c := dialRaw(t, f.plain.addr)
		if resp := handshake(c, 1, 1, MechanismPlain); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("want ILLEGAL_SASL_STATE, got %d", resp.ErrorCode)
		}
		wantServed(c, 2) // the connection stays up
	})
	if _, ok := f.sasl.logs.find(slog.LevelWarn, "kafka request refused on a SASL listener; closing connection"); !ok {
		t.Error("no log line for a refused request")
	}
}

// TestSASLBadExchanges: each lie or protocol violation in the SASL
// exchange gets a clear error and a closed connection, and the listener
// goes on serving a correct client.
func TestSASLBadExchanges(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{FailureBurst: 100})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha256)

	t.Run("authenticate before handshake", func(t *testing.T) {
		c := dialRaw(t, f.sasl.addr)
		wantFailedAndClosed(t, c, authenticate(c, 1, []byte("\x00alice\x00alice-secret")), kerr.IllegalSaslState)
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := dialRaw(t, f.sasl.addr)
		resp := handshake(c, 1, 1, "GSSAPI")
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(resp.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" {
			t.Fatalf("got error %d, mechanisms %v", resp.ErrorCode, resp.SupportedMechanisms)
		}
		c.expectClosed()
	})
	t.Run("handshake v0", func(t *testing.T) {
		c := dialRaw(t, f.sasl.addr)
		resp := handshake(c, 1, 0, MechanismPlain)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(resp.SupportedMechanisms) != 0 {
			t.Fatalf("got error %d, mechanisms %v", resp.ErrorCode, resp.SupportedMechanisms)
		}
		c.expectClosed()
	})
	t.Run("second handshake mid-exchange", func(t *testing.T) {
		c := saslRaw(t, f, MechanismPlain)
		if resp := handshake(c, 2, 1, MechanismPlain); resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("want ILLEGAL_SASL_STATE, got %d", resp.ErrorCode)
		}
		c.expectClosed()
	})
	for name, token := range map[string]string{
		"PLAIN garbage":         "no separators at all",
		"PLAIN empty":           "",
		"PLAIN other authzid":   "bob\x00alice\x00alice-secret",
		"PLAIN too many fields": "\x00alice\x00alice-secret\x00x",
	} {
		t.Run(name, func(t *testing.T) {
			c := saslRaw(t, f, MechanismPlain)
			wantFailedAndClosed(t, c, authenticate(c, 2, []byte(token)), kerr.SaslAuthenticationFailed)
		})
	}
	for name, token := range map[string]string{
		"SCRAM garbage client-first":   "garbage",
		"SCRAM truncated client-first": "n,,n=alice",
		"SCRAM extension":              "n,,m=ext,n=alice,r=abc",
		"SCRAM bad name escape":        "n,,n=al=ice,r=abc",
		"SCRAM other authzid":          "n,a=bob,n=alice,r=abc",
		"SCRAM empty nonce":            "n,,n=alice,r=",
		"SCRAM unprintable nonce":      "n,,n=alice,r=ab\x01c",
		"SCRAM channel binding":        "p=tls-unique,,n=alice,r=abc",
	} {
		t.Run(name, func(t *testing.T) {
			c := saslRaw(t, f, state.ScramSHA256)
			wantFailedAndClosed(t, c, authenticate(c, 2, []byte(token)), kerr.SaslAuthenticationFailed)
		})
	}

	// A client-final that is garbage, is cut short, carries a nonce other
	// than ours, or proves the wrong password.
	finals := map[string]func(final, nonce string) string{
		"garbage client-final":   func(string, string) string { return "garbage" },
		"truncated client-final": func(final, _ string) string { return final[:len(final)/2] },
		"wrong nonce": func(final, nonce string) string {
			return strings.Replace(final, "r="+nonce, "r="+nonce+"x", 1)
		},
		"wrong proof": func(final, _ string) string {
			i := strings.LastIndex(final, "p=")
			return final[:i] + "p=" + strings.Repeat("A", 43) + "="
		},
	}
	for name, mangle := range finals {
		t.Run("SCRAM "+name, func(t *testing.T) {
			c := saslRaw(t, f, state.ScramSHA256)
			conv, _, r := scramFirst(t, c, 2)
			final, err := conv.Step(string(r.SASLAuthBytes))
			if err != nil {
				t.Fatal(err)
			}
			nonce := strings.TrimPrefix(strings.Split(string(r.SASLAuthBytes), ",")[0], "r=")
			wantFailedAndClosed(t, c, authenticate(c, 3, []byte(mangle(final, nonce))), kerr.SaslAuthenticationFailed)
		})
	}

	// A client-final recorded from a successful exchange, replayed on a
	// new connection that sent the same client-first: our nonce differs.
	t.Run("SCRAM replayed client-final", func(t *testing.T) {
		c := saslRaw(t, f, state.ScramSHA256)
		conv, first, r := scramFirst(t, c, 2)
		final, err := conv.Step(string(r.SASLAuthBytes))
		if err != nil {
			t.Fatal(err)
		}
		if r := authenticate(c, 3, []byte(final)); r.ErrorCode != 0 {
			t.Fatalf("the genuine exchange failed: %d %v", r.ErrorCode, r.ErrorMessage)
		}
		wantServed(c, 4)

		replay := saslRaw(t, f, state.ScramSHA256)
		if r := authenticate(replay, 2, []byte(first)); r.ErrorCode != 0 {
			t.Fatalf("client-first: %d", r.ErrorCode)
		}
		wantFailedAndClosed(t, replay, authenticate(replay, 3, []byte(final)), kerr.SaslAuthenticationFailed)
	})
	t.Run("SCRAM step after completion", func(t *testing.T) {
		c := saslRaw(t, f, state.ScramSHA256)
		conv, _, r := scramFirst(t, c, 2)
		final, _ := conv.Step(string(r.SASLAuthBytes))
		authenticate(c, 3, []byte(final))
		// Authenticated: another SaslAuthenticate without a handshake is out of order.
		wantFailedAndClosed(t, c, authenticate(c, 4, []byte(final)), kerr.IllegalSaslState)
	})
	t.Run("1 MiB of auth bytes", func(t *testing.T) {
		c := saslRaw(t, f, MechanismPlain)
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(2)
		req.SASLAuthBytes = bytes.Repeat([]byte("A"), 1<<20)
		// The server closes at the size prefix; the rest of the write may fail.
		_, _ = c.nc.Write(frameFor(req, 2))
		c.expectClosed()
	})

	// Nothing above cost a correct client anything.
	if _, err := describe(f.client(t, f.sasl.addr, scramAuth("alice", "alice-secret").AsSha256Mechanism())); err != nil {
		t.Fatalf("a correct client after the attacks: %v", err)
	}
}

// TestSASLFailureRateLimit: after the burst of failures from one address,
// that address is refused even with the right password, while another
// address authenticates; the limiter forgets addresses past its bound.
func TestSASLFailureRateLimit(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{FailureBurst: 3, FailureRefill: time.Hour})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha256)
	plainToken := func(pass string) []byte { return []byte("\x00alice\x00" + pass) }
	for i := range 3 {
		c := saslRaw(t, f, MechanismPlain)
		wantFailedAndClosed(t, c, authenticate(c, 2, plainToken("wrong")), kerr.SaslAuthenticationFailed)
		_ = i
	}
	c := saslRaw(t, f, MechanismPlain)
	r := authenticate(c, 2, plainToken("alice-secret"))
	wantFailedAndClosed(t, c, r, kerr.SaslAuthenticationFailed)
	if !strings.Contains(*r.ErrorMessage, "too many failed authentications") {
		t.Fatalf("refusal message %q", *r.ErrorMessage)
	}

	// Another loopback address is not affected.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: testTimeout}
	nc, err := d.Dial("tcp", f.sasl.addr)
	if err != nil {
		t.Skipf("no second loopback address: %v", err)
	}
	other := wrapRaw(t, nc)
	handshake(other, 1, 1, MechanismPlain)
	if r := authenticate(other, 2, plainToken("alice-secret")); r.ErrorCode != 0 {
		t.Fatalf("another address was refused: %d %v", r.ErrorCode, r.ErrorMessage)
	}
	wantServed(other, 3)
}

func TestFailureLimiterBounded(t *testing.T) {
	l := newFailureLimiter(2, time.Minute, 3)
	now := time.Now()
	for _, ip := range []string{"a", "b", "c", "d", "e"} {
		l.failed(ip, now)
		l.failed(ip, now)
	}
	if n := l.tracked(); n > 3 {
		t.Fatalf("tracks %d addresses, bound 3", n)
	}
	if ok, _ := l.allow("e", now); ok {
		t.Fatal("the latest address to fail twice is allowed")
	}
	if ok, wait := l.allow("e", now.Add(30*time.Second)); ok || wait <= 0 {
		t.Fatalf("half a refill later: ok %v wait %v", ok, wait)
	}
	if ok, _ := l.allow("e", now.Add(time.Minute)); !ok {
		t.Fatal("a refilled token is not usable")
	}
	if ok, _ := l.allow("never-failed", now); !ok {
		t.Fatal("an unknown address is refused")
	}
}

// TestSASLReauthentication (KIP-368): SaslAuthenticate answers the session
// lifetime; a franz-go client re-authenticates on its own and keeps working
// over several lifetimes; a raw client that does not is cut at its first
// request after expiry; re-authenticating as someone else is refused.
func TestSASLReauthentication(t *testing.T) {
	const lifetime = 700 * time.Millisecond
	f := newSASLFixture(t, SASLConfig{MaxReauth: lifetime})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha512)
	f.createUser(t, "bob", "bob-secret", kadm.ScramSha512)

	t.Run("raw client without re-authentication is cut", func(t *testing.T) {
		c := saslRaw(t, f, MechanismPlain)
		start := time.Now()
		r := authenticate(c, 2, []byte("\x00alice\x00alice-secret"))
		if r.ErrorCode != 0 || r.SessionLifetimeMillis != lifetime.Milliseconds() {
			t.Fatalf("error %d, session lifetime %d ms", r.ErrorCode, r.SessionLifetimeMillis)
		}
		wantServed(c, 3)
		corr := int32(4)
		testharness.Eventually(t, 5*time.Second, "the expired session's connection closed", func() bool {
			corr++
			if _, err := c.nc.Write(frameFor(describeReq(), corr)); err != nil {
				return true
			}
			frame, err := readResponseFrame(c)
			return err != nil || frame == nil
		})
		if since := time.Since(start); since < lifetime {
			t.Fatalf("cut after %v, before the %v session ended", since, lifetime)
		}
	})

	t.Run("late re-authentication is served", func(t *testing.T) {
		c := saslRaw(t, f, MechanismPlain)
		if r := authenticate(c, 2, []byte("\x00alice\x00alice-secret")); r.ErrorCode != 0 {
			t.Fatalf("first authentication: %d", r.ErrorCode)
		}
		time.Sleep(lifetime + 100*time.Millisecond) // the session's end is the point of the test
		hsr := handshake(c, 3, 1, MechanismPlain)
		if r := authenticate(c, 4, []byte("\x00alice\x00alice-secret")); hsr.ErrorCode != 0 || r.ErrorCode != 0 {
			t.Fatalf("late re-authentication: handshake %d, authenticate %d %v", hsr.ErrorCode, r.ErrorCode, r.ErrorMessage)
		}
		wantServed(c, 5)
	})

	t.Run("re-authentication as another principal", func(t *testing.T) {
		c := saslRaw(t, f, MechanismPlain)
		if r := authenticate(c, 2, []byte("\x00alice\x00alice-secret")); r.ErrorCode != 0 {
			t.Fatalf("first authentication: %d", r.ErrorCode)
		}
		hsr := handshake(c, 3, 1, MechanismPlain)
		if hsr.ErrorCode != 0 {
			t.Fatalf("re-authentication handshake: %d", hsr.ErrorCode)
		}
		wantFailedAndClosed(t, c, authenticate(c, 4, []byte("\x00bob\x00bob-secret")), kerr.SaslAuthenticationFailed)
	})

	t.Run("franz-go keeps working across lifetimes", func(t *testing.T) {
		before := f.sasl.Stats().Requests[saslAuthenticateKey]
		cl := f.client(t, f.sasl.addr, scramAuth("alice", "alice-secret").AsSha512Mechanism())
		deadline := time.Now().Add(4 * lifetime)
		n := 0
		for time.Now().Before(deadline) {
			if _, err := describe(cl); err != nil {
				t.Fatalf("request %d at %v: %v", n, time.Until(deadline), err)
			}
			n++
			time.Sleep(lifetime / 10) // spread requests over the lifetimes, not a wait for a condition
		}
		// Two SaslAuthenticate requests (client-first, client-final) per
		// authentication: at least the first and three re-authentications.
		if got := f.sasl.Stats().Requests[saslAuthenticateKey] - before; got < 8 {
			t.Fatalf("%d SaslAuthenticate requests over %d requests and 4 lifetimes: the client did not re-authenticate", got, n)
		}
	})
}

// TestDescribeNeverReturnsSecrets: the DescribeUserScramCredentials answer
// holds mechanisms and iterations, never a salt or a key; errors as Kafka.
func TestDescribeNeverReturnsSecrets(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha256)
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha512)

	c := dialRaw(t, f.plain.addr)
	req := describeReq()
	for _, u := range []string{"alice", "nobody", "dup", "dup"} {
		ru := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		ru.Name = u
		req.Users = append(req.Users, ru)
	}
	c.send(req, 1)
	resp := kmsg.NewPtrDescribeUserSCRAMCredentialsResponse()
	c.read(resp)
	body := resp.AppendTo(nil)
	for _, mech := range []string{state.ScramSHA256, state.ScramSHA512} {
		cred, ok := f.meta.State().ScramCredentialFor("alice", mech)
		if !ok {
			t.Fatalf("alice has no %s credential", mech)
		}
		for what, secret := range map[string][]byte{"salt": cred.Salt, "stored key": cred.StoredKey, "server key": cred.ServerKey} {
			if bytes.Contains(body, secret) {
				t.Errorf("the answer holds the %s %s", mech, what)
			}
		}
	}
	got := map[string]int16{}
	for _, r := range resp.Results {
		got[r.User] = r.ErrorCode
		if r.User == "alice" && (len(r.CredentialInfos) != 2 || r.CredentialInfos[0].Mechanism != 1 || r.CredentialInfos[1].Mechanism != 2 || r.CredentialInfos[0].Iterations != 4096) {
			t.Errorf("alice: %+v", r.CredentialInfos)
		}
	}
	if len(resp.Results) != 3 || got["alice"] != 0 || got["nobody"] != kerr.ResourceNotFound.Code || got["dup"] != kerr.DuplicateResource.Code {
		t.Fatalf("results %+v", resp.Results)
	}
}

// TestAlterUserScramCredentialsPerUser: Kafka's per-user rules; a user with
// one bad change keeps its old credentials while the others are applied.
func TestAlterUserScramCredentialsPerUser(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{})
	f.createUser(t, "keep", "keep-secret", kadm.ScramSha256)
	before, _ := f.meta.State().ScramCredentialFor("keep", state.ScramSHA256)

	up := func(user string, mech int8, iterations int32, salt, salted []byte) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations, u.Salt, u.SaltedPassword = user, mech, iterations, salt, salted
		return u
	}
	del := func(user string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = user, mech
		return d
	}
	salt, salted := []byte("0123456789abcdef"), bytes.Repeat([]byte{7}, 32)
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
		up("ok", 1, 4096, salt, salted),
		up("", 1, 4096, salt, salted),
		up("few", 1, 4095, salt, salted),
		up("many", 2, 16385, salt, salted),
		up("mech", 0, 4096, salt, salted),
		up("nosalt", 1, 4096, nil, salted),
		up("keep", 1, 8192, salt, salted), // with a bad deletion below: not applied
		up("twice", 1, 4096, salt, salted),
		up("twice", 1, 4096, salt, salted),
	}
	req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("keep", 2), del("ghost", 1)}
	c := dialRaw(t, f.plain.addr)
	c.send(req, 1)
	resp := kmsg.NewPtrAlterUserSCRAMCredentialsResponse()
	c.read(resp)
	got := map[string]int16{}
	for _, r := range resp.Results {
		got[r.User] = r.ErrorCode
		if r.ErrorCode != 0 && (r.ErrorMessage == nil || *r.ErrorMessage == "") {
			t.Errorf("%q: error %d without a message", r.User, r.ErrorCode)
		}
	}
	want := map[string]int16{
		"ok": 0, "": kerr.UnacceptableCredential.Code, "few": kerr.UnacceptableCredential.Code,
		"many": kerr.UnacceptableCredential.Code, "mech": kerr.UnsupportedSaslMechanism.Code,
		"nosalt": kerr.UnacceptableCredential.Code, "keep": kerr.ResourceNotFound.Code,
		"twice": kerr.DuplicateResource.Code, "ghost": kerr.ResourceNotFound.Code,
	}
	for user, code := range want {
		if g, ok := got[user]; !ok || g != code {
			t.Errorf("%q: error %d (present %v), want %d", user, g, ok, code)
		}
	}
	st := f.meta.State()
	if users := strings.Join(st.ScramUsers(), ","); users != "keep,ok" {
		t.Fatalf("users after the request: %s", users)
	}
	if after, _ := st.ScramCredentialFor("keep", state.ScramSHA256); after.Iterations != before.Iterations {
		t.Fatal("a user with a failed change was altered")
	}
	okCred, _ := st.ScramCredentialFor("ok", state.ScramSHA256)
	if bytes.Contains(okCred.StoredKey, salted) || bytes.Equal(okCred.ServerKey, salted) {
		t.Fatal("the salted password was stored")
	}
}

// TestSCRAMFinalNonceEndingWithOurs: librdkafka sends its own nonce again in
// front of the one we sent; Kafka accepts a final nonce that ends with ours,
// and so do we, with the proof computed over the message as sent.
func TestSCRAMFinalNonceEndingWithOurs(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{})
	f.createUser(t, "alice", "alice-secret", kadm.ScramSha256)
	c := saslRaw(t, f, state.ScramSHA256)
	const cnonce = "rdkafka-style-nonce"
	r := authenticate(c, 2, []byte("n,,n=alice,r="+cnonce))
	if r.ErrorCode != 0 {
		t.Fatalf("client-first: %d %v", r.ErrorCode, r.ErrorMessage)
	}
	serverFirst := string(r.SASLAuthBytes)
	attrs := map[string]string{}
	for _, a := range strings.Split(serverFirst, ",") {
		attrs[a[:1]] = a[2:]
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		t.Fatal(err)
	}
	iters, err := strconv.Atoi(attrs["i"])
	if err != nil {
		t.Fatal(err)
	}
	salted, err := pbkdf2.Key(sha256.New, "alice-secret", salt, iters, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	hm := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	clientKey := hm(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + cnonce + attrs["r"] // librdkafka: cnonce + the whole server nonce
	authMessage := "n=alice,r=" + cnonce + "," + serverFirst + "," + withoutProof
	proof := hm(stored[:], authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	r = authenticate(c, 3, []byte(withoutProof+",p="+base64.StdEncoding.EncodeToString(proof)))
	if r.ErrorCode != 0 {
		t.Fatalf("client-final: %d %v", r.ErrorCode, r.ErrorMessage)
	}
	if want := "v=" + base64.StdEncoding.EncodeToString(hm(hm(salted, "Server Key"), authMessage)); string(r.SASLAuthBytes) != want {
		t.Fatalf("server-final %q, want %q", r.SASLAuthBytes, want)
	}
	wantServed(c, 4)
}

// TestSASLCredentialChanges: a new password replaces the old one at once,
// and a deleted user can no longer authenticate with any mechanism.
func TestSASLCredentialChanges(t *testing.T) {
	f := newSASLFixture(t, SASLConfig{FailureBurst: 100})
	f.createUser(t, "erin", "first-pw", kadm.ScramSha256)
	f.createUser(t, "erin", "second-pw", kadm.ScramSha256)
	if _, err := describe(f.client(t, f.sasl.addr, scramAuth("erin", "first-pw").AsSha256Mechanism())); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("the replaced password: want SASL_AUTHENTICATION_FAILED, got %v", err)
	}
	if _, err := describe(f.client(t, f.sasl.addr, plain.Auth{User: "erin", Pass: "second-pw"}.AsMechanism())); err != nil {
		t.Fatalf("the new password: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res, err := kadm.NewClient(f.client(t, f.plain.addr, nil)).AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "erin", Mechanism: kadm.ScramSha256}}, nil)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("delete erin: %v", err)
	}
	for name, mech := range map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: "erin", Pass: "second-pw"}.AsMechanism(),
		"SCRAM-SHA-256": scramAuth("erin", "second-pw").AsSha256Mechanism(),
	} {
		if _, err := describe(f.client(t, f.sasl.addr, mech)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s after the deletion: want SASL_AUTHENTICATION_FAILED, got %v", name, err)
		}
	}
}
