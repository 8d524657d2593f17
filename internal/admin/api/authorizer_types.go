package api

// AuthorizerInfo is how a node authorizes Kafka requests
// (NodeInfo.Authorizer), for the doctor's SECURITY_OPEN_ACCESS.
type AuthorizerInfo struct {
	// Enabled: an authorizer checks every request (--authorizer acl).
	// Without one every client may do everything.
	Enabled bool `json:"enabled"`
	// AllowEveryoneIfNoACL is allow.everyone.if.no.acl.found: a resource
	// no ACL names is open to everyone.
	AllowEveryoneIfNoACL bool     `json:"allow_everyone_if_no_acl_found"`
	SuperUsers           []string `json:"super_users"`
	ACLs                 int      `json:"acls"` // ACL bindings in the cluster metadata
}
