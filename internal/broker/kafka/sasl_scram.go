package kafka

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/xdg-go/scram"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// scramExchange is the server side of one SCRAM authentication (RFC 5802).
// xdg-go/scram reads the client-first message (GS2 header, the user name's
// escapes, no mandatory extensions), looks the credential up and makes the
// server-first message with its nonce. The client-final message is checked
// here rather than by xdg-go, for one reason: Kafka accepts a final nonce
// that merely ends with the one the server sent (ScramSaslServer's
// endsWith), and librdkafka relies on it — it sends its own nonce again in
// front of ours. The freshness is unchanged: our random part still has to
// come back, and the proof covers the message as sent.
type scramExchange struct {
	mechanism string
	conv      *scram.ServerConversation
	cred      scram.StoredCredentials // as the lookup found it

	user            string
	gs2Header       string // "n,," or "n,a=<authzid>,": the channel binding the final message repeats
	clientFirstBare string
	serverFirst     string
	nonce           string // client's and ours, as sent in serverFirst
	finished        bool
}

// newSCRAM starts an exchange for a SCRAM mechanism; nil for another one.
func (a *saslAuth) newSCRAM(mechanism string) *scramExchange {
	var h scram.HashGeneratorFcn
	switch mechanism {
	case state.ScramSHA256:
		h = scram.SHA256
	case state.ScramSHA512:
		h = scram.SHA512
	default:
		return nil
	}
	x := &scramExchange{mechanism: mechanism}
	srv, err := h.NewServer(func(user string) (scram.StoredCredentials, error) {
		x.cred = a.scramCredential(mechanism, user)
		return x.cred, nil
	})
	if err != nil {
		return nil // only for a nil hash, which cannot happen here
	}
	x.conv = srv.NewConversation()
	return x
}

// step takes the next client message and returns what to answer, and
// whether the exchange has succeeded. Any error ends the exchange.
func (x *scramExchange) step(msg []byte) (out []byte, done bool, err error) {
	if x.finished {
		return nil, false, errors.New("the SCRAM exchange is already over")
	}
	if x.serverFirst == "" {
		return x.first(string(msg))
	}
	x.finished = true
	return x.final(string(msg))
}

func (x *scramExchange) first(msg string) ([]byte, bool, error) {
	out, err := x.conv.Step(msg)
	x.user = x.conv.Username()
	if err != nil {
		x.finished = true
		return nil, false, fmt.Errorf("client-first message: %w", err)
	}
	if authz := x.conv.AuthzID(); authz != "" && authz != x.user {
		x.finished = true
		return nil, false, errors.New("the authorization id differs from the user name")
	}
	// xdg-go parsed msg as gs2-flag "," [authzid] "," bare: split it the
	// same way for the AuthMessage.
	first := strings.IndexByte(msg, ',')
	second := first + 1 + strings.IndexByte(msg[first+1:], ',')
	x.gs2Header, x.clientFirstBare = msg[:second+1], msg[second+1:]
	if err := checkClientNonce(x.clientFirstBare); err != nil {
		x.finished = true
		return nil, false, err
	}
	x.serverFirst = out
	nonce, _, _ := strings.Cut(strings.TrimPrefix(out, "r="), ",")
	x.nonce = nonce
	return []byte(out), false, nil
}

// final checks the client-final message: channel binding "c=", nonce "r=",
// optional extensions, proof "p=" last.
func (x *scramExchange) final(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, errors.New("client-final message: no proof")
	}
	withoutProof, proofB64 := msg[:i], msg[i+len(",p="):]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, errors.New("client-final message: malformed, want c=...,r=...,p=...")
	}
	cbind, err := base64.StdEncoding.DecodeString(attrs[0][len("c="):])
	if err != nil || string(cbind) != x.gs2Header {
		return nil, false, errors.New("client-final message: channel binding differs from the client-first message's")
	}
	if !strings.HasSuffix(attrs[1][len("r="):], x.nonce) {
		return nil, false, errors.New("client-final message: the nonce is not the one we sent")
	}
	h := state.ScramHash(x.mechanism)
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != h().Size() {
		return nil, false, errors.New("client-final message: malformed proof")
	}
	authMessage := []byte(x.clientFirstBare + "," + x.serverFirst + "," + withoutProof)
	clientKey := mac(h, x.cred.StoredKey, authMessage)
	for j := range clientKey {
		clientKey[j] ^= proof[j]
	}
	sum := h()
	sum.Write(clientKey)
	if !hmac.Equal(sum.Sum(nil), x.cred.StoredKey) {
		return nil, false, errors.New("client-final message: the proof is wrong")
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(h, x.cred.ServerKey, authMessage))), true, nil
}

// checkClientNonce requires the client-first nonce RFC 5802 asks for: at
// least one printable character other than ','.
func checkClientNonce(bare string) error {
	for _, attr := range strings.Split(bare, ",") {
		nonce, ok := strings.CutPrefix(attr, "r=")
		if !ok {
			continue
		}
		if nonce == "" {
			return errors.New("client-first message: empty nonce")
		}
		for _, c := range []byte(nonce) {
			if c < 0x21 || c > 0x7e {
				return errors.New("client-first message: the nonce has a character that is not printable")
			}
		}
		return nil
	}
	return errors.New("client-first message: no nonce")
}

func mac(h func() hash.Hash, key, data []byte) []byte {
	m := hmac.New(h, key)
	m.Write(data)
	return m.Sum(nil)
}
