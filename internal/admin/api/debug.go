package api

// CodeForbidden: the caller authenticated, or the node is configured, so
// that the request is refused whoever asks again with the same credentials
// (the read token asking for a profile; profiling on a node without an
// admin token).
const CodeForbidden = "forbidden"
