package server

import (
	"slices"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
)

// authorizerInfo is the node's authorizer as /v1/node reports it.
func authorizerInfo(n *broker.Node) *api.AuthorizerInfo {
	a := n.AuthorizerInfo()
	su := slices.Clone(a.SuperUsers)
	if su == nil {
		su = []string{}
	}
	return &api.AuthorizerInfo{Enabled: a.Enabled, AllowEveryoneIfNoACL: a.AllowEveryoneIfNoACL, SuperUsers: su, ACLs: a.ACLs}
}
