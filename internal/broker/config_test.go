package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/broker/partlog"
)

func TestValidateNamesTheBadSetting(t *testing.T) {
	for _, c := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.NodeID = 0 }, "node-id"},
		{func(c *Config) { c.Peers = Peers{2: "h:1", 3: "h:2"} }, "this node (node-id 1) is not among them"},
		{func(c *Config) { c.RaftElectionTimeout = 100 * time.Millisecond }, "raft-election-timeout"},
		{func(c *Config) { c.BrokerSessionTimeout = 500 * time.Millisecond }, "broker-session-timeout"},
		{func(c *Config) { c.ClusterAddr = "" }, "cluster-addr"},
		{func(c *Config) { c.LogFlush = partlog.FlushPolicy(99) }, "log-flush"},
		{func(c *Config) { c.AdminAddr = "0.0.0.0:9644" }, "admin-token"},
		{func(c *Config) { c.AdminAddr = "10.1.2.3:9644" }, "--admin-insecure"},
		{func(c *Config) { c.ReplicaLagTimeMax = time.Millisecond }, "replica-lag-time-max"},
		{func(c *Config) { c.LeaderRebalanceInterval = -time.Second }, "leader-rebalance-interval"},
		{func(c *Config) { c.DefaultReplicationFactor = 0 }, "default-replication-factor"},
		{func(c *Config) { c.Rack = strings.Repeat("r", 256) }, "rack: rack is 256 bytes long"},
		{func(c *Config) { c.Rack = "a\tb" }, "rack: rack \"a\\tb\" holds a control character"},
	} {
		cfg := DefaultConfig()
		c.mutate(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error mentioning %q", err, c.want)
		}
	}
	// A non-loopback admin listener is fine with a token or when insecure is asked for.
	for _, ok := range []func(*Config){
		func(c *Config) { c.AdminAddr, c.AdminToken = "0.0.0.0:9644", "s3cret" },
		func(c *Config) { c.AdminAddr, c.AdminInsecure = "0.0.0.0:9644", true },
		func(c *Config) { c.AdminAddr = "localhost:9644" },
		func(c *Config) { c.AdminAddr = "[::1]:9644" },
		func(c *Config) { c.AdminAddr = "" },
	} {
		cfg := DefaultConfig()
		ok(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Errorf("admin %q token %q insecure %v: %v", cfg.AdminAddr, cfg.AdminToken, cfg.AdminInsecure, err)
		}
	}
	// DescribeConfigs shows the peers as --peers takes them.
	if got := (Peers{2: "h2:9093", 1: "127.0.0.1:9093"}).String(); got != "1=127.0.0.1:9093,2=h2:9093" {
		t.Fatalf("peers render as %q", got)
	}
}
