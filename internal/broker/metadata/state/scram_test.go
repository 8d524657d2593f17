package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// securityState is a state whose cluster runs the security metadata
// version (SCRAM credentials, ACLs, quotas).
func securityState(t *testing.T) *State {
	t.Helper()
	s := New()
	applyOK(t, s, TypeInitCluster, InitCluster{ClusterID: "c", MetadataVersion: SecurityMetadataVersion})
	return s
}

// restored is s after a snapshot and a restore.
func restored(t *testing.T, s *State) *State {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Restore(snap)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func cred(mechanism string, iterations int32, fill byte) ScramCredential {
	size, _ := ScramKeySize(mechanism)
	return ScramCredential{
		Salt:       []byte("salt-" + string(fill)),
		Iterations: iterations,
		StoredKey:  bytes.Repeat([]byte{fill}, size),
		ServerKey:  bytes.Repeat([]byte{fill + 1}, size),
	}
}

func TestAlterScramCredentialsUpsertsReplacesAndDeletes(t *testing.T) {
	s := securityState(t)
	applyOK(t, s, TypeAlterScramCredentials, AlterScramCredentials{Upsertions: []ScramUpsertion{
		{User: "alice", Mechanism: ScramSHA256, Credential: cred(ScramSHA256, 4096, 'a')},
		{User: "alice", Mechanism: ScramSHA512, Credential: cred(ScramSHA512, 8192, 'b')},
		{User: "bob", Mechanism: ScramSHA512, Credential: cred(ScramSHA512, 4096, 'c')},
	}})
	if got := s.ScramUsers(); strings.Join(got, ",") != "alice,bob" {
		t.Fatalf("users %v", got)
	}
	c, ok := s.ScramCredentialFor("alice", ScramSHA512)
	if !ok || c.Iterations != 8192 || c.StoredKey[0] != 'b' {
		t.Fatalf("alice SHA-512: %v %v", c, ok)
	}

	// Replace alice's SHA-256 and delete bob's only credential in one command.
	applyOK(t, s, TypeAlterScramCredentials, AlterScramCredentials{
		Deletions:  []ScramDeletion{{User: "bob", Mechanism: ScramSHA512}},
		Upsertions: []ScramUpsertion{{User: "alice", Mechanism: ScramSHA256, Credential: cred(ScramSHA256, 10000, 'd')}},
	})
	if c, _ := s.ScramCredentialFor("alice", ScramSHA256); c.Iterations != 10000 {
		t.Fatalf("alice SHA-256 not replaced: %v", c)
	}
	if got := s.ScramUsers(); strings.Join(got, ",") != "alice" {
		t.Fatalf("bob should be gone with his last credential: %v", got)
	}

	// Snapshot and clone carry the credentials; the clone is independent.
	r := restored(t, s)
	if c, ok := r.ScramCredentialFor("alice", ScramSHA512); !ok || !bytes.Equal(c.ServerKey, bytes.Repeat([]byte{'c'}, 64)) {
		t.Fatalf("restored alice SHA-512: %v %v", c, ok)
	}
	cl := s.Clone()
	applyOK(t, s, TypeAlterScramCredentials, AlterScramCredentials{Deletions: []ScramDeletion{{User: "alice", Mechanism: ScramSHA512}}})
	if _, ok := cl.ScramCredentialFor("alice", ScramSHA512); !ok {
		t.Fatal("a change to the state reached its clone")
	}
}

// TestAlterScramCredentialsAllOrNothing: one bad entry rejects the whole
// command and leaves the state as it was.
func TestAlterScramCredentialsAllOrNothing(t *testing.T) {
	good := ScramUpsertion{User: "carol", Mechanism: ScramSHA256, Credential: cred(ScramSHA256, 4096, 'e')}
	short := cred(ScramSHA256, 4096, 'f')
	short.StoredKey = short.StoredKey[:5]
	for name, bad := range map[string]AlterScramCredentials{
		"empty user":        {Upsertions: []ScramUpsertion{good, {Mechanism: ScramSHA256, Credential: cred(ScramSHA256, 4096, 'f')}}},
		"unknown mechanism": {Upsertions: []ScramUpsertion{good, {User: "x", Mechanism: "SCRAM-SHA-1", Credential: cred(ScramSHA256, 4096, 'f')}}},
		"too few":           {Upsertions: []ScramUpsertion{good, {User: "x", Mechanism: ScramSHA256, Credential: cred(ScramSHA256, 4095, 'f')}}},
		"too many":          {Upsertions: []ScramUpsertion{good, {User: "x", Mechanism: ScramSHA256, Credential: cred(ScramSHA256, 16385, 'f')}}},
		"short key":         {Upsertions: []ScramUpsertion{good, {User: "x", Mechanism: ScramSHA256, Credential: short}}},
		"twice":             {Upsertions: []ScramUpsertion{good, good}},
		"delete and upsert": {Upsertions: []ScramUpsertion{good}, Deletions: []ScramDeletion{{User: "carol", Mechanism: ScramSHA256}}},
		"delete missing":    {Upsertions: []ScramUpsertion{good}, Deletions: []ScramDeletion{{User: "nobody", Mechanism: ScramSHA256}}},
		"long salt": {Upsertions: []ScramUpsertion{good, {User: "x", Mechanism: ScramSHA256, Credential: func() ScramCredential {
			c := cred(ScramSHA256, 4096, 'f')
			c.Salt = make([]byte, MaxScramSaltBytes+1)
			return c
		}()}}},
	} {
		t.Run(name, func(t *testing.T) {
			s := securityState(t)
			_, err := s.Apply(mustEncode(t, TypeAlterScramCredentials, bad))
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("want a rejection, got %v", err)
			}
			if len(s.Scram) != 0 {
				t.Fatalf("a rejected command changed the state: %v", s.Scram)
			}
		})
	}
}

// TestAlterScramCredentialsNeedsSecurityVersion: on a cluster still at
// metadata version 1 the command is rejected on every node alike.
func TestAlterScramCredentialsNeedsSecurityVersion(t *testing.T) {
	s := New()
	applyOK(t, s, TypeInitCluster, InitCluster{ClusterID: "c", MetadataVersion: 1})
	_, err := s.Apply(mustEncode(t, TypeAlterScramCredentials, AlterScramCredentials{Upsertions: []ScramUpsertion{
		{User: "alice", Mechanism: ScramSHA256, Credential: cred(ScramSHA256, 4096, 'a')},
	}}))
	if !errors.Is(err, ErrRejected) || len(s.Scram) != 0 {
		t.Fatalf("err %v, credentials %v", err, s.Scram)
	}
}

func TestScramCredentialStringHidesKeys(t *testing.T) {
	c := cred(ScramSHA256, 4096, 'k')
	if s := c.String(); strings.Contains(s, "kkkk") || !strings.Contains(s, "4096") {
		t.Fatalf("String() = %q", s)
	}
}
