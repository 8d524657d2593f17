package server

import (
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/tlsreload"
)

// listenerInfos are the node's Kafka listeners as /v1/node reports them.
func listenerInfos(n *broker.Node) []api.ListenerInfo {
	ls := n.Listeners()
	out := make([]api.ListenerInfo, 0, len(ls))
	for _, l := range ls {
		out = append(out, api.ListenerInfo{Name: l.Name, Protocol: string(l.Protocol), BoundAddr: l.Addr, AdvertisedAddr: l.Advertised,
			TLSClientAuth: l.TLSClientAuth, OpenConnections: l.OpenConnections})
	}
	return out
}

// certInfo is a served certificate as /v1/node reports it; nil when none.
func certInfo(c tlsreload.CertInfo, ok bool) *api.CertInfo {
	if !ok {
		return nil
	}
	return &api.CertInfo{Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfter.UTC(), LoadedAt: c.Loaded.UTC()}
}
