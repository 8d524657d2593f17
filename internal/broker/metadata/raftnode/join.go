package raftnode

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/metadata/transport"
)

// The join exchange, on a transport.PurposeJoin connection (authenticated like every cluster
// connection, but from a node that is not a member yet): the joiner sends one joinRequest,
// the member answers one joinResponse and closes. A member that is not the leader answers
// with the leader's address instead, and the joiner asks there. The leader adds the joiner
// as a learner (AddLearner, idempotent) before it answers, so a joiner that crashed after
// the answer and asks again gets the same one.

// maxJoinMessage bounds one join message either way.
const maxJoinMessage = 1 << 20

// joinServeTimeout bounds serving one join, the conf change included.
const joinServeTimeout = 30 * time.Second

// joinHops bounds how many redirects (to the leader) and retries (no leader yet) a joiner
// follows before giving up.
const joinHops = 10

type joinRequest struct {
	NodeID uint64 `json:"node_id"`
	Addr   string `json:"addr"`
}

type joinResponse struct {
	Error string `json:"error,omitempty"`
	// LeaderAddr, with Error, is where to ask instead (empty when no leader is known).
	LeaderAddr string `json:"leader_addr,omitempty"`
	// Token is the cluster's transport token and Members every member's cluster address,
	// the joiner included.
	Token   string            `json:"token,omitempty"`
	Members map[string]string `json:"members,omitempty"`
}

func writeJoinMessage(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxJoinMessage {
		return fmt.Errorf("join message of %d bytes exceeds %d", len(b), maxJoinMessage)
	}
	_, err = w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	if err == nil {
		_, err = w.Write(b)
	}
	return err
}

func readJoinMessage(r io.Reader, v any) error {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > maxJoinMessage {
		return fmt.Errorf("join message of %d bytes exceeds %d", n, maxJoinMessage)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// serveJoin is the transport's PurposeJoin handler. peer is the joiner's proven id.
func (n *Node) serveJoin(ctx context.Context, peer uint64, c net.Conn) {
	ctx, cancel := context.WithTimeout(ctx, joinServeTimeout)
	defer cancel()
	_ = c.SetDeadline(time.Now().Add(joinServeTimeout))
	var req joinRequest
	if err := readJoinMessage(c, &req); err != nil {
		n.log.Warn("refused a join: unreadable request", "peer", peer, "remote", c.RemoteAddr().String(), "error", err)
		return
	}
	resp := n.answerJoin(ctx, peer, req)
	if resp.Error != "" {
		n.log.Warn("refused a join", "peer", peer, "addr", req.Addr, "reason", resp.Error, "leader_addr", resp.LeaderAddr)
	} else {
		n.log.Info("node joined as a raft learner", "node_id", peer, "addr", req.Addr)
	}
	if err := writeJoinMessage(c, resp); err != nil {
		n.log.Warn("answer a join", "peer", peer, "error", err)
	}
}

func (n *Node) answerJoin(ctx context.Context, peer uint64, req joinRequest) joinResponse {
	switch {
	case req.NodeID != peer:
		return joinResponse{Error: fmt.Sprintf("the request names node %d but the connection proved node %d", req.NodeID, peer)}
	case req.Addr == "":
		return joinResponse{Error: "the request has no cluster address"}
	}
	if _, err := net.ResolveTCPAddr("tcp", req.Addr); err != nil {
		return joinResponse{Error: fmt.Sprintf("cluster address %q: %v", req.Addr, err)}
	}
	if lead := n.LeaderID(); lead != n.cfg.NodeID {
		if lead == 0 {
			return joinResponse{Error: ErrNoLeader.Error() + ": the cluster has no quorum now; nothing changed"}
		}
		return joinResponse{Error: fmt.Sprintf("%v: ask the leader, node %d", ErrNotLeader, lead), LeaderAddr: n.memberAddr(lead)}
	}
	if err := n.AddLearner(ctx, peer, req.Addr); err != nil {
		return joinResponse{Error: err.Error()}
	}
	members := map[string]string{}
	for _, id := range n.memberIDs() {
		if addr := n.memberAddr(id); addr != "" {
			members[strconv.FormatUint(id, 10)] = addr
		}
	}
	return joinResponse{Token: n.token, Members: members}
}

// JoinConfig is what a node needs to ask a running cluster to add it.
type JoinConfig struct {
	NodeID uint64
	// Advertise is this node's cluster address as the members will dial it.
	Advertise string
	// Contact is any member's cluster address.
	Contact  string
	Security transport.Security
	Logger   *slog.Logger
}

// joined is a successful join's answer.
type joined struct {
	token   string
	members map[uint64]string
}

// join asks the cluster to add this node, following redirects to the leader and waiting
// out a leaderless moment, within ctx.
func join(ctx context.Context, jc JoinConfig, log *slog.Logger) (joined, error) {
	addr := jc.Contact
	var last error
	for range joinHops {
		resp, err := askJoin(ctx, jc, addr)
		switch {
		case err != nil:
			last = err
		case resp.Error == "":
			return decodeJoined(resp, jc.NodeID)
		case resp.LeaderAddr != "":
			log.Info("join redirected to the raft leader", "from", addr, "leader_addr", resp.LeaderAddr)
			addr = resp.LeaderAddr
			continue
		default:
			last = errors.New(resp.Error)
			if !strings.HasPrefix(resp.Error, ErrNoLeader.Error()) {
				return joined{}, fmt.Errorf("join via %s refused: %s", addr, resp.Error)
			}
		}
		log.Warn("join attempt failed; retrying", "addr", addr, "error", last)
		select {
		case <-ctx.Done():
			return joined{}, fmt.Errorf("join via %s: %w (last error: %w)", addr, ctx.Err(), last)
		case <-time.After(time.Second):
		}
		addr = jc.Contact
	}
	return joined{}, fmt.Errorf("join via %s: gave up after %d attempts: %w", jc.Contact, joinHops, last)
}

func askJoin(ctx context.Context, jc JoinConfig, addr string) (joinResponse, error) {
	c, err := transport.DialJoin(ctx, jc.NodeID, addr, jc.Security, 0)
	if err != nil {
		return joinResponse{}, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(joinServeTimeout + 5*time.Second))
	if err := writeJoinMessage(c, joinRequest{NodeID: jc.NodeID, Addr: jc.Advertise}); err != nil {
		return joinResponse{}, fmt.Errorf("send join request to %s: %w", addr, err)
	}
	var resp joinResponse
	if err := readJoinMessage(c, &resp); err != nil {
		return joinResponse{}, fmt.Errorf("read join answer from %s: %w", addr, err)
	}
	return resp, nil
}

func decodeJoined(resp joinResponse, self uint64) (joined, error) {
	if resp.Token == "" || len(resp.Token) > maxTokenLen {
		return joined{}, fmt.Errorf("join answer: cluster token of %d bytes", len(resp.Token))
	}
	out := joined{token: resp.Token, members: map[uint64]string{}}
	for k, v := range resp.Members {
		id, err := strconv.ParseUint(k, 10, 64)
		if err != nil || id == 0 || v == "" {
			return joined{}, fmt.Errorf("join answer: bad member %q=%q", k, v)
		}
		out.members[id] = v
	}
	if len(out.members) == 0 || (len(out.members) == 1 && out.members[self] != "") {
		return joined{}, errors.New("join answer names no other member")
	}
	return out, nil
}
