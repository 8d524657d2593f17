package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
	"github.com/chronik-dev/chronik/internal/tlsreload"
	"github.com/prometheus/client_golang/prometheus"
)

// kafkaListener is one bound Kafka listener and the server on it.
type kafkaListener struct {
	Listener              // as configured; Advertised resolved by bindKafkaListeners
	ln       net.Listener // bound; served (and closed) by server
	server   *kafka.Server
}

// ListenerAddr is a bound Kafka listener (Addrs.Listeners).
type ListenerAddr struct {
	Name       string
	Protocol   kafka.SecurityProtocol
	Addr       string // bound
	Advertised string // what clients of this listener are told
}

// ListenerInfo is what the admin API reports about a listener (/v1/node).
type ListenerInfo struct {
	ListenerAddr
	// TLSClientAuth is none, requested or required on TLS listeners, empty
	// on the others.
	TLSClientAuth   string
	OpenConnections int
}

// certPollInterval is how often the TLS files are checked for changes.
const certPollInterval = tlsreload.DefaultPollInterval

// bindKafkaListeners binds every Kafka listener and resolves what each
// advertises. Addrs.Kafka and AdvertiseKafka are the first PLAINTEXT
// listener's (or the first one's): what state.Broker.KafkaAddr carries for
// readers that know no listeners.
func (n *Node) bindKafkaListeners() error {
	for _, l := range n.cfg.KafkaListeners() {
		ln, adv, err := listenAdvertised("kafka listener "+l.Name, l.Addr, "advertised listener "+l.Name, l.Advertised)
		if err != nil {
			return err
		}
		if host := listenHost(l.Addr); l.Advertised == "" && len(n.cfg.Listeners) > 0 && host != "" {
			// Kafka's rule for --listeners: advertise the listener's own
			// host unless it binds every interface (then localhost, as
			// the --kafka-addr shorthand always does).
			_, port, _ := net.SplitHostPort(adv)
			adv = net.JoinHostPort(host, port)
		}
		l.Advertised = adv
		n.listeners = append(n.listeners, &kafkaListener{Listener: l, ln: ln})
	}
	primary := n.primaryListener()
	n.addrs.Kafka, n.addrs.AdvertiseKafka = primary.ln.Addr().String(), primary.Advertised
	for _, l := range n.listeners {
		n.addrs.Listeners = append(n.addrs.Listeners, ListenerAddr{Name: l.Name, Protocol: l.Protocol, Addr: l.ln.Addr().String(), Advertised: l.Advertised})
	}
	return nil
}

// listenHost is the host of a listen address, empty when it binds every
// interface ("", 0.0.0.0, ::).
func listenHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return host
}

// primaryListener is the listener KafkaAddr names: the first PLAINTEXT
// one, else the first.
func (n *Node) primaryListener() *kafkaListener {
	for _, l := range n.listeners {
		if l.Protocol == kafka.ProtocolPlaintext {
			return l
		}
	}
	return n.listeners[0]
}

// loadTLS loads the client-facing and admin certificates, if configured.
func (n *Node) loadTLS() (err error) {
	cfg := n.cfg
	if cfg.TLSCertFile != "" {
		auth := map[string]tls.ClientAuthType{
			TLSClientAuthNone:      tls.NoClientCert,
			TLSClientAuthRequested: tls.VerifyClientCertIfGiven,
			TLSClientAuthRequired:  tls.RequireAndVerifyClientCert,
		}[cfg.EffectiveTLSClientAuth()]
		if n.kafkaTLS, err = tlsreload.New(tlsreload.Options{Name: "kafka listeners", CertFile: cfg.TLSCertFile, KeyFile: cfg.TLSKeyFile,
			CAFile: cfg.TLSCAFile, ClientAuth: auth, Logger: n.logger}); err != nil {
			return err
		}
		if auth == tls.NoClientCert && cfg.TLSCAFile != "" {
			n.logger.Warn("--tls-ca-file is set but --tls-client-auth=none: client certificates are not checked")
		}
	}
	if cfg.AdminTLSCertFile != "" {
		auth := tls.NoClientCert
		if cfg.AdminTLSCAFile != "" {
			// Optional: token holders without a certificate still get in.
			auth = tls.VerifyClientCertIfGiven
		}
		if n.adminTLS, err = tlsreload.New(tlsreload.Options{Name: "admin API", CertFile: cfg.AdminTLSCertFile, KeyFile: cfg.AdminTLSKeyFile,
			CAFile: cfg.AdminTLSCAFile, ClientAuth: auth, Logger: n.logger}); err != nil {
			return err
		}
	}
	return nil
}

// newKafkaServers builds one server per listener, sharing the connection
// limits and the queued bytes budget. The first PLAINTEXT one (n.kafka)
// also serves the cluster listener's replica connections.
func (n *Node) newKafkaServers() {
	cfg := n.cfg
	shared := kafka.NewSharedLimits(int(cfg.MaxConnections), int(cfg.MaxConnectionsPerIP), cfg.QueuedMaxRequestBytes)
	apis := n.backend.APIs()
	for _, l := range n.listeners {
		sc := kafka.ServerConfig{
			Listener: l.ln, MaxRequestBytes: cfg.MaxRequestBytes, Logger: n.logger,
			Observer:           n.metrics.observeRequest,
			Shared:             shared,
			ConnQueuedMaxBytes: cfg.ConnQueuedMaxBytes,
			WriteTimeout:       cfg.ConnectionWriteTimeout,
			IdleTimeout:        cfg.ConnectionsMaxIdle,
			RequestReadTimeout: cfg.RequestReadTimeout,
			ListenerName:       l.Name,
			Protocol:           l.Protocol,
			Quotas:             n.quotas,
		}
		switch l.Protocol {
		case kafka.ProtocolSSL:
			sc.TLS = n.kafkaTLS.ServerConfig()
		case kafka.ProtocolSASLSSL:
			sc.TLS = n.kafkaTLS.WithoutClientCerts()
		}
		l.server = kafka.NewServer(sc, apis)
	}
	n.kafka = n.primaryListener().server
	if err := n.metrics.register(n.listenerMetrics()...); err != nil {
		// Only a duplicate name fails, a programming error; the node
		// serves without these gauges rather than not at all.
		n.logger.Error("listener metrics not registered", "err", err)
	}
}

// listenerMetrics are the open connections of each Kafka listener and the
// expiry of each served certificate (alert well before it).
func (n *Node) listenerMetrics() []prometheus.Collector {
	var out []prometheus.Collector
	for _, l := range n.listeners {
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "chronik_kafka_connections",
			Help:        "Open client connections of a Kafka listener.",
			ConstLabels: prometheus.Labels{"listener": l.Name},
		}, func() float64 { return float64(l.server.Stats().OpenConnections) }))
	}
	for name, r := range map[string]*tlsreload.Reloader{"kafka": n.kafkaTLS, "admin": n.adminTLS} {
		if r == nil {
			continue
		}
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "chronik_tls_certificate_expiry_timestamp_seconds",
			Help:        "When the certificate a node serves expires (its NotAfter), in Unix seconds; kafka: the SSL and SASL_SSL listeners', admin: the admin API's.",
			ConstLabels: prometheus.Labels{"tls": name},
		}, func() float64 { return float64(r.Certificate().NotAfter.Unix()) }))
	}
	return out
}

// serveKafka starts the servers and the certificate reloading: on a change
// of the files (polled) and on SIGHUP.
func (n *Node) serveKafka(ctx context.Context) {
	for _, l := range n.listeners {
		n.spawn(func() {
			if err := l.server.Serve(ctx); err != nil {
				n.logger.Error("kafka listener stopped", "listener", l.Name, "err", err)
			}
		})
	}
	var reloaders []*tlsreload.Reloader
	for _, r := range []*tlsreload.Reloader{n.kafkaTLS, n.adminTLS} {
		if r != nil {
			reloaders = append(reloaders, r)
			n.spawn(func() { r.Run(ctx, certPollInterval) })
		}
	}
	// Registered here, synchronously, so a SIGHUP after Start returns is
	// never the default action (exit), with or without certificates: an
	// operator's reload must not stop a node.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	n.spawn(func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if len(reloaders) == 0 {
					n.logger.Info("SIGHUP: no TLS certificates to reload")
					continue
				}
				n.logger.Info("SIGHUP: reloading TLS certificates")
				_ = n.ReloadTLS() // failures are logged, the old certificates stay
			}
		}
	})
}

// ReloadTLS reads the TLS certificate files again (what SIGHUP does);
// connections already up keep theirs. Failures are logged and keep the
// previous certificate; the first is returned.
func (n *Node) ReloadTLS() error {
	var errs []error
	for _, r := range []*tlsreload.Reloader{n.kafkaTLS, n.adminTLS} {
		if r != nil {
			errs = append(errs, r.Reload())
		}
	}
	return errors.Join(errs...)
}

// shutdownKafka stops every Kafka listener's server; ctx bounds the drain.
func (n *Node) shutdownKafka(ctx context.Context) error {
	var errs []error
	for _, l := range n.listeners {
		if l.server != nil {
			if err := l.server.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("listener %s: %w", l.Name, err))
			}
		} else if l.ln != nil {
			l.ln.Close()
		}
	}
	return errors.Join(errs...)
}

// endpoints are the advertised listeners this broker registers.
func (n *Node) endpoints() []state.Endpoint {
	out := make([]state.Endpoint, 0, len(n.listeners))
	for _, l := range n.listeners {
		host, port, _ := net.SplitHostPort(l.Advertised) // resolved by advertised()
		p, _ := strconv.Atoi(port)
		out = append(out, state.Endpoint{Name: l.Name, Host: host, Port: int32(p), Protocol: string(l.Protocol)})
	}
	return out
}

// KafkaStats sums the Kafka listeners' counters: open and refused
// connections, requests by API key, and the bytes requests and responses
// in flight hold of the (shared) queued bytes budget.
func (n *Node) KafkaStats() kafka.ServerStats {
	var sum kafka.ServerStats
	for i, l := range n.listeners {
		st := l.server.Stats()
		if i == 0 {
			sum = st // QueuedBytes is the shared budget's, counted once
			continue
		}
		sum.OpenConnections += st.OpenConnections
		sum.RefusedConnections += st.RefusedConnections
		for k, v := range st.Requests {
			sum.Requests[k] += v
		}
	}
	return sum
}

// Listeners reports the Kafka listeners: names, protocols, bound and
// advertised addresses, client certificate checking and open connections.
func (n *Node) Listeners() []ListenerInfo {
	out := make([]ListenerInfo, 0, len(n.listeners))
	for i, l := range n.listeners {
		li := ListenerInfo{ListenerAddr: n.addrs.Listeners[i], OpenConnections: l.server.Stats().OpenConnections}
		switch l.Protocol {
		case kafka.ProtocolSSL:
			li.TLSClientAuth = n.cfg.EffectiveTLSClientAuth()
		case kafka.ProtocolSASLSSL:
			li.TLSClientAuth = TLSClientAuthNone // SASL authenticates (KIP-684)
		}
		out = append(out, li)
	}
	return out
}

// TLSCertificate describes the certificate the TLS listeners serve now;
// ok is false without TLS listeners' files.
func (n *Node) TLSCertificate() (tlsreload.CertInfo, bool) {
	if n.kafkaTLS == nil {
		return tlsreload.CertInfo{}, false
	}
	return n.kafkaTLS.Certificate(), true
}

// AdminTLSCertificate is the same for the admin API's HTTPS certificate.
func (n *Node) AdminTLSCertificate() (tlsreload.CertInfo, bool) {
	if n.adminTLS == nil {
		return tlsreload.CertInfo{}, false
	}
	return n.adminTLS.Certificate(), true
}

// AdminTLSConfig is the admin server's TLS configuration (nil: plain
// HTTP), for the admin handler to read verified client certificates.
func (n *Node) adminTLSConfig() *tls.Config {
	if n.adminTLS == nil {
		return nil
	}
	return n.adminTLS.ServerConfig()
}

// AdminAuth is how the admin API authenticates besides the admin token:
// the read token (--admin-read-token), and whether client certificates
// verified by --admin-tls-ca-file count as the admin token.
func (n *Node) AdminAuth() (readToken string, clientCerts bool) {
	return n.cfg.AdminReadToken, n.adminTLS != nil && n.cfg.AdminTLSCAFile != ""
}

// ListenersString renders the bound listeners for a log line:
// "PLAINTEXT://127.0.0.1:9092 (advertised localhost:9092), SSL://...".
func (a Addrs) ListenersString() string {
	parts := make([]string, 0, len(a.Listeners))
	for _, l := range a.Listeners {
		parts = append(parts, l.Name+"://"+l.Addr+" (advertised "+l.Advertised+")")
	}
	return strings.Join(parts, ", ")
}
