package topicadmin

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// SCRAM iteration bounds, as Kafka enforces them (and kadm before sending).
const (
	MinScramIterations     = 4096
	MaxScramIterations     = 16384
	DefaultScramIterations = 8192
)

// User is one user with SCRAM credentials: `chronik user list`.
type User struct {
	Name        string           `json:"name"`
	Credentials []UserCredential `json:"credentials"`
}

// UserCredential is a mechanism a user has a password for; the secret
// itself never leaves the broker.
type UserCredential struct {
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

// UserChange is what `chronik user create` or `delete` changed.
type UserChange struct {
	Name       string   `json:"name"`
	Action     string   `json:"action"` // "set" or "deleted"
	Mechanisms []string `json:"mechanisms"`
	Iterations int32    `json:"iterations,omitempty"` // set only
}

func scramMechanism(m string) (kadm.ScramMechanism, error) {
	n, err := NormalizeMechanism(m)
	if err != nil {
		return 0, err
	}
	switch n {
	case MechanismScramSHA256:
		return kadm.ScramSha256, nil
	case MechanismScramSHA512:
		return kadm.ScramSha512, nil
	default:
		return 0, fmt.Errorf("SASL mechanism %s has no stored credentials (PLAIN checks the SCRAM ones); want %s or %s",
			n, MechanismScramSHA256, MechanismScramSHA512)
	}
}

// CheckScram validates a credential's mechanism and iterations before
// anything is sent.
func CheckScram(mechanism string, iterations int32) error {
	if _, err := scramMechanism(mechanism); err != nil {
		return err
	}
	if iterations < MinScramIterations || iterations > MaxScramIterations {
		return fmt.Errorf("iterations %d: want %d to %d", iterations, MinScramIterations, MaxScramIterations)
	}
	return nil
}

// SetUser creates a user's SCRAM credential for mechanism, or replaces its
// password. The salted password is computed here (kadm, PBKDF2 with a
// random salt), so the password itself never goes over the wire.
func (c *Client) SetUser(ctx context.Context, name, mechanism string, iterations int32, password string) (UserChange, error) {
	op := fmt.Sprintf("create user %q", name)
	if name == "" {
		return UserChange{}, errors.New("empty user name")
	}
	if password == "" {
		return UserChange{}, fmt.Errorf("%s: empty password", op)
	}
	if err := CheckScram(mechanism, iterations); err != nil {
		return UserChange{}, fmt.Errorf("%s: %w", op, err)
	}
	m, _ := scramMechanism(mechanism)
	res, err := c.adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: name, Mechanism: m, Iterations: iterations, Password: password,
	}})
	if err := c.userResult(ctx, op, name, res, err); err != nil {
		return UserChange{}, err
	}
	return UserChange{Name: name, Action: "set", Mechanisms: []string{m.String()}, Iterations: iterations}, nil
}

// DeleteUser deletes a user's credential for mechanism, or every
// credential it has when mechanism is empty.
func (c *Client) DeleteUser(ctx context.Context, name, mechanism string) (UserChange, error) {
	op := fmt.Sprintf("delete user %q", name)
	var mechs []kadm.ScramMechanism
	if mechanism != "" {
		m, err := scramMechanism(mechanism)
		if err != nil {
			return UserChange{}, fmt.Errorf("%s: %w", op, err)
		}
		mechs = append(mechs, m)
	} else {
		users, err := c.describeUsers(ctx, op, name)
		if err != nil {
			return UserChange{}, err
		}
		for _, u := range users {
			for _, cr := range u.Credentials {
				m, err := scramMechanism(cr.Mechanism)
				if err != nil {
					continue // a mechanism this client does not know cannot be named in a deletion
				}
				mechs = append(mechs, m)
			}
		}
		if len(mechs) == 0 {
			return UserChange{}, c.codeError(ctx, op, "", kerr.ResourceNotFound, fmt.Sprintf("no user %q", name))
		}
	}
	del := make([]kadm.DeleteSCRAM, 0, len(mechs))
	names := make([]string, 0, len(mechs))
	for _, m := range mechs {
		del = append(del, kadm.DeleteSCRAM{User: name, Mechanism: m})
		names = append(names, m.String())
	}
	res, err := c.adm.AlterUserSCRAMs(ctx, del, nil)
	if err := c.userResult(ctx, op, name, res, err); err != nil {
		return UserChange{}, err
	}
	return UserChange{Name: name, Action: "deleted", Mechanisms: names}, nil
}

// ListUsers lists the users with SCRAM credentials, sorted by name; names
// limits it to those users (an unknown one is an error).
func (c *Client) ListUsers(ctx context.Context, names ...string) ([]User, error) {
	return c.describeUsers(ctx, "list users", names...)
}

func (c *Client) describeUsers(ctx context.Context, op string, names ...string) ([]User, error) {
	res, err := c.adm.DescribeUserSCRAMs(ctx, names...)
	if err != nil {
		return nil, c.explainAPI(ctx, op, "DescribeUserScramCredentials", err, "")
	}
	out := make([]User, 0, len(res))
	for _, r := range res.Sorted() {
		if r.Err != nil {
			detail := r.ErrMessage
			if detail == "" && errors.Is(r.Err, kerr.ResourceNotFound) {
				detail = fmt.Sprintf("no user %q", r.User)
			}
			return nil, c.explainAPI(ctx, op, "DescribeUserScramCredentials", r.Err, detail)
		}
		u := User{Name: r.User, Credentials: []UserCredential{}}
		for _, ci := range r.CredInfos {
			u.Credentials = append(u.Credentials, UserCredential{Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
		}
		sort.Slice(u.Credentials, func(i, j int) bool { return u.Credentials[i].Mechanism < u.Credentials[j].Mechanism })
		out = append(out, u)
	}
	return out, nil
}

// userResult turns an AlterUserScramCredentials answer into the error for
// name, if any.
func (c *Client) userResult(ctx context.Context, op, name string, res kadm.AlteredUserSCRAMs, err error) error {
	if err != nil {
		return c.explainAPI(ctx, op, "AlterUserScramCredentials", err, "")
	}
	r, ok := res[name]
	if !ok {
		return c.newError(op, "", errors.New("the answer does not mention the user"))
	}
	if r.Err != nil {
		detail := r.ErrMessage
		if detail == "" && errors.Is(r.Err, kerr.ResourceNotFound) {
			detail = fmt.Sprintf("user %q has no such credential", name)
		}
		return c.explainAPI(ctx, op, "AlterUserScramCredentials", r.Err, detail)
	}
	return nil
}
