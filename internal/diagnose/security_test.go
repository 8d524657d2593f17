package diagnose

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

var fxSecTaken = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

// fxSecured: every node serves clients on SASL_SSL off loopback and
// PLAINTEXT on loopback only, authorizes with ACLs (12 of them), and has a
// Kafka certificate good for 300 more days.
func fxSecured(t *testing.T, v *api.ClusterView) {
	t.Helper()
	v.Taken = fxSecTaken
	for id := int32(1); id <= 3; id++ {
		n := fxNode(t, v, id).Node
		n.Listeners = []api.ListenerInfo{
			{Name: "SASL_SSL", Protocol: "SASL_SSL", BoundAddr: ":9094", AdvertisedAddr: fmt.Sprintf("10.0.0.%d:9094", id), TLSClientAuth: "none"},
			{Name: "PLAINTEXT", Protocol: "PLAINTEXT", BoundAddr: "127.0.0.1:9092", AdvertisedAddr: "127.0.0.1:9092"},
		}
		n.Authorizer = &api.AuthorizerInfo{Enabled: true, SuperUsers: []string{"User:admin"}, ACLs: 12}
		n.TLS = &api.CertInfo{Subject: fmt.Sprintf("CN=node%d", id), Issuer: "CN=chronik CA", NotAfter: fxSecTaken.Add(300 * 24 * time.Hour)}
	}
}

// fxPlaintextOn replaces node id's PLAINTEXT listener's bound address.
func fxPlaintextOn(t *testing.T, v *api.ClusterView, id int32, addr string) {
	t.Helper()
	ls := fxNode(t, v, id).Node.Listeners
	for i := range ls {
		if ls[i].Name == "PLAINTEXT" {
			ls[i].BoundAddr = addr
		}
	}
}

func TestOffLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		":9092": true, "0.0.0.0:9092": true, "[::]:9092": true, "10.0.0.1:9092": true, "kafka.example.com:9092": true,
		"127.0.0.1:9092": false, "127.0.0.2:9092": false, "[::1]:9092": false, "localhost:9092": false, "LOCALHOST:1": false,
	} {
		if got := offLoopback(addr); got != want {
			t.Errorf("offLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestRuleSecurityPlaintextListener(t *testing.T) {
	runRuleCases(t, ruleSecurityPlaintextListener, []ruleCase{
		{name: "nodes that do not report listeners"},
		{name: "PLAINTEXT on loopback, SASL_SSL outside", mutate: fxSecured},
		{name: "PLAINTEXT on every interface", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			fxPlaintextOn(t, v, 2, ":9092")
		}, want: []string{"SECURITY_PLAINTEXT_LISTENER warning - node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, "PLAINTEXT on :9092") || !strings.Contains(f.Message, "unauthenticated") ||
					f.Evidence["bound_addr"] != ":9092" || f.Evidence["listener"] != "PLAINTEXT" || !strings.Contains(f.NextStep, "127.0.0.1") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "PLAINTEXT on a routable address, and SASL_PLAINTEXT", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			fxPlaintextOn(t, v, 1, "10.0.0.1:9092")
			n := fxNode(t, v, 3).Node
			n.Listeners = append(n.Listeners, api.ListenerInfo{Name: "INTERNAL", Protocol: "SASL_PLAINTEXT", BoundAddr: "10.0.0.3:9095"})
		}, want: []string{"SECURITY_PLAINTEXT_LISTENER warning - node=1", "SECURITY_PLAINTEXT_LISTENER info - node=3"}},
		{name: "a silent node's last answer is not used", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			fxPlaintextOn(t, v, 3, ":9092")
			fxNode(t, v, 3).Error = "connection refused"
		}},
	})
}

func TestRuleSecurityOpenAccess(t *testing.T) {
	runRuleCases(t, ruleSecurityOpenAccess, []ruleCase{
		{name: "nodes that do not report an authorizer"},
		{name: "ACLs", mutate: fxSecured},
		{name: "no authorizer, listeners exposed", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			for id := int32(1); id <= 3; id++ {
				fxNode(t, v, id).Node.Authorizer = &api.AuthorizerInfo{SuperUsers: []string{}}
			}
		}, want: []string{"SECURITY_OPEN_ACCESS warning - node=1", "SECURITY_OPEN_ACCESS warning - node=2", "SECURITY_OPEN_ACCESS warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "authorizes nothing") || !strings.Contains(fs[0].Message, "SASL_SSL :9094") ||
					!strings.Contains(fs[0].NextStep, "--authorizer acl") || fs[0].Evidence["authorizer"] != false {
					t.Errorf("finding %+v", fs[0])
				}
			}},
		{name: "no authorizer, but only on loopback (the quick start)", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			for id := int32(1); id <= 3; id++ {
				n := fxNode(t, v, id).Node
				n.Authorizer = &api.AuthorizerInfo{}
				n.Listeners = n.Listeners[1:] // the loopback PLAINTEXT one
			}
		}},
		{name: "allow everyone and no ACL", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			for id := int32(1); id <= 3; id++ {
				fxNode(t, v, id).Node.Authorizer = &api.AuthorizerInfo{Enabled: true, AllowEveryoneIfNoACL: true}
			}
			fxNode(t, v, 2).Node.Authorizer.ACLs = 0
		}, want: []string{"SECURITY_OPEN_ACCESS warning - node=1", "SECURITY_OPEN_ACCESS warning - node=2", "SECURITY_OPEN_ACCESS warning - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "--allow-everyone-if-no-acl-found and the cluster has no ACL") {
					t.Errorf("message %q", fs[0].Message)
				}
			}},
		{name: "allow everyone with ACLs is Kafka's documented choice", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			fxNode(t, v, 1).Node.Authorizer.AllowEveryoneIfNoACL = true
		}},
	})
}

func TestRuleCertExpiring(t *testing.T) {
	expires := func(id int32, in time.Duration) func(*testing.T, *api.ClusterView) {
		return func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			fxNode(t, v, id).Node.TLS.NotAfter = fxSecTaken.Add(in)
		}
	}
	runRuleCases(t, ruleCertExpiring, []ruleCase{
		{name: "no certificates"},
		{name: "300 days left", mutate: fxSecured},
		{name: "31 days left", mutate: expires(2, 31*24*time.Hour)},
		{name: "29 days left", mutate: expires(2, 29*24*time.Hour+time.Hour), want: []string{"CERT_EXPIRING warning - node=2"},
			check: func(t *testing.T, fs []api.Finding) {
				f := fs[0]
				if !strings.Contains(f.Message, "node 2's Kafka TLS certificate (CN=node2) expires in 29 days, on 2027-01-01") ||
					f.Evidence["days_left"] != 29.0 || f.Evidence["certificate"] != "kafka" || !strings.Contains(f.NextStep, "SIGHUP") {
					t.Errorf("finding %+v", f)
				}
			}},
		{name: "hours left", mutate: expires(1, 5*time.Hour), want: []string{"CERT_EXPIRING warning - node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "expires in 5 hours") {
					t.Errorf("message %q", fs[0].Message)
				}
			}},
		{name: "expired", mutate: expires(3, -3*24*time.Hour), want: []string{"CERT_EXPIRING critical - node=3"},
			check: func(t *testing.T, fs []api.Finding) {
				if !strings.Contains(fs[0].Message, "expired 3 days ago") || !strings.Contains(fs[0].Message, "refuse") {
					t.Errorf("message %q", fs[0].Message)
				}
			}},
		{name: "the admin API's certificate", mutate: func(t *testing.T, v *api.ClusterView) {
			fxSecured(t, v)
			fxNode(t, v, 1).Node.AdminTLS = &api.CertInfo{Subject: "CN=admin", NotAfter: fxSecTaken.Add(10 * 24 * time.Hour)}
		}, want: []string{"CERT_EXPIRING warning - node=1"},
			check: func(t *testing.T, fs []api.Finding) {
				if fs[0].Evidence["certificate"] != "admin" || !strings.Contains(fs[0].Message, "admin API certificate") {
					t.Errorf("finding %+v", fs[0])
				}
			}},
		{name: "no time in the view: nothing to compare with", mutate: func(t *testing.T, v *api.ClusterView) {
			expires(3, -3*24*time.Hour)(t, v)
			v.Taken = time.Time{}
		}},
	})
}

// TestSecurityCauses: the doctor puts security findings under a cause of
// their own code, with the finding's message as its effect, and an
// expired certificate makes the doctor exit 4 (critical).
func TestSecurityCauses(t *testing.T) {
	v := fxHealthy()
	fxSecured(t, &v)
	fxPlaintextOn(t, &v, 2, ":9092")
	fxNode(t, &v, 3).Node.TLS.NotAfter = fxSecTaken.Add(-time.Hour)
	rep := BuildDoctorReport(v)
	var codes []string
	for _, c := range rep.Causes {
		codes = append(codes, c.Code+" "+c.Severity)
		if len(c.Effects) != 1 || strings.Contains(c.Effects[0], "partitions") {
			t.Errorf("cause %s effects %q", c.Code, c.Effects)
		}
	}
	if want := "CERT_EXPIRING critical,SECURITY_PLAINTEXT_LISTENER warning"; strings.Join(codes, ",") != want {
		t.Errorf("causes %v, want %s", codes, want)
	}
	if rep.ExitCode != 4 {
		t.Errorf("exit code %d, want 4", rep.ExitCode)
	}
}
