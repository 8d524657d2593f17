package kafka

// Authorization: every API asks authorize (or one of its variants) before it
// touches a resource, with the operation and resource Kafka's KafkaApis
// checks, and answers a refusal with Kafka's code for the resource type
// (TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED,
// CLUSTER_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
//
// With no authorizer configured (BackendConfig.Authorizer nil, Kafka without
// authorizer.class.name) everything is allowed. Cluster connections
// (Conn.Replica set) are the broker principal, allowed everything as Kafka's
// inter-broker listener is. Otherwise the decision is acl.Authorizer's over
// the ACLs of the metadata this node has applied.

import (
	"net"
	"net/netip"

	"github.com/chronik-dev/chronik/internal/broker/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AuthorizerInfo is what the admin API reports about authorization.
type AuthorizerInfo struct {
	Enabled              bool     // an authorizer checks requests (--authorizer acl)
	AllowEveryoneIfNoACL bool     // allow.everyone.if.no.acl.found
	SuperUsers           []string // super.users
	ACLs                 int      // bindings in the metadata
}

// AuthorizerInfo reports the authorizer's settings and the ACL count.
func (b *Backend) AuthorizerInfo() AuthorizerInfo {
	info := AuthorizerInfo{ACLs: b.Meta.State().Acls.Len()}
	if a := b.Authorizer; a != nil {
		info.Enabled = true
		info.AllowEveryoneIfNoACL = a.AllowEveryoneIfNoACL()
		info.SuperUsers = a.SuperUsers()
	}
	return info
}

// authorizing reports whether requests on c are checked at all.
func (b *Backend) authorizing(c *Conn) bool {
	return b.Authorizer != nil && c.Replica == nil
}

// authorize decides op on the named resource for c's principal and logs a
// denial: for resources the request names.
func (b *Backend) authorize(c *Conn, op acl.Operation, rt acl.ResourceType, name string) bool {
	return b.decide(c, op, rt, name, true)
}

// authorizeQuiet decides like authorize without logging a denial: for
// filtering lists (every topic in Metadata, ListGroups) and probing
// alternatives, where Kafka does not log either.
func (b *Backend) authorizeQuiet(c *Conn, op acl.Operation, rt acl.ResourceType, name string) bool {
	return b.decide(c, op, rt, name, false)
}

// authorizeCluster decides op on the cluster resource.
func (b *Backend) authorizeCluster(c *Conn, op acl.Operation) bool {
	return b.authorize(c, op, acl.ResourceCluster, acl.ClusterName)
}

func (b *Backend) decide(c *Conn, op acl.Operation, rt acl.ResourceType, name string, logDenial bool) bool {
	if !b.authorizing(c) {
		return true
	}
	act := b.action(c, op, rt, name)
	d := b.Authorizer.Authorize(b.Meta.State().Acls, act)
	if !d.Allowed && logDenial {
		b.logDenial(act, d)
	}
	return d.Allowed
}

// authorizeAnyOf decides whether c may do op on at least one resource of
// type rt (Kafka's authorizeByResourceType).
func (b *Backend) authorizeAnyOf(c *Conn, op acl.Operation, rt acl.ResourceType) bool {
	if !b.authorizing(c) {
		return true
	}
	act := b.action(c, op, rt, "")
	return b.Authorizer.AuthorizeAny(b.Meta.State().Acls, act).Allowed
}

func (b *Backend) action(c *Conn, op acl.Operation, rt acl.ResourceType, name string) acl.Action {
	return acl.Action{Principal: c.Principal().String(), Host: clientHost(c.Remote), Operation: op, Resource: rt, Name: name}
}

// logDenial records a refusal at debug level: clients cause them at will,
// so they are no warning, and Kafka's authorizer logs them at INFO to a
// separate audit logger operators turn on when they look for them.
func (b *Backend) logDenial(act acl.Action, d acl.Decision) {
	b.Logger.Debug("authorization denied", "principal", act.Principal, "host", act.Host,
		"operation", act.Operation.String(), "resource", act.Resource.String()+":"+act.Name, "reason", d.Reason())
}

// clientHost is the address ACL hosts are compared with: the client's IP,
// an IPv4-mapped address as IPv4.
func clientHost(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

// authorizedOps is Kafka's authorized-operations bit field of a resource
// (Metadata, DescribeGroups, DescribeCluster): bit n set when the principal
// may do operation n, over the operations the resource type supports.
func (b *Backend) authorizedOps(c *Conn, rt acl.ResourceType, name string) int32 {
	var bits int32
	for _, op := range supportedOps(rt) {
		if b.authorizeQuiet(c, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// supportedOps are the operations Kafka reports per resource type
// (AclEntry.supportedOperations).
func supportedOps(rt acl.ResourceType) []acl.Operation {
	switch rt {
	case acl.ResourceTopic:
		return []acl.Operation{acl.OpRead, acl.OpWrite, acl.OpCreate, acl.OpDescribe, acl.OpDelete, acl.OpAlter,
			acl.OpDescribeConfigs, acl.OpAlterConfigs}
	case acl.ResourceGroup:
		// As the coordinator reports without an authorizer (group configs, KIP-848).
		return []acl.Operation{acl.OpRead, acl.OpDelete, acl.OpDescribe, acl.OpDescribeConfigs, acl.OpAlterConfigs}
	case acl.ResourceCluster:
		return []acl.Operation{acl.OpCreate, acl.OpClusterAction, acl.OpDescribeConfigs, acl.OpAlterConfigs,
			acl.OpIdempotentWrite, acl.OpAlter, acl.OpDescribe}
	case acl.ResourceTransactionalID:
		return []acl.Operation{acl.OpDescribe, acl.OpWrite}
	default:
		return nil
	}
}

// deniedTopics are the topics of names c may not do op on, each decided
// (and a denial logged) once; nil when all are allowed.
func (b *Backend) deniedTopics(c *Conn, op acl.Operation, names []string) map[string]bool {
	if !b.authorizing(c) {
		return nil
	}
	var denied map[string]bool
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if !b.authorize(c, op, acl.ResourceTopic, n) {
			if denied == nil {
				denied = map[string]bool{}
			}
			denied[n] = true
		}
	}
	return denied
}

// mayCreateTopic: CREATE on the cluster or on the topic, what Kafka asks of
// CreateTopics and of auto-creation. Not logged: auto-creation asks it of
// topics that may exist.
func (b *Backend) mayCreateTopic(c *Conn, name string) bool {
	return b.authorizeQuiet(c, acl.OpCreate, acl.ResourceCluster, acl.ClusterName) ||
		b.authorizeQuiet(c, acl.OpCreate, acl.ResourceTopic, name)
}

// clusterAuthorizedOps is the cluster's authorized-operations field as
// Kafka fills it when asked (Metadata v8-10, DescribeCluster): 0 without
// DESCRIBE on the cluster.
func (b *Backend) clusterAuthorizedOps(c *Conn) int32 {
	if !b.authorize(c, acl.OpDescribe, acl.ResourceCluster, acl.ClusterName) {
		return 0
	}
	return b.authorizedOps(c, acl.ResourceCluster, acl.ClusterName)
}

// configRefusal is Kafka's check of a config resource (DescribeConfigs,
// IncrementalAlterConfigs): op on the topic for a topic
// (TOPIC_AUTHORIZATION_FAILED), on the cluster for a broker or broker logger
// (CLUSTER_AUTHORIZATION_FAILED); nil when allowed, or for resource types
// the handler refuses anyway.
func (b *Backend) configRefusal(c *Conn, op acl.Operation, rt kmsg.ConfigResourceType, name string) *kerr.Error {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		if !b.authorize(c, op, acl.ResourceTopic, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !b.authorizeCluster(c, op) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}

// txnRefusal is the code a transaction API refuses a request with before
// anything else, 0 when it may go on: TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// without WRITE on the transactional id (Kafka checks it first), else
// errNoTransactions where this node runs no coordinator (transactions.go).
func (b *Backend) txnRefusal(c *Conn, transactionalID string) int16 {
	switch {
	case !b.authorize(c, acl.OpWrite, acl.ResourceTransactionalID, transactionalID):
		return kerr.TransactionalIDAuthorizationFailed.Code
	case b.Txn == nil:
		return errNoTransactions
	}
	return 0
}
