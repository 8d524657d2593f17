package api

import "time"

// ListenerInfo is one Kafka listener of a node (NodeInfo.Listeners).
type ListenerInfo struct {
	Name           string `json:"name"`     // listener name, e.g. PLAINTEXT, SASL_SSL, INTERNAL
	Protocol       string `json:"protocol"` // PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
	BoundAddr      string `json:"bound_addr"`
	AdvertisedAddr string `json:"advertised_addr"` // what clients of this listener are told
	// TLSClientAuth is none, requested or required on SSL and SASL_SSL
	// listeners (--tls-client-auth), empty on the others.
	TLSClientAuth   string `json:"tls_client_auth,omitempty"`
	OpenConnections int    `json:"open_connections"`
}

// CertInfo is a certificate a node serves (NodeInfo.TLS, NodeInfo.AdminTLS).
type CertInfo struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
	// LoadedAt is when the node last read the certificate files (start,
	// SIGHUP or a change of the files).
	LoadedAt time.Time `json:"loaded_at"`
}
