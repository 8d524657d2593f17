package client

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/chronik-dev/chronik/internal/admin/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The client is tested against the real handler (server.NewHandler) over
// a fake source (admintest.FakeSource), so client and server cannot drift
// apart.

// serve runs the admin handler for src until the test ends.
func serve(t *testing.T, src server.Source) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(server.NewHandler(src, nil))
	t.Cleanup(srv.Close)
	return srv
}

// hangingServer answers no request: each waits until its client gives up
// or the test ends.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets the handler return so Close does not wait
	return srv
}
