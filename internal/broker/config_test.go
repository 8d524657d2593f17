package broker

import (
	"strings"
	"testing"
	"time"
)

func TestValidateNamesTheBadSetting(t *testing.T) {
	for _, c := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.NodeID = 0 }, "node-id"},
		{func(c *Config) { c.Peers = "garbage" }, "peers"},
		{func(c *Config) { c.Peers = "1=h:1,1=h:2" }, "listed twice"},
		{func(c *Config) { c.Peers = "2=h:1,3=h:2" }, "this node (node-id 1) is not among them"},
		{func(c *Config) { c.Peers = "1=nohostport" }, "peers"},
		{func(c *Config) { c.RaftElectionTimeout = 100 * time.Millisecond }, "raft-election-timeout"},
		{func(c *Config) { c.BrokerSessionTimeout = 500 * time.Millisecond }, "broker-session-timeout"},
		{func(c *Config) { c.ClusterAddr = "" }, "cluster-addr"},
		{func(c *Config) { c.LogFlush = "sometimes" }, "log-flush"},
	} {
		cfg := DefaultConfig()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error mentioning %q", err, c.want)
		}
	}
	cfg := DefaultConfig()
	cfg.Peers = " 1=127.0.0.1:9093, 2=h2:9093 "
	peers, err := cfg.PeerMap()
	if err != nil || len(peers) != 2 || peers[2] != "h2:9093" {
		t.Fatalf("peers %v, %v", peers, err)
	}
}
