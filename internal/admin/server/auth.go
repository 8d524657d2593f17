package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Who a request authenticated as (principal), for the checks and the log
// line of every mutation.
const (
	principalAdminToken = "admin-token"
	principalReadToken  = "read-token"
	principalCertPrefix = "cert:"
	principalNone       = "anonymous"
)

// principal is who r proved to be and whether that may mutate: the admin
// token, a client certificate the admin CA verified (mutual TLS counts as
// the admin token), the read token, or nobody.
func (h *handler) principal(r *http.Request) (who string, admin bool) {
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && got != "" {
		if h.opts.Token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) == 1 {
			return principalAdminToken, true
		}
		if h.opts.ReadToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.ReadToken)) == 1 {
			return principalReadToken, false
		}
	}
	if h.opts.ClientCerts && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return principalCertPrefix + r.TLS.VerifiedChains[0][0].Subject.String(), true
	}
	return principalNone, false
}

// mutationsOpen reports whether mutations need no authentication: neither
// an admin token nor admin client certificates are configured.
func (h *handler) mutationsOpen() bool { return h.opts.Token == "" && !h.opts.ClientCerts }

// readAuthorized checks a read: with a read token configured every read
// endpoint but /healthz and /readyz (probes) needs the read token, the
// admin token or a verified client certificate. It answers 401 itself.
func (h *handler) readAuthorized(w http.ResponseWriter, r *http.Request) bool {
	if h.opts.ReadToken == "" || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		return true
	}
	if who, _ := h.principal(r); who != principalNone {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="chronik admin"`)
	h.write(w, r, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthorized,
		Message: r.Method + " " + r.URL.Path + " needs the read token or the admin token: send Authorization: Bearer <token>"})
	return false
}
