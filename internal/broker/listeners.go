package broker

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/chronik-dev/chronik/internal/broker/kafka"
)

// Listener is one Kafka listener (--listeners, --advertised-listeners).
type Listener struct {
	// Name is the listener name clients' Metadata is keyed by ("PLAINTEXT",
	// "SASL_SSL", or a custom one mapped by --listener-security-protocol-map).
	Name     string
	Protocol kafka.SecurityProtocol
	// Addr is the listen address, host:port; ":0" picks a free port.
	Addr string
	// Advertised is the host:port clients are told to use; empty means
	// localhost:<bound port>.
	Advertised string
}

// TLS client authentication modes (--tls-client-auth), Kafka's
// ssl.client.auth values.
const (
	TLSClientAuthNone      = "none"
	TLSClientAuthRequested = "requested"
	TLSClientAuthRequired  = "required"
)

// TLSClientAuthModes are the --tls-client-auth values.
func TLSClientAuthModes() []string {
	return []string{TLSClientAuthNone, TLSClientAuthRequested, TLSClientAuthRequired}
}

// KafkaListeners returns the listeners the node serves: Listeners, or when
// none are configured the one PLAINTEXT listener of KafkaAddr and
// AdvertiseKafkaAddr (the shorthand).
func (c *Config) KafkaListeners() []Listener {
	if len(c.Listeners) > 0 {
		return slices.Clone(c.Listeners)
	}
	return []Listener{{Name: string(kafka.ProtocolPlaintext), Protocol: kafka.ProtocolPlaintext, Addr: c.KafkaAddr, Advertised: c.AdvertiseKafkaAddr}}
}

// EffectiveTLSClientAuth is TLSClientAuth, or when unset "required" if a
// CA file is given (a CA file is only ever given to verify clients) and
// "none" otherwise. Kafka's ssl.client.auth defaults to none even with a
// truststore; we chose required because an operator who names a CA for
// client certificates means to check them, and a silent "none" would leave
// the listener open while looking secured.
func (c *Config) EffectiveTLSClientAuth() string {
	switch {
	case c.TLSClientAuth != "":
		return c.TLSClientAuth
	case c.TLSCAFile != "":
		return TLSClientAuthRequired
	default:
		return TLSClientAuthNone
	}
}

// validateListeners checks the listeners and the client TLS settings.
func (c *Config) validateListeners() error {
	ls := c.KafkaListeners()
	names := map[string]bool{}
	ports := map[string]string{}
	needTLS := false
	for _, l := range ls {
		if l.Name == "" {
			return fmt.Errorf("listeners: a listener has no name")
		}
		if names[l.Name] {
			return fmt.Errorf("listeners: listener name %s is used twice", l.Name)
		}
		names[l.Name] = true
		if err := validProtocol(l.Protocol); err != nil {
			return fmt.Errorf("listeners: listener %s: %w", l.Name, err)
		}
		if l.Addr == "" {
			if len(c.Listeners) == 0 {
				return fmt.Errorf("kafka-addr: must not be empty")
			}
			return fmt.Errorf("listeners: listener %s has no address", l.Name)
		}
		_, port, err := net.SplitHostPort(l.Addr)
		if err != nil {
			return fmt.Errorf("listeners: listener %s: address %q: %w", l.Name, l.Addr, err)
		}
		// Two listeners cannot share a port (":0" asks for a fresh one each).
		if port != "0" {
			if other, dup := ports[port]; dup {
				return fmt.Errorf("listeners: listeners %s and %s both use port %s", other, l.Name, port)
			}
			ports[port] = l.Name
		}
		if l.Advertised != "" {
			if _, _, err := net.SplitHostPort(l.Advertised); err != nil {
				return fmt.Errorf("advertised-listeners: listener %s: address %q: %w", l.Name, l.Advertised, err)
			}
		}
		if l.Protocol.TLS() {
			needTLS = true
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("tls-cert-file, tls-key-file: set both or neither")
	}
	if needTLS && c.TLSCertFile == "" {
		return fmt.Errorf("listeners: SSL and SASL_SSL listeners need --tls-cert-file and --tls-key-file")
	}
	if c.TLSClientAuth != "" && !slices.Contains(TLSClientAuthModes(), c.TLSClientAuth) {
		return fmt.Errorf("tls-client-auth: must be one of %s, got %q", strings.Join(TLSClientAuthModes(), ", "), c.TLSClientAuth)
	}
	if c.EffectiveTLSClientAuth() != TLSClientAuthNone && c.TLSCAFile == "" {
		return fmt.Errorf("tls-client-auth: %s needs --tls-ca-file, the CA client certificates must chain to", c.TLSClientAuth)
	}
	if (c.AdminTLSCertFile == "") != (c.AdminTLSKeyFile == "") {
		return fmt.Errorf("admin-tls-cert-file, admin-tls-key-file: set both or neither")
	}
	if c.AdminTLSCAFile != "" && c.AdminTLSCertFile == "" {
		return fmt.Errorf("admin-tls-ca-file: client certificates need HTTPS; set --admin-tls-cert-file and --admin-tls-key-file too")
	}
	if c.AdminReadToken != "" && c.AdminReadToken == c.AdminToken {
		return fmt.Errorf("admin-read-token: must differ from --admin-token (the read token must not allow mutations)")
	}
	return nil
}

func validProtocol(p kafka.SecurityProtocol) error {
	switch p {
	case kafka.ProtocolPlaintext, kafka.ProtocolSSL, kafka.ProtocolSASLPlaintext, kafka.ProtocolSASLSSL:
		return nil
	}
	return fmt.Errorf("unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", p)
}

// ParseListeners parses Kafka's listener settings: listeners
// ("PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9094"), advertised listeners (the
// same form, naming configured listeners) and the listener security protocol
// map ("INTERNAL:SASL_PLAINTEXT,EXTERNAL:SSL"; a listener not in it must be
// named after its protocol, as Kafka's default map does). Empty listeners
// returns nil.
func ParseListeners(listeners, advertised, protocolMap string) ([]Listener, error) {
	protos := map[string]kafka.SecurityProtocol{}
	for _, part := range splitList(protocolMap) {
		name, proto, ok := strings.Cut(part, ":")
		name, proto = strings.TrimSpace(name), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" {
			return nil, fmt.Errorf("listener-security-protocol-map: %q is not <listener name>:<security protocol>", part)
		}
		if err := validProtocol(kafka.SecurityProtocol(proto)); err != nil {
			return nil, fmt.Errorf("listener-security-protocol-map: listener %s: %w", name, err)
		}
		if _, dup := protos[strings.ToUpper(name)]; dup {
			return nil, fmt.Errorf("listener-security-protocol-map: listener %s mapped twice", name)
		}
		protos[strings.ToUpper(name)] = kafka.SecurityProtocol(proto)
	}
	var out []Listener
	for _, part := range splitList(listeners) {
		name, addr, err := parseListenerURL(part)
		if err != nil {
			return nil, fmt.Errorf("listeners: %w", err)
		}
		proto, ok := protos[name]
		if !ok {
			proto = kafka.SecurityProtocol(name)
			if validProtocol(proto) != nil {
				return nil, fmt.Errorf("listeners: listener %s: no security protocol; name it PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, or map it with --listener-security-protocol-map %s:<protocol>", name, name)
			}
		}
		if slices.ContainsFunc(out, func(l Listener) bool { return l.Name == name }) {
			return nil, fmt.Errorf("listeners: listener name %s is used twice", name)
		}
		out = append(out, Listener{Name: name, Protocol: proto, Addr: addr})
	}
	for _, part := range splitList(advertised) {
		name, addr, err := parseListenerURL(part)
		if err != nil {
			return nil, fmt.Errorf("advertised-listeners: %w", err)
		}
		i := slices.IndexFunc(out, func(l Listener) bool { return l.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("advertised-listeners: %s names no listener in --listeners", name)
		}
		if out[i].Advertised != "" {
			return nil, fmt.Errorf("advertised-listeners: listener %s advertised twice", name)
		}
		host, port, _ := net.SplitHostPort(addr)
		if host == "" || port == "0" {
			return nil, fmt.Errorf("advertised-listeners: listener %s: %q must name a host and a port clients can reach", name, addr)
		}
		out[i].Advertised = addr
	}
	return out, nil
}

// parseListenerURL parses "NAME://host:port" (host may be empty for all
// interfaces); names are upper-cased as Kafka does.
func parseListenerURL(s string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(s, "://")
	name = strings.ToUpper(strings.TrimSpace(name))
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q is not <listener name>://<host>:<port>", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("listener %s: address %q: %w", name, addr, err)
	}
	return name, addr, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// FormatListeners renders listeners the way --listeners takes them (and,
// with advertised, the way --advertised-listeners does).
func FormatListeners(ls []Listener, advertised bool) string {
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		addr := l.Addr
		if advertised {
			if addr = l.Advertised; addr == "" {
				continue
			}
		}
		parts = append(parts, l.Name+"://"+addr)
	}
	return strings.Join(parts, ",")
}
