package kafka

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// listenerState: broker 1 has PLAINTEXT and SSL listeners, broker 2 only
// PLAINTEXT, broker 3 registered before listeners existed (KafkaAddr
// only). Partition i of "t" is led by broker i+1.
func listenerState() *state.State {
	st := state.New()
	st.Brokers[1] = &state.Broker{ID: 1, KafkaAddr: "h1:9092", Listeners: []state.Endpoint{
		{Name: "PLAINTEXT", Host: "h1", Port: 9092, Protocol: "PLAINTEXT"},
		{Name: "SSL", Host: "h1", Port: 9093, Protocol: "SSL"},
	}}
	st.Brokers[2] = &state.Broker{ID: 2, KafkaAddr: "h2:9092", Listeners: []state.Endpoint{{Name: "PLAINTEXT", Host: "h2", Port: 9092, Protocol: "PLAINTEXT"}}}
	st.Brokers[3] = &state.Broker{ID: 3, KafkaAddr: "h3:9092"}
	st.Topics["t"] = &state.Topic{Name: "t", Partitions: []state.Partition{
		{Replicas: []int32{1, 2}, Leader: 1, ISR: []int32{1, 2}},
		{Replicas: []int32{2, 1}, Leader: 2, ISR: []int32{2, 1}},
		{Replicas: []int32{3, 1}, Leader: 3, ISR: []int32{3, 1}},
	}}
	return st
}

// TestMetadataAnswersWithTheClientsListener: a client of the SSL listener
// is told SSL addresses only; brokers without an SSL listener are left
// out, and partitions they lead answer LISTENER_NOT_FOUND (v6+) or
// LEADER_NOT_AVAILABLE (older) with no leader, as Kafka does. A PLAINTEXT
// client sees every broker, the one registered before listeners too.
func TestMetadataAnswersWithTheClientsListener(t *testing.T) {
	b := NewBackend(BackendConfig{NodeID: 1, Meta: staticMeta{listenerState()}, Logger: slog.New(slog.DiscardHandler)})
	ask := func(listener string, version int16) *kmsg.MetadataResponse {
		t.Helper()
		req := metadataReq("t")
		req.SetVersion(version)
		r, _, err := b.handleMetadata(context.Background(), &Conn{Listener: listener}, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.MetadataResponse)
	}

	ssl := ask("SSL", 12)
	if len(ssl.Brokers) != 1 || ssl.Brokers[0].NodeID != 1 || ssl.Brokers[0].Port != 9093 {
		t.Fatalf("SSL brokers %+v, want broker 1 at its SSL port only", ssl.Brokers)
	}
	ps := ssl.Topics[0].Partitions
	if ps[0].Leader != 1 || ps[0].ErrorCode != 0 {
		t.Errorf("partition 0: leader %d error %d", ps[0].Leader, ps[0].ErrorCode)
	}
	for _, p := range ps[1:] {
		if p.Leader != -1 || p.ErrorCode != kerr.ListenerNotFound.Code || len(p.Replicas) != 2 {
			t.Errorf("partition %d: leader %d error %d replicas %v, want -1, LISTENER_NOT_FOUND, the replicas", p.Partition, p.Leader, p.ErrorCode, p.Replicas)
		}
	}
	if p := ask("SSL", 5).Topics[0].Partitions[1]; p.ErrorCode != kerr.LeaderNotAvailable.Code || p.Leader != -1 {
		t.Errorf("v5: partition 1 error %d leader %d, want LEADER_NOT_AVAILABLE and -1", p.ErrorCode, p.Leader)
	}

	plain := ask("PLAINTEXT", 12)
	if len(plain.Brokers) != 3 {
		t.Fatalf("PLAINTEXT brokers %+v, want all three", plain.Brokers)
	}
	for _, br := range plain.Brokers {
		if br.Port != 9092 {
			t.Errorf("PLAINTEXT client told broker %d port %d", br.NodeID, br.Port)
		}
	}
	for _, p := range plain.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Leader != p.Replicas[0] {
			t.Errorf("PLAINTEXT partition %d: leader %d error %d", p.Partition, p.Leader, p.ErrorCode)
		}
	}
}

func TestBrokerKafkaEndpoint(t *testing.T) {
	st := listenerState()
	for _, c := range []struct {
		broker   int32
		listener string
		want     string
		ok       bool
	}{
		{1, "SSL", "h1:9093", true},
		{1, "PLAINTEXT", "h1:9092", true},
		{1, "", "h1:9092", true}, // cluster connections: KafkaAddr
		{2, "SSL", "", false},
		{3, "PLAINTEXT", "h3:9092", true}, // registered before listeners
		{3, "SSL", "", false},
	} {
		got, ok := st.Brokers[c.broker].KafkaEndpoint(c.listener)
		if got != c.want || ok != c.ok {
			t.Errorf("broker %d listener %q: %q %v, want %q %v", c.broker, c.listener, got, ok, c.want, c.ok)
		}
	}
}
