package state

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"maps"
	"slices"
)

// SCRAM mechanisms (RFC 5802, RFC 7677), named as SASL names them.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Kafka's bounds on a SCRAM credential's iteration count
// (ScramMechanism.minIterations, and the 16384 its tools refuse to exceed).
const (
	MinScramIterations = 4096
	MaxScramIterations = 16384
)

// Bounds on what one credential may store, so a request cannot grow the
// metadata without limit: Kafka's tools make 32- to 64-byte salts.
const (
	MaxScramUserBytes = 1024
	MaxScramSaltBytes = 256
)

// ScramKeySize is the length of a mechanism's StoredKey and ServerKey (its
// hash's output), and false for a mechanism that is not SCRAM.
func ScramKeySize(mechanism string) (int, bool) {
	switch mechanism {
	case ScramSHA256:
		return sha256.Size, true
	case ScramSHA512:
		return sha512.Size, true
	default:
		return 0, false
	}
}

// ScramHash is a SCRAM mechanism's hash function, nil for a mechanism that
// is not SCRAM.
func ScramHash(mechanism string) func() hash.Hash {
	switch mechanism {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	default:
		return nil
	}
}

// ScramKeys derives the keys a server stores from a salted password (RFC
// 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
// HMAC(SaltedPassword, "Server Key")). It returns nils for a mechanism
// that is not SCRAM.
func ScramKeys(mechanism string, saltedPassword []byte) (storedKey, serverKey []byte) {
	h := ScramHash(mechanism)
	if h == nil {
		return nil, nil
	}
	mac := hmac.New(h, saltedPassword)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	sum := h()
	sum.Write(clientKey)
	storedKey = sum.Sum(nil)
	mac = hmac.New(h, saltedPassword)
	mac.Write([]byte("Server Key"))
	return storedKey, mac.Sum(nil)
}

// ScramCredential is what the cluster keeps of one user's password for one
// mechanism: salt, iterations and the two keys derived from the salted
// password (RFC 5802 section 3). Neither the password nor the salted
// password is ever stored, and the keys cannot be turned back into either.
// A credential is replaced whole, never changed in place, so clones share
// its byte slices.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int32  `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// ScramUpsertion sets a user's credential for one mechanism.
type ScramUpsertion struct {
	User       string          `json:"user"`
	Mechanism  string          `json:"mechanism"`
	Credential ScramCredential `json:"credential"`
}

// ScramDeletion removes a user's credential for one mechanism.
type ScramDeletion struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

// AlterScramCredentials applies deletions and upsertions all or nothing:
// one invalid entry rejects the command. The controller answers per user
// and puts only the users that passed its checks into the command.
type AlterScramCredentials struct {
	Deletions  []ScramDeletion  `json:"deletions,omitempty"`
	Upsertions []ScramUpsertion `json:"upsertions,omitempty"`
}

// ScramCredentialFor is the user's credential for mechanism.
func (s *State) ScramCredentialFor(user, mechanism string) (ScramCredential, bool) {
	c, ok := s.Scram[user][mechanism]
	return c, ok
}

// CheckScramCredential says what is wrong with a credential for user and
// mechanism, or nil: the rules Apply enforces, for the controller to answer
// per user before proposing.
func CheckScramCredential(user, mechanism string, c ScramCredential) error {
	if err := checkScramKey(user, mechanism); err != nil {
		return err
	}
	size, _ := ScramKeySize(mechanism)
	switch {
	case c.Iterations < MinScramIterations:
		return rejectf("%d iterations are too few for %s (minimum %d)", c.Iterations, mechanism, MinScramIterations)
	case c.Iterations > MaxScramIterations:
		return rejectf("%d iterations are too many for %s (maximum %d)", c.Iterations, mechanism, MaxScramIterations)
	case len(c.Salt) == 0:
		return rejectf("the salt is empty")
	case len(c.Salt) > MaxScramSaltBytes:
		return rejectf("the salt is %d bytes, the maximum is %d", len(c.Salt), MaxScramSaltBytes)
	case len(c.StoredKey) != size || len(c.ServerKey) != size:
		return rejectf("%s keys must be %d bytes", mechanism, size)
	}
	return nil
}

// checkScramKey checks the user and mechanism naming a credential.
func checkScramKey(user, mechanism string) error {
	switch {
	case user == "":
		return rejectf("the user name is empty")
	case len(user) > MaxScramUserBytes:
		return rejectf("the user name is %d bytes, the maximum is %d", len(user), MaxScramUserBytes)
	}
	if _, ok := ScramKeySize(mechanism); !ok {
		return rejectf("unknown SCRAM mechanism %q", mechanism)
	}
	return nil
}

func (s *State) applyAlterScramCredentials(c AlterScramCredentials) error {
	type key struct{ user, mechanism string }
	seen := map[key]bool{}
	once := func(user, mechanism string) error {
		k := key{user, mechanism}
		if seen[k] {
			return rejectf("the %s credential of user %q is altered twice", mechanism, user)
		}
		seen[k] = true
		return nil
	}
	for _, d := range c.Deletions {
		if err := checkScramKey(d.User, d.Mechanism); err != nil {
			return err
		}
		if err := once(d.User, d.Mechanism); err != nil {
			return err
		}
		if _, ok := s.ScramCredentialFor(d.User, d.Mechanism); !ok {
			return rejectf("user %q has no %s credential to delete", d.User, d.Mechanism)
		}
	}
	for _, u := range c.Upsertions {
		if err := CheckScramCredential(u.User, u.Mechanism, u.Credential); err != nil {
			return err
		}
		if err := once(u.User, u.Mechanism); err != nil {
			return err
		}
	}
	for _, d := range c.Deletions {
		delete(s.Scram[d.User], d.Mechanism)
		if len(s.Scram[d.User]) == 0 {
			delete(s.Scram, d.User)
		}
	}
	for _, u := range c.Upsertions {
		if s.Scram == nil {
			s.Scram = map[string]map[string]ScramCredential{}
		}
		if s.Scram[u.User] == nil {
			s.Scram[u.User] = map[string]ScramCredential{}
		}
		cred := u.Credential
		cred.Salt, cred.StoredKey, cred.ServerKey = slices.Clone(cred.Salt), slices.Clone(cred.StoredKey), slices.Clone(cred.ServerKey)
		s.Scram[u.User][u.Mechanism] = cred
	}
	return nil
}

// ScramUsers lists the users that have a SCRAM credential, sorted.
func (s *State) ScramUsers() []string {
	return slices.Sorted(maps.Keys(s.Scram))
}

// cloneScram copies the credential maps; the credentials' bytes are shared
// (they are never written in place).
func cloneScram(in map[string]map[string]ScramCredential) map[string]map[string]ScramCredential {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]map[string]ScramCredential, len(in))
	for user, creds := range in {
		out[user] = maps.Clone(creds)
	}
	return out
}

// String keeps the keys out of logs and %v.
func (c ScramCredential) String() string {
	return fmt.Sprintf("{iterations %d, %d-byte salt}", c.Iterations, len(c.Salt))
}
