package broker_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/chronik-dev/chronik/internal/testharness"
	"github.com/chronik-dev/chronik/internal/testharness/inproc"
)

// withProducer stamps an idempotent producer's id, epoch and sequence on a
// batch and fixes its CRC.
func withProducer(b []byte, id int64, epoch int16, seq int32) []byte {
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint64(b[43:], uint64(id))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestIdempotentDuplicatesAndGaps: a resent batch gets its original offset and
// is not appended again; a sequence gap is refused; an old epoch is fenced.
func TestIdempotentDuplicatesAndGaps(t *testing.T) {
	n := inproc.StartNode(t, inproc.Config(t))
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "idem", 1, nil)
	cl := inproc.NodeClient(t, n)

	ipr, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(testharness.Context(t, 5*time.Second), cl)
	if err != nil || ipr.ErrorCode != 0 {
		t.Fatalf("init producer id: %v / %d", err, ipr.ErrorCode)
	}
	pid := ipr.ProducerID
	b0 := withProducer(buildBatch(2, 8), pid, 0, 0)
	b1 := withProducer(buildBatch(2, 8), pid, 0, 2)
	if r := rawProduce(t, cl, "idem", 0, b0); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("first batch: error %d base %d", r.ErrorCode, r.BaseOffset)
	}
	if r := rawProduce(t, cl, "idem", 0, b1); r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Fatalf("second batch: error %d base %d", r.ErrorCode, r.BaseOffset)
	}
	if r := rawProduce(t, cl, "idem", 0, b0); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("resent first batch: error %d base %d, want its original offset 0", r.ErrorCode, r.BaseOffset)
	}
	gap := withProducer(buildBatch(1, 8), pid, 0, 9)
	if r := rawProduce(t, cl, "idem", 0, gap); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", r.ErrorCode)
	}
	bumped := withProducer(buildBatch(1, 8), pid, 1, 0)
	if r := rawProduce(t, cl, "idem", 0, bumped); r.ErrorCode != 0 || r.BaseOffset != 4 {
		t.Fatalf("bumped epoch: error %d base %d", r.ErrorCode, r.BaseOffset)
	}
	stale := withProducer(buildBatch(1, 8), pid, 0, 4)
	if r := rawProduce(t, cl, "idem", 0, stale); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: error %d, want INVALID_PRODUCER_EPOCH", r.ErrorCode)
	}
	ends, err := adm.ListEndOffsets(testharness.Context(t, 5*time.Second), "idem")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("idem", 0); o.Offset != 5 {
		t.Fatalf("log end %d, want 5: a duplicate or refused batch was appended", o.Offset)
	}
}

// TestIdempotentStateSurvivesRestart: producer state is rebuilt from the log,
// so a batch resent after a restart is still recognised.
func TestIdempotentStateSurvivesRestart(t *testing.T) {
	cfg := inproc.Config(t)
	n := inproc.Launch(t, cfg)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "idem", 1, nil)
	cl := inproc.NodeClient(t, n)
	b0 := withProducer(buildBatch(3, 8), 77, 0, 0)
	if r := rawProduce(t, cl, "idem", 0, b0); r.ErrorCode != 0 {
		t.Fatalf("produce: %d", r.ErrorCode)
	}
	cl.Close()
	inproc.CloseNode(t, n)

	n2 := inproc.StartNode(t, cfg)
	cl2 := inproc.NodeClient(t, n2)
	if r := rawProduce(t, cl2, "idem", 0, b0); r.ErrorCode != 0 || r.BaseOffset != 0 {
		t.Fatalf("resent after restart: error %d base %d, want original offset 0", r.ErrorCode, r.BaseOffset)
	}
	next := withProducer(buildBatch(1, 8), 77, 0, 3)
	if r := rawProduce(t, cl2, "idem", 0, next); r.ErrorCode != 0 || r.BaseOffset != 3 {
		t.Fatalf("next batch after restart: error %d base %d, want 3", r.ErrorCode, r.BaseOffset)
	}
}

// cuttingProxy forwards TCP to a target and can cut every open connection,
// making clients retry requests whose answers were lost.
type cuttingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newCuttingProxy(t *testing.T) *cuttingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(p.close)
	return p
}

func (p *cuttingProxy) serve(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = struct{}{}, struct{}{}
			p.mu.Unlock()
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
}

func (p *cuttingProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

func (p *cuttingProxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}

// TestIdempotentProducerRetriesNoDuplicates cuts the producer's connections
// again and again while it streams; its retries must not duplicate records.
func TestIdempotentProducerRetriesNoDuplicates(t *testing.T) {
	proxy := newCuttingProxy(t)
	cfg := inproc.Config(t)
	cfg.AdvertiseKafkaAddr = proxy.ln.Addr().String()
	n := inproc.StartNode(t, cfg)
	proxy.serve(n.Addrs().Kafka)
	adm := inproc.NodeAdmin(t, n)
	createTopic(t, adm, "retries", 2, nil)

	p, err := kgo.NewClient(kgo.SeedBrokers(proxy.ln.Addr().String()), kgo.DefaultProduceTopic("retries"),
		kgo.RecordRetries(1000), kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }),
		// A cut often lands before a connection's first response; franz-go
		// takes that EOF for a TLS/SASL misconfiguration and waits for a
		// metadata refresh (at most one per 5 s), so without this option
		// each such cut stalled the producer 5 s and the test sometimes
		// ran past its deadline (the time was spent in those pauses).
		kgo.MaxBufferedRecords(2000), kgo.AlwaysRetryEOF())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := testharness.Context(t, 120*time.Second)
	// Cuts every 15 ms: 20,000 records see dozens of them (44-94 in 1-1.7 s
	// on a loaded 2-core machine), every one a chance to retry a batch that
	// was appended.
	const total = 20000
	// The producer id is initialised before the cuts start: cutting that
	// request is a fatal client error in franz-go, not what this test is about.
	if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte("0"), Value: recordValue(0)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var cutter sync.WaitGroup
	cutter.Add(1)
	cuts := 0
	go func() {
		defer cutter.Done()
		tick := time.NewTicker(15 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				proxy.cut()
				cuts++
			}
		}
	}()
	var failed error
	var mu sync.Mutex
	for i := 1; i < total; i++ {
		p.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: recordValue(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				failed = errors.Join(failed, err)
				mu.Unlock()
			}
		})
	}
	flushErr := p.Flush(ctx)
	close(stop)
	cutter.Wait()
	if flushErr != nil {
		t.Fatalf("flush: %v", flushErr)
	}
	if failed != nil {
		t.Fatalf("produce errors: %v", failed)
	}
	t.Logf("cut connections %d times", cuts)
	got := consumeN(t, n, "retries", total)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[string(r.Key)] {
			t.Fatalf("record %s appears twice", r.Key)
		}
		seen[string(r.Key)] = true
	}
	ends, err := adm.ListEndOffsets(testharness.Context(t, 5*time.Second), "retries")
	if err != nil {
		t.Fatal(err)
	}
	sum := int64(0)
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	if sum != total {
		t.Fatalf("log end offsets sum to %d, want %d: duplicates were appended", sum, total)
	}
}
