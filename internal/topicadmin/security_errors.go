package topicadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// explainAPI is explain for the security APIs, which a cluster may not
// serve at all: that is said in words, naming the API.
func (c *Client) explainAPI(ctx context.Context, op, api string, err error, brokerMsg string) error {
	if apiMissing(err) {
		e := c.newError(op, kerr.UnsupportedVersion.Message, err)
		e.msg = fmt.Sprintf("%s: Kafka at %s does not serve %s — the cluster runs a version without it; upgrade the brokers",
			op, strings.Join(c.brokers, ","), api)
		return e
	}
	return c.explain(ctx, op, "", err, brokerMsg)
}

// securityHint is the next step for the error codes of authentication,
// authorization, credentials and quotas; "" for other codes.
func securityHint(ke *kerr.Error) string {
	switch ke {
	case kerr.SecurityDisabled:
		return "the broker has no authorizer: start it with --authorizer acl"
	case kerr.ClusterAuthorizationFailed:
		return "this principal may not do that on the cluster; a super user (--super-users) or an ACL granting it (`chronik acl create --cluster ...`) can"
	case kerr.TopicAuthorizationFailed:
		return "this principal is not allowed to do that on the topic; check its ACLs (`chronik acl list --topic NAME`)"
	case kerr.GroupAuthorizationFailed:
		return "this principal is not allowed to use the group; check its ACLs (`chronik acl list --group NAME`)"
	case kerr.TransactionalIDAuthorizationFailed:
		return "this principal is not allowed to use the transactional id; check its ACLs"
	case kerr.SaslAuthenticationFailed:
		return "check the SASL user, password and mechanism"
	case kerr.UnsupportedSaslMechanism:
		return "the listener does not enable that SASL mechanism"
	case kerr.UnacceptableCredential:
		return fmt.Sprintf("SCRAM credentials need %d to %d iterations and a non-empty user and password", MinScramIterations, MaxScramIterations)
	case kerr.ResourceNotFound:
		return "`chronik user list` shows the users and their mechanisms"
	case kerr.DuplicateResource:
		return "a user may appear once per request"
	case kerr.InvalidRequest:
		return "the broker refused the request as malformed; its message says why"
	case kerr.UnsupportedVersion:
		return "the cluster does not serve this API; upgrade the brokers"
	case kerr.PolicyViolation:
		return "the broker's policy refused it"
	}
	return ""
}

// kerrCode is the Kafka error name err carries, "" for none.
func kerrCode(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return ""
}

// IsCode reports whether err carries the Kafka error code ke.
func IsCode(err error, ke *kerr.Error) bool {
	var e *KafkaError
	if errors.As(err, &e) && e.Code == ke.Message {
		return true
	}
	return errors.Is(err, ke)
}
