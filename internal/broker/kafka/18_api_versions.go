package kafka

// ApiVersions, versions 0-4.
//
// Served by the server itself, not by a handler: its answer is derived from
// the APIs table, and it is the one request whose version may be newer than
// anything we know, so it cannot go through the generic decode-then-dispatch
// path. Its range is the apiVersions constants below.
//
// A request above our max (franz-go v1.22 starts at 5) is answered in the v0
// body format with UNSUPPORTED_VERSION and our full key table, which is what
// Kafka's KIP-511 downgrade expects: the client reads byte 1 of the body,
// sees 35, re-reads the body as v0 and either uses the table or retries with
// our ApiVersions max. The response header is always v0 (no tagged fields),
// even for flexible versions: a Kafka quirk that makes the downgrade
// possible.
//
// v3+ requests must carry ClientSoftwareName/Version matching Kafka's pattern
// [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?; otherwise the answer is
// INVALID_REQUEST with no keys and the connection stays open, like Kafka.
// Supported and finalized features are left empty (epoch -1): we gate nothing
// on features.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// ApiVersions' declaration: key and served versions.
	apiVersionsKey        int16 = 18
	apiVersionsMinVersion int16 = 0
	apiVersionsMaxVersion int16 = 4
)

// apiVersionsResponse answers an ApiVersions request. req is nil when the
// requested version is outside what we serve (its body is then unreadable).
func (s *Server) apiVersionsResponse(version int16, req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	if req == nil || version < apiVersionsMinVersion || version > apiVersionsMaxVersion {
		resp.SetVersion(0)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		resp.ApiKeys = s.apiKeys()
		return resp
	}
	resp.SetVersion(version)
	if version >= 3 && (!validSoftwareToken(req.ClientSoftwareName) || !validSoftwareToken(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	resp.ApiKeys = s.apiKeys()
	return resp
}

// apiKeys returns a copy of the advertised version table: responses are
// handed to another goroutine, so they must not share the server's slice.
func (s *Server) apiKeys() []kmsg.ApiVersionsResponseApiKey {
	out := make([]kmsg.ApiVersionsResponseApiKey, len(s.advertised))
	copy(out, s.advertised)
	return out
}

// validSoftwareToken reports whether v matches
// [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? — written by hand rather than
// with regexp because the rule is this small and it keeps package state out.
func validSoftwareToken(v string) bool {
	if v == "" {
		return false
	}
	alnum := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	if !alnum(v[0]) || !alnum(v[len(v)-1]) {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		if c := v[i]; !alnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}
