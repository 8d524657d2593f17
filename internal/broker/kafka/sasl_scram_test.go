package kafka

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// TestSCRAMFinalRFC7677: the client-final check and state.ScramKeys agree
// with the SCRAM-SHA-256 example exchange of RFC 7677 section 3.
func TestSCRAMFinalRFC7677(t *testing.T) {
	salt, err := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	if err != nil {
		t.Fatal(err)
	}
	salted, err := pbkdf2.Key(sha256.New, "pencil", salt, 4096, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	stored, server := state.ScramKeys(state.ScramSHA256, salted)
	const nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	x := &scramExchange{
		mechanism:       state.ScramSHA256,
		cred:            scram.StoredCredentials{StoredKey: stored, ServerKey: server},
		user:            "user",
		gs2Header:       "n,,",
		clientFirstBare: "n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst:     "r=" + nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		nonce:           nonce,
	}
	out, ok, err := x.step([]byte("c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil || !ok {
		t.Fatalf("RFC 7677's client-final refused: %v", err)
	}
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(out) != want {
		t.Fatalf("server-final %q, want %q", out, want)
	}
	if _, _, err := x.step([]byte("c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")); err == nil {
		t.Fatal("a second client-final was accepted")
	}
}
