package workload

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tunedInterval is the tuned clients' metadata refresh and retry backoff.
const tunedInterval = 100 * time.Millisecond

// franzProducer is the in-process franz-go producer. One goroutine hands
// records to the client; kgo calls the promises serially on its own
// goroutine, which emit sends to events.
type franzProducer struct {
	cl     *kgo.Client
	log    *slog.Logger
	events chan Ack

	cancel   context.CancelFunc // ends the pacing goroutine
	loopDone chan struct{}
	sent     int64 // written by the pacing goroutine; read after loopDone

	abandon chan struct{} // closed when Stop gives up: emit drops instead of blocking
	mu      sync.RWMutex  // emit holds it for reading while sending; Stop takes it to close events
	closed  bool

	stopOnce sync.Once
	stopErr  error
}

func startFranz(ctx context.Context, cfg ProducerConfig) (*franzProducer, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.WithLogger(kgo.BasicLogger(cfg.Stderr, kgo.LogLevelWarn, func() string {
			return time.Now().Format("15:04:05.000 ")
		})),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default
		kgo.RecordRetries(math.MaxInt),
		// A partition without a leader may briefly be unknown to a node;
		// that is part of a failover, not a reason to give up.
		kgo.UnknownTopicRetries(-1),
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
	}
	if cfg.Tuned {
		opts = append(opts,
			kgo.MetadataMinAge(tunedInterval),
			kgo.RetryBackoffFn(func(int) time.Duration { return tunedInterval }))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("workload: create franz-go producer: %w", err)
	}
	loopCtx, cancel := context.WithCancel(ctx)
	p := &franzProducer{
		cl:       cl,
		log:      cfg.Logger,
		events:   make(chan Ack, eventsBuffer),
		cancel:   cancel,
		loopDone: make(chan struct{}),
		abandon:  make(chan struct{}),
	}
	value := randomValue(cfg.RecordSize)
	go p.pace(ctx, loopCtx, cfg.Rate, value)
	cfg.Logger.Debug("franz-go producer started", "brokers", cfg.Brokers, "topic", cfg.Topic, "tuned", cfg.Tuned)
	return p, nil
}

// pace hands records with keys 0, 1, 2, ... to the client at rate records
// per second until loopCtx ends. Records carry ctx, not loopCtx: stopping
// the pacing must not fail records already handed over.
func (p *franzProducer) pace(ctx, loopCtx context.Context, rate int, value []byte) {
	defer close(p.loopDone)
	start := time.Now()
	// Pacing by elapsed time, not per tick, so a slow tick or a Produce
	// blocked on MaxBufferedRecords is made up for rather than lowering
	// the rate.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		due := dueRecords(rate, time.Since(start))
		for p.sent < due && loopCtx.Err() == nil {
			seq, sent := p.sent, time.Now()
			// The value is shared: the client only reads it.
			rec := &kgo.Record{Key: strconv.AppendInt(nil, seq, 10), Value: value}
			p.cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
				a := Ack{Seq: seq, Partition: r.Partition, Offset: r.Offset, Sent: sent, Done: time.Now()}
				if err != nil {
					a.Offset, a.Err = -1, err.Error()
				}
				p.emit(a)
			})
			p.sent++
		}
		select {
		case <-loopCtx.Done():
			return
		case <-tick.C:
		}
	}
}

// emit sends an outcome unless Stop has closed events or given up.
func (p *franzProducer) emit(a Ack) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return
	}
	select {
	case p.events <- a:
	case <-p.abandon:
	}
}

func (p *franzProducer) Events() <-chan Ack { return p.events }

func (p *franzProducer) Stop(ctx context.Context) (int64, error) {
	p.stopOnce.Do(func() {
		p.cancel()
		<-p.loopDone
		if err := p.cl.Flush(ctx); err != nil {
			p.stopErr = fmt.Errorf("workload: franz-go: wait for outstanding records: %w", err)
			close(p.abandon)
		}
		p.mu.Lock()
		p.closed = true
		close(p.events)
		p.mu.Unlock()
		// Fails whatever is still buffered; those promises find events closed.
		p.cl.Close()
		p.log.Debug("franz-go producer stopped", "sent", p.sent)
	})
	return p.sent, p.stopErr
}

// randomValue returns n pseudo-random bytes, so the payload is not
// trivially compressible anywhere along the way.
func randomValue(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'w', 'o', 'r', 'k', 'l', 'o', 'a', 'd'})
	_, _ = r.Read(b) // never fails
	return b
}
