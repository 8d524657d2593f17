package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/broker/metadata/state"
)

// Brokers advertise one address per listener (state.Broker.Listeners), and
// Metadata, FindCoordinator, DescribeCluster and Produce's leader hints
// answer with the addresses of the listener the client came in on
// (Conn.Listener), as Kafka does: a client on the SSL listener is never
// sent to a PLAINTEXT port. A broker without that listener is left out of
// the broker lists.

// listenerAddr is broker br's host and port for clients of listener; ok
// is false when br has no such listener.
func listenerAddr(br *state.Broker, listener string) (host string, port int32, ok bool) {
	addr, ok := br.KafkaEndpoint(listener)
	if !ok {
		return "", -1, false
	}
	host, port = splitHostPort(addr)
	return host, port, true
}

// leadersWithoutListener answers, in a Metadata response, every partition
// whose leader lacks the client's listener the way Kafka's metadata cache
// does: no leader (-1), with LISTENER_NOT_FOUND from version 6 and
// LEADER_NOT_AVAILABLE before (the replicas and ISR stay as they are).
func leadersWithoutListener(s *state.State, resp *kmsg.MetadataResponse, listener string) {
	if listener == "" {
		return
	}
	errCode := kerr.LeaderNotAvailable.Code
	if resp.GetVersion() >= 6 {
		errCode = kerr.ListenerNotFound.Code
	}
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			p := &resp.Topics[ti].Partitions[pi]
			if p.Leader < 0 {
				continue
			}
			if br, ok := s.Brokers[p.Leader]; ok {
				if _, has := br.KafkaEndpoint(listener); has {
					continue
				}
			}
			p.Leader, p.ErrorCode = -1, errCode
		}
	}
}
