package topicadmin

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/chronik-dev/chronik/internal/certs"
)

// SASL mechanisms the CLI can authenticate with.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the SASL mechanisms, for flag help and completion.
func Mechanisms() []string {
	return []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}
}

// ScramMechanisms lists the mechanisms a SCRAM credential can be stored for.
func ScramMechanisms() []string {
	return []string{MechanismScramSHA256, MechanismScramSHA512}
}

// Security is how the client reaches a secured Kafka listener: TLS (SSL,
// SASL_SSL) and SASL (SASL_PLAINTEXT, SASL_SSL).
type Security struct {
	TLS     bool
	TLSFile certs.ClientFiles
	// SASLMechanism is empty for no SASL.
	SASLMechanism string
	SASLUser      string
	SASLPassword  string
}

// Protocol is the Kafka security protocol these settings speak.
func (s Security) Protocol() string {
	switch {
	case s.TLS && s.SASLMechanism != "":
		return "SASL_SSL"
	case s.TLS:
		return "SSL"
	case s.SASLMechanism != "":
		return "SASL_PLAINTEXT"
	default:
		return "PLAINTEXT"
	}
}

// Check validates the settings without reading any file.
func (s Security) Check() error {
	if s.SASLMechanism == "" {
		if s.SASLUser != "" {
			return errors.New("a SASL user needs a SASL mechanism (--sasl-mechanism)")
		}
		return nil
	}
	if _, err := NormalizeMechanism(s.SASLMechanism); err != nil {
		return err
	}
	if s.SASLUser == "" {
		return fmt.Errorf("SASL %s needs a user (--sasl-user)", s.SASLMechanism)
	}
	if s.SASLPassword == "" {
		return fmt.Errorf("SASL %s needs a password (--sasl-password-file or $CHRONIK_SASL_PASSWORD)", s.SASLMechanism)
	}
	return nil
}

// NormalizeMechanism returns the mechanism's canonical name; any case is
// accepted, as users type "scram-sha-512".
func NormalizeMechanism(m string) (string, error) {
	for _, known := range Mechanisms() {
		if strings.EqualFold(m, known) {
			return known, nil
		}
	}
	return "", fmt.Errorf("SASL mechanism %q: want one of %s", m, strings.Join(Mechanisms(), ", "))
}

// KgoOpts are the franz-go options for these settings: the one place the
// CLI's Kafka connections get TLS and SASL.
func (s Security) KgoOpts() ([]kgo.Opt, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	if s.TLS {
		cfg, err := certs.ClientTLS(s.TLSFile)
		if err != nil {
			return nil, fmt.Errorf("Kafka TLS: %w", err)
		}
		// kgo sets ServerName per broker when it is empty.
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.SASLMechanism != "" {
		m, err := s.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (s Security) mechanism() (sasl.Mechanism, error) {
	m, err := NormalizeMechanism(s.SASLMechanism)
	if err != nil {
		return nil, err
	}
	switch m {
	case MechanismPlain:
		return plain.Auth{User: s.SASLUser, Pass: s.SASLPassword}.AsMechanism(), nil
	case MechanismScramSHA256:
		return scram.Auth{User: s.SASLUser, Pass: s.SASLPassword}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: s.SASLUser, Pass: s.SASLPassword}.AsSha512Mechanism(), nil
	}
}

// securityCause explains an error that comes from the connection's
// security rather than from the request: a failed TLS handshake, a
// listener speaking another protocol, refused credentials. ok is false for
// other errors.
func (c *Client) securityCause(err error) (msg string, ok bool) {
	proto := c.security.Protocol()
	var (
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalid    x509.CertificateInvalidError
		recHdr     tls.RecordHeaderError
		alert      tls.AlertError
		certVerify *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknownCA):
		return "the broker's TLS certificate is not signed by a CA this client trusts — give the cluster's CA with --tls-ca-file", true
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the broker's TLS certificate is not for this address (%v) — use the name it was issued for, or --tls-server-name", hostErr), true
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return "the broker's TLS certificate has expired (or is not valid yet) — renew it on the broker", true
		}
		return fmt.Sprintf("the broker's TLS certificate is not valid: %v", invalid), true
	case errors.As(err, &certVerify):
		return fmt.Sprintf("the broker's TLS certificate cannot be verified: %v — check --tls-ca-file", certVerify.Err), true
	case errors.As(err, &recHdr):
		return fmt.Sprintf("the listener does not speak TLS — connect with %s settings that match the listener (no --tls for a PLAINTEXT or SASL_PLAINTEXT listener)", protoOther(proto)), true
	case errors.As(err, &alert):
		return fmt.Sprintf("the broker refused the TLS handshake (%v) — does the listener want a client certificate (--tls-cert-file, --tls-key-file) from its CA?", alert), true
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Sprintf("SASL authentication as %q failed — check the user, the password and --sasl-mechanism (the user needs a credential for %s: `chronik user list`)", c.security.SASLUser, c.security.SASLMechanism), true
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return fmt.Sprintf("the listener does not offer SASL %s — pick a mechanism it enables", c.security.SASLMechanism), true
	case errors.Is(err, kerr.IllegalSaslState):
		return "the listener does not expect SASL here — is it a SASL_PLAINTEXT or SASL_SSL listener?", true
	case proto == "PLAINTEXT" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		// A TLS or SASL listener hangs up on a plaintext request.
		return "the broker closed the connection before answering — if the listener is SSL or SASL, give --tls and/or --sasl-mechanism (or a profile that has them)", true
	case proto != "PLAINTEXT" && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return fmt.Sprintf("the broker closed the connection during the %s handshake — does the listener speak %s?", proto, proto), true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		msg := fmt.Sprintf("the broker refused the TLS handshake (%v)", opErr.Err)
		if strings.Contains(opErr.Err.Error(), "certificate") {
			// certificate required, bad certificate, unknown certificate authority
			msg += " — the listener wants a client certificate its CA signed: give --tls-cert-file and --tls-key-file"
		}
		return msg, true
	}
	return "", false
}

// protoOther says which settings to change: the ones that speak proto are wrong.
func protoOther(proto string) string {
	return "security (now " + proto + ")"
}

// apiMissing reports whether err says the broker does not serve the
// request's API at all: kgo fails such a request before sending it, and a
// broker that advertises it but refuses the version answers
// UNSUPPORTED_VERSION.
func apiMissing(err error) bool {
	return errors.Is(err, kerr.UnsupportedVersion) ||
		strings.Contains(err.Error(), "broker is too old")
}
