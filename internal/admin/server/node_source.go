package server

import (
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/broker"
	"github.com/chronik-dev/chronik/internal/version"
)

// nodeSource answers the admin API from a running broker node: every number
// comes from the node itself.
type nodeSource struct{ n *broker.Node }

// HandlerFor is the admin API of a running node; `chronik serve` installs it
// as broker.Config.AdminHandler.
func HandlerFor(logger *slog.Logger, token string) func(*broker.Node) http.Handler {
	return func(n *broker.Node) http.Handler {
		readToken, clientCerts := n.AdminAuth()
		return NewHandlerWithOptions(nodeSource{n}, logger, HandlerOptions{Token: token, ReadToken: readToken, ClientCerts: clientCerts, Metrics: n.MetricsHandler()})
	}
}

func (s nodeSource) Ready() bool { return s.n.Ready() }

func (s nodeSource) Node() api.NodeInfo {
	a := s.n.Addrs()
	f := s.n.FsyncLatency()
	return api.NodeInfo{
		NodeID:        s.n.NodeID(),
		Version:       version.Get().Version,
		KafkaAddr:     a.AdvertiseKafka,
		ClusterAddr:   a.AdvertiseCluster,
		AdminAddr:     a.Admin,
		Rack:          s.n.Rack(),
		UptimeSeconds: s.n.Uptime().Seconds(),
		RaftRole:      s.n.RaftStatus().Role,
		ControllerID:  s.n.ControllerID(),
		Fenced:        s.n.Fenced(),
		Ready:         s.n.Ready(),
		Fsync: &api.FsyncLatency{
			WindowSeconds: f.Window.Seconds(), Passes: f.Passes,
			MedianSeconds: f.Median.Seconds(), MaxSeconds: f.Max.Seconds(),
		},
		RaftFsync: &api.FsyncLatency{
			WindowSeconds: f.Window.Seconds(), Passes: f.RaftPasses,
			MedianSeconds: f.RaftMedian.Seconds(), MaxSeconds: f.RaftMax.Seconds(),
		},
		Listeners:    listenerInfos(s.n),
		TLS:          certInfo(s.n.TLSCertificate()),
		AdminTLS:     certInfo(s.n.AdminTLSCertificate()),
		Authorizer:   authorizerInfo(s.n),
		LogCleaner:   logCleaner(s.n.CleanerInfo(), time.Now()),
		Transactions: txnNodeInfo(s.n.TransactionMaxTimeout(), s.n.CoordinatedTxns(), time.Now()),
	}
}

func (s nodeSource) Raft() api.RaftStatus {
	st := s.n.RaftStatus()
	out := api.RaftStatus{
		NodeID: st.NodeID, Role: st.Role, Term: st.Term, LeaderID: st.Lead,
		Commit: st.Commit, Applied: st.Applied, SnapshotIndex: st.SnapshotIndex,
		Voters: append([]uint64{}, st.Voters...), Learners: append([]uint64{}, st.Learners...), Error: st.Err,
		VoterTarget: st.VoterTarget,
	}
	now := time.Now()
	for id, p := range st.Progress {
		peer := api.RaftPeer{
			ID: id, Member: api.MemberVoter, Match: p.Match, Next: p.Next, State: p.State,
			RecentActive: p.RecentActive, Connected: p.Connected, LastError: p.LastError,
		}
		if p.Learner {
			peer.Member = api.MemberLearner
		}
		if st.Commit > p.Match {
			peer.Lag = st.Commit - p.Match
		}
		if id == st.NodeID {
			zero := 0.0
			peer.LastContactSeconds = &zero
		} else if !p.LastContact.IsZero() {
			ago := now.Sub(p.LastContact).Seconds()
			peer.LastContactSeconds = &ago
		}
		out.Peers = append(out.Peers, peer)
	}
	sort.Slice(out.Peers, func(i, j int) bool { return out.Peers[i].ID < out.Peers[j].ID })
	return out
}
