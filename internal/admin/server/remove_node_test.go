package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/admintest"
	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/admin/client"
	"github.com/chronik-dev/chronik/internal/testharness"
)

// POST /v1/cluster/remove-node on a real single-node cluster: lying or
// malformed requests are refused with a clear answer and change nothing;
// removing the only node is refused (no quorum would be left).
func TestRemoveNodeEndpoint(t *testing.T) {
	n, srv := serveNode(t, "secret")
	testharness.Eventually(t, 10*time.Second, "node ready", n.Ready)
	httpc := admintest.NewHTTPClient(t)
	c := client.New(srv.URL, httpc)
	ctx := t.Context()

	var re *client.RequestError
	if _, err := c.RemoveNode(ctx, api.RemoveNodeRequest{NodeID: 1}); !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
		t.Fatalf("without the token: %v", err)
	}
	c = c.WithToken("secret")
	for _, tc := range []struct {
		req    api.RemoveNodeRequest
		status int
		code   string
		says   string
	}{
		{api.RemoveNodeRequest{NodeID: 0}, 400, api.CodeBadRequest, "positive"},
		{api.RemoveNodeRequest{NodeID: -3}, 400, api.CodeBadRequest, "positive"},
		{api.RemoveNodeRequest{NodeID: 1, ReplaceWith: -1}, 400, api.CodeBadRequest, "replace_with"},
		{api.RemoveNodeRequest{NodeID: 42}, 404, api.CodeNotFound, "neither a registered broker nor a raft member"},
		{api.RemoveNodeRequest{NodeID: 1}, 409, api.CodeConflict, "quorum"},
		{api.RemoveNodeRequest{NodeID: 1, ReplaceWith: 7}, 409, api.CodeConflict, "quorum"},
	} {
		_, err := c.RemoveNode(ctx, tc.req)
		if !errors.As(err, &re) || re.Status != tc.status || re.Code != tc.code || !strings.Contains(re.Message, tc.says) {
			t.Errorf("%+v: %v, want %d %s saying %q", tc.req, err, tc.status, tc.code, tc.says)
		}
	}
	for _, body := range []string{`{"node_id":1,"surprise":true}`, `{"node_id":1} {}`, `{"node_id":"1"}`} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/cluster/remove-node", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %s: %d, want 400", body, resp.StatusCode)
		}
	}
	if _, _, brokers := n.Brokers(); len(brokers) != 1 {
		t.Fatalf("a refusal changed the brokers: %+v", brokers)
	}
	if st := n.RaftStatus(); len(st.Voters) != 1 {
		t.Fatalf("a refusal changed raft: %v", st.Voters)
	}
}
