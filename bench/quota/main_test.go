package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// TestMeasuresBothTenants runs the benchmark briefly against an in-process
// node with short quota windows: the throttled tenant stays near its quota
// and was sent throttles, the unthrottled one is faster, and the quota is
// removed afterwards.
func TestMeasuresBothTenants(t *testing.T) {
	cfg := inproc.Config(t)
	cfg.QuotaWindowSize = 100 * time.Millisecond
	n := inproc.StartNode(t, cfg)
	const quota = 256 << 10
	var out bytes.Buffer
	args := []string{"--brokers", n.Addrs().Kafka, "--quota", "262144", "--duration", "3s", "--warmup", "1100ms",
		"--batch-bytes", "16384", "--json"}
	if code := run(testharness.Context(t, 60*time.Second), args, &out, io.Discard); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	t.Logf("%+v", res)
	for _, phase := range [][2]tenantResult{res.Produce, res.Fetch} {
		slow, fast := phase[0], phase[1]
		if slow.BytesPerSec > 2*quota || slow.BytesPerSec < quota/4 || slow.Throttles == 0 {
			t.Errorf("throttled tenant: %+v (quota %d B/s)", slow, quota)
		}
		if fast.BytesPerSec < 3*quota || fast.Throttles != 0 {
			t.Errorf("unthrottled tenant: %+v", fast)
		}
	}
	got, err := inproc.NodeAdmin(t, n).DescribeClientQuotas(context.Background(), false, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("quotas left behind: %v %v", got, err)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil || o.quota != 1<<20 || o.duration != 30*time.Second || o.batchBytes != 64<<10 || o.warmup != 11*time.Second {
		t.Fatalf("defaults %+v %v", o, err)
	}
	for _, bad := range [][]string{{"--quota", "0"}, {"--duration", "0s"}, {"--batch-bytes", "10"}, {"--record-size", "0"}} {
		if _, err := parseOptions(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
