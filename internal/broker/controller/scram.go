package controller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// maxSaltedPasswordBytes bounds the salted password of an upsertion: it is
// only hashed, never stored, but a request should not make us hash
// megabytes. A real one is the hash's size (32 or 64 bytes).
const maxSaltedPasswordBytes = 1024

// ScramUpsert is one AlterUserScramCredentials upsertion as the client sent
// it: the client salted the password (SaltedPassword = Hi(password, salt,
// iterations)); the controller keeps only the keys derived from it.
type ScramUpsert struct {
	User       string
	Mechanism  string // a SCRAM mechanism name; "" when the client named one we do not know
	Iterations int32
	Salt       []byte
	// SaltedPassword lets whoever holds it authenticate as User: it never
	// leaves this call (the raft command carries the derived keys).
	SaltedPassword []byte
}

// ScramDelete is one AlterUserScramCredentials deletion.
type ScramDelete struct {
	User      string
	Mechanism string // "" when the client named a mechanism we do not know
}

// ScramResult is the outcome for one user: nil Err when every change of
// that user was applied.
type ScramResult struct {
	User string
	Err  error // an *Error
}

// AlterScramCredentials applies credential deletions and upsertions with
// Kafka's AlterUserScramCredentials rules, answering per user: a user with
// any invalid change (empty name, unknown mechanism, iterations outside
// 4096..16384, a mechanism altered twice, deleting a credential that does
// not exist) gets that change's error and none of its changes; the users
// that pass are committed together in one raft command.
func (c *Controller) AlterScramCredentials(ctx context.Context, dels []ScramDelete, ups []ScramUpsert) []ScramResult {
	var order []string
	failed := map[string]error{}
	seen := map[string]bool{}
	touched := map[[2]string]bool{}
	note := func(user string, err error) {
		if !seen[user] {
			seen[user] = true
			order = append(order, user)
		}
		if err != nil && failed[user] == nil {
			failed[user] = err
		}
	}
	st := c.meta.State()
	checkKey := func(user, mechanism string) error {
		if err := checkScramUser(user); err != nil {
			return err
		}
		if _, ok := state.ScramKeySize(mechanism); !ok {
			return errorf(kerr.UnsupportedSaslMechanism, "unknown SCRAM mechanism")
		}
		k := [2]string{user, mechanism}
		if touched[k] {
			return errorf(kerr.DuplicateResource, "the %s credential of user %q is altered twice in one request", mechanism, user)
		}
		touched[k] = true
		return nil
	}
	var cmd state.AlterScramCredentials
	for _, d := range dels {
		err := checkKey(d.User, d.Mechanism)
		if err == nil {
			if _, ok := st.ScramCredentialFor(d.User, d.Mechanism); !ok {
				err = errorf(kerr.ResourceNotFound, "user %q has no %s credential to delete", d.User, d.Mechanism)
			}
		}
		note(d.User, err)
		if err == nil {
			cmd.Deletions = append(cmd.Deletions, state.ScramDeletion{User: d.User, Mechanism: d.Mechanism})
		}
	}
	for _, u := range ups {
		err := checkKey(u.User, u.Mechanism)
		var cred state.ScramCredential
		if err == nil {
			cred, err = scramCredential(u)
		}
		note(u.User, err)
		if err == nil {
			cmd.Upsertions = append(cmd.Upsertions, state.ScramUpsertion{User: u.User, Mechanism: u.Mechanism, Credential: cred})
		}
	}
	// Drop the valid changes of users that failed elsewhere in the request.
	cmd.Deletions = slicesDeleteFailed(cmd.Deletions, failed, func(d state.ScramDeletion) string { return d.User })
	cmd.Upsertions = slicesDeleteFailed(cmd.Upsertions, failed, func(u state.ScramUpsertion) string { return u.User })

	if len(cmd.Deletions)+len(cmd.Upsertions) > 0 {
		var err error
		if active := st.ActiveMetadataVersion(); active < state.SecurityMetadataVersion {
			err = errorf(kerr.UnsupportedVersion, "the cluster runs metadata version %d; SCRAM credentials need %d (raise it once every broker runs this release)",
				active, state.SecurityMetadataVersion)
		} else if _, perr := c.propose(ctx, state.TypeAlterScramCredentials, cmd); perr != nil {
			err = proposeErr(ctx, "alter SCRAM credentials", perr)
		}
		if err != nil {
			for _, user := range order {
				if failed[user] == nil {
					failed[user] = err
				}
			}
		}
	}
	out := make([]ScramResult, 0, len(order))
	for _, user := range order {
		out = append(out, ScramResult{User: user, Err: failed[user]})
	}
	return out
}

func checkScramUser(user string) error {
	switch {
	case user == "":
		return errorf(kerr.UnacceptableCredential, "the user name must not be empty")
	case len(user) > state.MaxScramUserBytes:
		return errorf(kerr.UnacceptableCredential, "the user name is %d bytes, the maximum is %d", len(user), state.MaxScramUserBytes)
	}
	return nil
}

// scramCredential checks an upsertion and derives the credential stored.
func scramCredential(u ScramUpsert) (state.ScramCredential, error) {
	switch {
	case u.Iterations < state.MinScramIterations:
		return state.ScramCredential{}, errorf(kerr.UnacceptableCredential, "too few iterations: %d (minimum %d)", u.Iterations, state.MinScramIterations)
	case u.Iterations > state.MaxScramIterations:
		return state.ScramCredential{}, errorf(kerr.UnacceptableCredential, "too many iterations: %d (maximum %d)", u.Iterations, state.MaxScramIterations)
	case len(u.Salt) == 0:
		return state.ScramCredential{}, errorf(kerr.UnacceptableCredential, "the salt is empty")
	case len(u.Salt) > state.MaxScramSaltBytes:
		return state.ScramCredential{}, errorf(kerr.UnacceptableCredential, "the salt is %d bytes, the maximum is %d", len(u.Salt), state.MaxScramSaltBytes)
	case len(u.SaltedPassword) == 0:
		return state.ScramCredential{}, errorf(kerr.UnacceptableCredential, "the salted password is empty")
	case len(u.SaltedPassword) > maxSaltedPasswordBytes:
		return state.ScramCredential{}, errorf(kerr.UnacceptableCredential, "the salted password is %d bytes, the maximum is %d", len(u.SaltedPassword), maxSaltedPasswordBytes)
	}
	stored, server := state.ScramKeys(u.Mechanism, u.SaltedPassword)
	return state.ScramCredential{Salt: u.Salt, Iterations: u.Iterations, StoredKey: stored, ServerKey: server}, nil
}

// slicesDeleteFailed drops the entries whose user failed.
func slicesDeleteFailed[T any](in []T, failed map[string]error, user func(T) string) []T {
	out := in[:0]
	for _, v := range in {
		if failed[user(v)] == nil {
			out = append(out, v)
		}
	}
	return out
}
