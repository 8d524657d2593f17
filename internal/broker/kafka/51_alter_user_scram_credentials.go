package kafka

// AlterUserSCRAMCredentials, versions 0-0.
//
// Deletes and upserts SCRAM credentials through the controller
// (controller/scram.go), answering per user with Kafka's rules: an empty
// user or a credential outside 4096..16384 iterations UNACCEPTABLE_CREDENTIAL,
// an unknown mechanism UNSUPPORTED_SASL_MECHANISM, a mechanism of a user
// altered twice DUPLICATE_RESOURCE, deleting a credential that does not exist
// RESOURCE_NOT_FOUND; a user with any such error keeps its old credentials.
// Upsertions carry the salted password the client computed; only the keys
// derived from it are stored. It needs ALTER on the cluster: without it every
// user is answered CLUSTER_AUTHORIZATION_FAILED and nothing changes.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/controller"
)

// alterScramTimeout bounds the raft commit of a credential change; the
// request has no timeout of its own.
const alterScramTimeout = 10 * time.Second

func (b *Backend) alterUserSCRAMCredentialsAPI() served {
	return served{key: 51, API: API{Min: 0, Max: 0, Handle: b.alterUserSCRAMCredentials}}
}

func (b *Backend) alterUserSCRAMCredentials(_ context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	var users []string // in request order, for answers without the controller
	dels := make([]controller.ScramDelete, 0, len(req.Deletions))
	for _, d := range req.Deletions {
		dels = append(dels, controller.ScramDelete{User: d.Name, Mechanism: scramMechanismName(d.Mechanism)})
		users = append(users, d.Name)
	}
	ups := make([]controller.ScramUpsert, 0, len(req.Upsertions))
	for _, u := range req.Upsertions {
		ups = append(ups, controller.ScramUpsert{User: u.Name, Mechanism: scramMechanismName(u.Mechanism),
			Iterations: u.Iterations, Salt: u.Salt, SaltedPassword: u.SaltedPassword})
		users = append(users, u.Name)
	}
	principal := c.Principal()
	if !b.authorizeCluster(c, acl.OpAlter) {
		resp := respond[*kmsg.AlterUserSCRAMCredentialsResponse](kreq)
		seen := map[string]bool{}
		for _, user := range users {
			if !seen[user] {
				seen[user] = true
				res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				res.User, res.ErrorCode = user, kerr.ClusterAuthorizationFailed.Code
				res.ErrorMessage = strPtr("ALTER on the cluster is needed to alter SCRAM credentials")
				resp.Results = append(resp.Results, res)
			}
		}
		return done(resp)
	}
	return nil, pending(func(ctx context.Context) *kmsg.AlterUserSCRAMCredentialsResponse {
		ctx, cancel := context.WithTimeout(ctx, alterScramTimeout)
		defer cancel()
		resp := respond[*kmsg.AlterUserSCRAMCredentialsResponse](kreq)
		var changed []string
		for _, r := range b.Controller.AlterScramCredentials(ctx, dels, ups) {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User = r.User
			if r.Err != nil {
				res.ErrorCode = controller.Code(r.Err).Code
				res.ErrorMessage = controller.Message(r.Err)
			} else {
				changed = append(changed, r.User)
			}
			resp.Results = append(resp.Results, res)
		}
		if len(changed) > 0 {
			b.Logger.Info("SCRAM credentials altered", "principal", principal.String(), "remote", c.Remote.String(), "users", changed)
		}
		return resp
	}), nil
}
