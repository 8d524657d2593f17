package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/broker"
)

// kafkaAddrShorthand are the settings --listeners replaces, so everyKey
// (which sets --listeners) cannot set them too.
func kafkaAddrShorthand() []string { return []string{"kafka-addr", "advertise-kafka-addr"} }

func TestKafkaAddrShorthand(t *testing.T) {
	isolate(t)
	t.Setenv(EnvVar("advertise-kafka-addr"), "kafka.example:19092")
	path := writeFile(t, "chronik.yaml", "kafka-addr: 127.0.0.1:19092\n")
	cfg, err := load(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.Listener{{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: "127.0.0.1:19092", Advertised: "kafka.example:19092"}}
	if cfg.Listeners != nil || !reflect.DeepEqual(cfg.KafkaListeners(), want) {
		t.Fatalf("Listeners %+v, KafkaListeners %+v; want nil and %+v", cfg.Listeners, cfg.KafkaListeners(), want)
	}
	cfg, err = load(t, "--kafka-addr=:19093")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.KafkaListeners(); len(got) != 1 || got[0].Addr != ":19093" || got[0].Advertised != "kafka.example:19092" {
		t.Fatalf("KafkaListeners = %+v", got)
	}
}

func TestListenerErrors(t *testing.T) {
	cert := []string{"--tls-cert-file=/c.pem", "--tls-key-file=/k.pem"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"both kafka-addr and listeners", []string{"--kafka-addr=:1", "--listeners=PLAINTEXT://:2"}, "--kafka-addr and --listeners: set one of them"},
		{"advertise-kafka-addr with listeners", []string{"--advertise-kafka-addr=h:1", "--listeners=PLAINTEXT://:2"}, "--advertise-kafka-addr and --listeners"},
		{"advertised without listeners", []string{"--advertised-listeners=PLAINTEXT://h:1"}, "--advertised-listeners needs --listeners"},
		{"unknown protocol", []string{"--listeners=FOO://:1"}, "listener FOO: no security protocol"},
		{"unknown protocol in map", []string{"--listeners=FOO://:1", "--listener-security-protocol-map=FOO:TLS"}, `unknown security protocol "TLS"`},
		{"malformed listener", []string{"--listeners=PLAINTEXT:9092"}, "is not <listener name>://<host>:<port>"},
		{"bad address", []string{"--listeners=PLAINTEXT://nohost"}, `address "nohost"`},
		{"duplicate name", []string{"--listeners=PLAINTEXT://:1,plaintext://:2"}, "listener name PLAINTEXT is used twice"},
		{"duplicate port", append([]string{"--listeners=PLAINTEXT://:9092,SSL://127.0.0.1:9092"}, cert...), "listeners PLAINTEXT and SSL both use port 9092"},
		{"ssl without cert", []string{"--listeners=SSL://:1"}, "SSL and SASL_SSL listeners need --tls-cert-file and --tls-key-file"},
		{"sasl_ssl without cert", []string{"--listeners=SASL_SSL://:1"}, "need --tls-cert-file"},
		{"cert without key", []string{"--listeners=SSL://:1", "--tls-cert-file=/c.pem"}, "tls-cert-file, tls-key-file: set both or neither"},
		{"advertised unknown listener", []string{"--listeners=PLAINTEXT://:1", "--advertised-listeners=SSL://h:2"}, "advertised-listeners: SSL names no listener"},
		{"advertised without host", []string{"--listeners=PLAINTEXT://:1", "--advertised-listeners=PLAINTEXT://:1"}, "must name a host and a port"},
		{"client auth without CA", append([]string{"--listeners=SSL://:1", "--tls-client-auth=required"}, cert...), "tls-client-auth: required needs --tls-ca-file"},
		{"admin CA without cert", []string{"--admin-tls-ca-file=/ca.pem"}, "admin-tls-ca-file: client certificates need HTTPS"},
		{"read token equals admin token", []string{"--admin-token=x", "--admin-read-token=x"}, "must differ from --admin-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			_, err := load(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestListenersAndClientAuthDefault(t *testing.T) {
	isolate(t)
	cfg, err := load(t, "--listeners", "PLAINTEXT://127.0.0.1:0, SASL_SSL://:0,internal://:0",
		"--listener-security-protocol-map", "INTERNAL:SASL_PLAINTEXT",
		"--tls-cert-file=/c.pem", "--tls-key-file=/k.pem", "--tls-ca-file=/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.Listener{
		{Name: "PLAINTEXT", Protocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
		{Name: "SASL_SSL", Protocol: "SASL_SSL", Addr: ":0"},
		{Name: "INTERNAL", Protocol: "SASL_PLAINTEXT", Addr: ":0"},
	}
	if !reflect.DeepEqual(cfg.KafkaListeners(), want) {
		t.Fatalf("listeners = %+v, want %+v", cfg.KafkaListeners(), want)
	}
	// A CA file given means client certificates are checked (README,
	// docs/security.md); none by default otherwise, as in Kafka.
	if got := cfg.EffectiveTLSClientAuth(); got != broker.TLSClientAuthRequired {
		t.Fatalf("client auth with a CA file = %q, want required", got)
	}
	if got := broker.DefaultConfig(); got.EffectiveTLSClientAuth() != broker.TLSClientAuthNone {
		t.Fatalf("default client auth = %q, want none", got.EffectiveTLSClientAuth())
	}
}
