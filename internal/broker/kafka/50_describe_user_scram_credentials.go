package kafka

// DescribeUserSCRAMCredentials, versions 0-0.
//
// Lists, from this node's copy of the metadata, each user's SCRAM mechanisms
// and iteration counts — never a salt or a key. No users named (null or
// empty) lists every user with a credential; a named user without one is
// RESOURCE_NOT_FOUND, a user named twice DUPLICATE_RESOURCE, as in Kafka.
// It needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// scramMechanisms are the SCRAM mechanisms in the order of their Kafka
// wire codes (ScramMechanism: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512; 0 unknown).
var scramMechanisms = [...]string{1: state.ScramSHA256, 2: state.ScramSHA512}

// scramMechanismName is the mechanism of a wire code, "" if unknown.
func scramMechanismName(code int8) string {
	if code <= 0 || int(code) >= len(scramMechanisms) {
		return ""
	}
	return scramMechanisms[code]
}

func (b *Backend) describeUserSCRAMCredentialsAPI() served {
	return served{key: 50, API: API{Min: 0, Max: 0, Handle: b.describeUserSCRAMCredentials}}
}

func (b *Backend) describeUserSCRAMCredentials(_ context.Context, c *Conn, kreq kmsg.Request) (kmsg.Response, Pending, error) {
	req := kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := respond[*kmsg.DescribeUserSCRAMCredentialsResponse](kreq)
	if !b.authorizeCluster(c, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = strPtr("DESCRIBE on the cluster is needed to describe SCRAM credentials")
		return done(resp)
	}
	st := b.Meta.State()
	var names []string
	if len(req.Users) == 0 {
		names = st.ScramUsers()
	} else {
		for _, u := range req.Users {
			names = append(names, u.Name)
		}
	}
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for i, name := range names {
		if count[name] > 1 && i != slices.Index(names, name) {
			continue // one answer per duplicated user
		}
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = name
		switch {
		case count[name] > 1:
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = strPtr("cannot describe the SCRAM credentials of the same user twice in one request")
		case len(st.Scram[name]) == 0:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = strPtr("attempt to describe a user credential that does not exist")
		default:
			for code, mech := range scramMechanisms {
				if c, ok := st.ScramCredentialFor(name, mech); ok && mech != "" {
					info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
					info.Mechanism, info.Iterations = int8(code), c.Iterations
					r.CredentialInfos = append(r.CredentialInfos, info)
				}
			}
		}
		resp.Results = append(resp.Results, r)
	}
	return done(resp)
}

func strPtr(s string) *string { return &s }
