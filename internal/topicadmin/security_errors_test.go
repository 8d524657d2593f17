package topicadmin

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// oldBroker is a Kafka broker that advertises only Produce, Metadata (v7 at
// most, so its headers are the non-flexible kind) and ApiVersions, like a
// cluster from before the security APIs. It closes a connection that sends
// anything else.
func oldBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serveOld(c, host, int32(port)) })
		}
	})
	return ln.Addr().String()
}

func serveOld(c net.Conn, host string, port int32) {
	defer c.Close()
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(c, body); err != nil || len(body) < 8 {
			return
		}
		key, version := int16(binary.BigEndian.Uint16(body)), int16(binary.BigEndian.Uint16(body[2:]))
		corr := body[4:8]
		var resp kmsg.Response
		switch key {
		case 18: // ApiVersions
			r := kmsg.NewPtrApiVersionsResponse()
			r.Version = version
			// Produce too: kgo trusts the versions once it sees key 0.
			for _, k := range []struct{ key, max int16 }{{0, 8}, {3, 7}, {18, 3}} {
				ak := kmsg.NewApiVersionsResponseApiKey()
				ak.ApiKey, ak.MaxVersion = k.key, k.max
				r.ApiKeys = append(r.ApiKeys, ak)
			}
			resp = r
		case 3: // Metadata
			r := kmsg.NewPtrMetadataResponse()
			r.Version = version
			b := kmsg.NewMetadataResponseBroker()
			b.NodeID, b.Host, b.Port = 0, host, port
			r.Brokers = append(r.Brokers, b)
			r.ControllerID = 0
			resp = r
		default:
			return // never asked: kgo knows the broker does not serve it
		}
		out := append([]byte{0, 0, 0, 0}, corr...)
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// TestSecurityAPIsMissing: against a broker without the security APIs,
// every security command fails at once with a message naming the API.
func TestSecurityAPIsMissing(t *testing.T) {
	c, err := New(Config{Brokers: []string{oldBroker(t)}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topic := "t"
	for _, tc := range []struct {
		api string
		run func() error
	}{
		{"DescribeUserScramCredentials", func() error { _, err := c.ListUsers(ctx); return err }},
		{"AlterUserScramCredentials", func() error {
			_, err := c.SetUser(ctx, "alice", MechanismScramSHA512, DefaultScramIterations, "pw")
			return err
		}},
		{"CreateAcls", func() error {
			_, err := c.CreateACLs(ctx, []ACL{{Principal: "User:a", Host: "*", Operation: "READ", Permission: "ALLOW",
				ResourceType: "TOPIC", ResourceName: topic, PatternType: "LITERAL"}})
			return err
		}},
		{"DescribeAcls", func() error { _, err := c.ListACLs(ctx, []ACLFilter{{}}); return err }},
		{"DeleteAcls", func() error { _, err := c.DeleteACLs(ctx, []ACLFilter{{ResourceName: &topic}}); return err }},
		{"DescribeClientQuotas", func() error { _, err := c.ListQuotas(ctx, nil, false); return err }},
		{"AlterClientQuotas", func() error {
			_, err := c.AlterQuotas(ctx, QuotaEntity{{Type: QuotaEntityUser, Name: "a"}}, map[string]float64{QuotaProducerByteRate: 1}, nil)
			return err
		}},
	} {
		start := time.Now()
		err := tc.run()
		var ke *KafkaError
		if !errors.As(err, &ke) || ke.Code != "UNSUPPORTED_VERSION" || !strings.Contains(err.Error(), "does not serve "+tc.api) {
			t.Errorf("%s: %v, want UNSUPPORTED_VERSION naming the API", tc.api, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("%s took %v: it should fail at once, not retry until the timeout", tc.api, d)
		}
	}
}
