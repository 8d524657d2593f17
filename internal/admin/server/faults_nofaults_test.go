//go:build !chronik_faults

package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
)

// Without the chronik_faults build tag there is no fault endpoint: it
// answers 404 like any unknown path, whatever the method.
func TestNoFaultEndpointInProductionBuilds(t *testing.T) {
	srv := serve(t, admintest.NewFakeSource(3, admintest.FollowerStatus()))
	httpc := admintest.NewHTTPClient(t)
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		code, _, body := do(t, httpc, method, srv.URL+"/v1/debug/faults")
		if code != http.StatusNotFound || !strings.Contains(body, `"not_found"`) && !strings.Contains(body, "no admin endpoint") {
			t.Fatalf("%s /v1/debug/faults: %d %s, want 404", method, code, body)
		}
	}
}
