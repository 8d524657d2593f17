package diagnose

import (
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Security posture findings: what a node's /v1/node says about its
// listeners, its authorizer and its certificates. docs/doctor.md describes
// each.
const (
	CodeSecurityPlaintextListener = "SECURITY_PLAINTEXT_LISTENER"
	CodeSecurityOpenAccess        = "SECURITY_OPEN_ACCESS"
	CodeCertExpiring              = "CERT_EXPIRING"
)

// certExpiringDays: a certificate that ends within this many days is
// renewed now, while a reload (SIGHUP) is a routine change.
const certExpiringDays = 30

// offLoopback reports whether a bound address can be reached from other
// machines: every interface (":9092", "0.0.0.0", "::") or a non-loopback
// host. A host name other than localhost counts as reachable.
func offLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.Trim(host, "[]")
	switch {
	case host == "":
		return true // every interface
	case strings.EqualFold(host, "localhost"):
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// exposedListeners are the node's Kafka listeners bound off loopback.
func exposedListeners(n *api.NodeInfo) []api.ListenerInfo {
	var out []api.ListenerInfo
	for _, l := range n.Listeners {
		if offLoopback(l.BoundAddr) {
			out = append(out, l)
		}
	}
	return out
}

// ruleSecurityPlaintextListener: a PLAINTEXT listener other machines can
// reach: anyone on the network may connect unauthenticated (principal
// ANONYMOUS) and read every byte on the wire. A SASL_PLAINTEXT one
// authenticates but sends records (and PLAIN passwords) in clear: info.
// Loopback listeners are this machine's business.
func ruleSecurityPlaintextListener(in diagInput) []api.Finding {
	var out []api.Finding
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Node == nil {
			continue
		}
		id := viewNodeID(n)
		for _, l := range exposedListeners(n.Node) {
			f := api.Finding{
				Code: CodeSecurityPlaintextListener,
				Node: ptr32(id),
				Evidence: map[string]any{"listener": l.Name, "protocol": l.Protocol, "bound_addr": l.BoundAddr,
					"advertised_addr": l.AdvertisedAddr},
				SeenBy: []int32{id},
			}
			switch l.Protocol {
			case "PLAINTEXT":
				f.Severity = api.SeverityWarning
				f.Message = fmt.Sprintf("node %d's Kafka listener %s (%s) is PLAINTEXT on %s: anyone who reaches it connects unauthenticated, unencrypted",
					id, l.Name, l.AdvertisedAddr, l.BoundAddr)
				f.NextStep = "bind it to 127.0.0.1 (--listeners PLAINTEXT://127.0.0.1:9092), or serve clients on SASL_SSL or SSL " +
					"(--listeners, --tls-cert-file; docs/security.md)"
			case "SASL_PLAINTEXT":
				f.Severity = api.SeverityInfo
				f.Message = fmt.Sprintf("node %d's Kafka listener %s (%s) authenticates with SASL but is not encrypted on %s: records (and PLAIN passwords) cross the network in clear",
					id, l.Name, l.AdvertisedAddr, l.BoundAddr)
				f.NextStep = "serve it as SASL_SSL (--listeners SASL_SSL://..., --tls-cert-file) unless the network is trusted"
			default:
				continue
			}
			out = append(out, f)
		}
	}
	return out
}

// ruleSecurityOpenAccess: a node other machines can reach lets every
// client do everything: no authorizer (Kafka without
// authorizer.class.name), or allow.everyone.if.no.acl.found with no ACL at
// all, which allows every operation on every resource. A node on loopback
// only (the quick start) is not flagged, nor one too old to report its
// authorizer.
func ruleSecurityOpenAccess(in diagInput) []api.Finding {
	var out []api.Finding
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Node == nil || n.Node.Authorizer == nil {
			continue
		}
		a := n.Node.Authorizer
		exposed := exposedListeners(n.Node)
		if len(exposed) == 0 {
			continue
		}
		id := viewNodeID(n)
		var names []string
		for _, l := range exposed {
			names = append(names, l.Name+" "+l.BoundAddr)
		}
		f := api.Finding{
			Code:     CodeSecurityOpenAccess,
			Severity: api.SeverityWarning,
			Node:     ptr32(id),
			Evidence: map[string]any{"authorizer": a.Enabled, "allow_everyone_if_no_acl_found": a.AllowEveryoneIfNoACL,
				"acls": a.ACLs, "exposed_listeners": names},
			SeenBy: []int32{id},
		}
		switch {
		case !a.Enabled:
			f.Message = fmt.Sprintf("node %d authorizes nothing (no --authorizer): every client that reaches %s may create and delete topics, read and write every record",
				id, strings.Join(names, ", "))
			f.NextStep = "start the nodes with --authorizer acl and --super-users, then grant with `chronik acl create` (docs/security.md)"
		case a.AllowEveryoneIfNoACL && a.ACLs == 0:
			f.Message = fmt.Sprintf("node %d has --allow-everyone-if-no-acl-found and the cluster has no ACL: every client that reaches %s may do everything",
				id, strings.Join(names, ", "))
			f.NextStep = "create ACLs (`chronik acl create`), or drop --allow-everyone-if-no-acl-found so resources without ACLs are denied"
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// ruleCertExpiring: a certificate a node serves (its Kafka TLS listeners',
// its admin API's) ends within certExpiringDays (warning) or has ended
// (critical: clients refuse the handshake). It needs the view's time.
func ruleCertExpiring(in diagInput) []api.Finding {
	if in.view.Taken.IsZero() {
		return nil
	}
	var out []api.Finding
	for _, n := range in.view.Nodes {
		if !n.Reachable() || n.Node == nil {
			continue
		}
		id := viewNodeID(n)
		for _, c := range []struct {
			cert      *api.CertInfo
			what, use string
		}{
			{n.Node.TLS, "Kafka TLS certificate", "kafka"},
			{n.Node.AdminTLS, "admin API certificate", "admin"},
		} {
			if c.cert == nil || c.cert.NotAfter.IsZero() {
				continue
			}
			left := c.cert.NotAfter.Sub(in.view.Taken)
			if left > certExpiringDays*24*time.Hour {
				continue
			}
			days := left.Hours() / 24
			f := api.Finding{
				Code:     CodeCertExpiring,
				Severity: api.SeverityWarning,
				Node:     ptr32(id),
				Evidence: map[string]any{"certificate": c.use, "subject": c.cert.Subject, "issuer": c.cert.Issuer,
					"not_after": c.cert.NotAfter.UTC().Format(time.RFC3339), "days_left": math.Floor(days*10) / 10},
				NextStep: fmt.Sprintf("put a renewed certificate in node %d's certificate files; the node reloads them on change or SIGHUP, without dropping connections", id),
				SeenBy:   []int32{id},
			}
			if left <= 0 {
				f.Severity = api.SeverityCritical
				f.Message = fmt.Sprintf("node %d's %s (%s) expired %s ago, on %s: TLS clients refuse to connect",
					id, c.what, c.cert.Subject, humanDays(-days), c.cert.NotAfter.UTC().Format(time.DateOnly))
			} else {
				f.Message = fmt.Sprintf("node %d's %s (%s) expires in %s, on %s", id, c.what, c.cert.Subject, humanDays(days),
					c.cert.NotAfter.UTC().Format(time.DateOnly))
			}
			out = append(out, f)
		}
	}
	return out
}

// humanDays is "12 days", or hours under two days.
func humanDays(days float64) string {
	if days < 2 {
		h := int(math.Round(days * 24))
		if h == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", h)
	}
	return fmt.Sprintf("%d days", int(days))
}
