package workload

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed drivers/*.py
var drivers embed.FS

// driverScripts maps a driver client to its script in drivers/.
var driverScripts = map[Client]string{
	Librdkafka:  "drivers/librdkafka.py",
	KafkaPython: "drivers/kafka_python.py",
}

// readyTimeout bounds a driver's start-up: importing the module and
// creating the client (kafka-python connects to a broker to learn its
// API versions).
const readyTimeout = 30 * time.Second

// maxLine bounds one driver line; error messages are the long ones.
const maxLine = 1 << 20

// driverProducer is a python3 child running a driver script. One goroutine
// reads its stdout, parses the lines and sends outcomes to events; it ends
// at the child's EOF, after waiting for the child.
type driverProducer struct {
	client Client
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	log    *slog.Logger
	events chan Ack

	ready      chan struct{} // closed at the driver's R line
	readerDone chan struct{} // closed when stdout hit EOF and the child was waited for
	abandon    chan struct{} // closed when Stop gives up: the reader drops outcomes
	stopCtx    func() bool   // unregisters the kill on ctx's end

	// Written by the reader goroutine; read after readerDone.
	sent    int64 // from the D line
	gotDone bool
	fatal   string // from an F line
	badN    int    // lines that did not parse
	badErr  error  // the first of them
	maxSeq  int64  // the highest seq reported, -1 if none
	waitErr error  // the child's exit status

	stopOnce sync.Once
	stopErr  error
}

// startDriver starts cfg.Client's driver; pythonFlags go before the
// script (tests pass -S to hide the installed modules).
func startDriver(ctx context.Context, cfg ProducerConfig, pythonFlags ...string) (*driverProducer, error) {
	script, err := drivers.ReadFile(driverScripts[cfg.Client])
	if err != nil {
		return nil, fmt.Errorf("workload: %s driver: %w", cfg.Client, err) // cannot happen: embedded
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("workload: %s needs python3: %w", cfg.Client, err)
	}
	args := append(slices.Clone(pythonFlags), "-c", string(script),
		"--brokers", strings.Join(cfg.Brokers, ","),
		"--topic", cfg.Topic,
		"--rate", strconv.Itoa(cfg.Rate),
		"--record-size", strconv.Itoa(cfg.RecordSize),
		"--delivery-timeout-ms", strconv.FormatInt(cfg.DeliveryTimeout.Milliseconds(), 10),
		"--max-in-flight", strconv.Itoa(MaxInFlight),
	)
	if cfg.Tuned {
		args = append(args, "--tuned")
	}
	// Not exec.CommandContext: Stop ends the child gracefully by closing
	// its stdin; ctx's end kills it (context.AfterFunc below).
	cmd := exec.Command(python, args...)
	cmd.Stderr = cfg.Stderr
	cmd.SysProcAttr = childProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("workload: %s driver stdin: %w", cfg.Client, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("workload: %s driver stdout: %w", cfg.Client, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("workload: start %s driver: %w", cfg.Client, err)
	}
	p := &driverProducer{
		client:     cfg.Client,
		cmd:        cmd,
		stdin:      stdin,
		log:        cfg.Logger.With("client", string(cfg.Client), "pid", cmd.Process.Pid),
		events:     make(chan Ack, eventsBuffer),
		ready:      make(chan struct{}),
		readerDone: make(chan struct{}),
		abandon:    make(chan struct{}),
		maxSeq:     -1,
	}
	go p.read(stdout)
	p.stopCtx = context.AfterFunc(ctx, p.kill)

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	timedOut := false
	select {
	case <-p.ready:
		p.log.Debug("driver started", "brokers", cfg.Brokers, "topic", cfg.Topic, "tuned", cfg.Tuned)
		return p, nil
	case <-p.readerDone:
	case <-ctx.Done():
	case <-timer.C:
		timedOut = true
	}
	// Not started: end the child and say why.
	p.stopCtx()
	p.kill()
	close(p.abandon)
	<-p.readerDone
	switch {
	case p.fatal != "":
		return nil, fmt.Errorf("workload: %s driver: %s", cfg.Client, p.fatal)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("workload: start %s driver: %w", cfg.Client, ctx.Err())
	case p.badErr != nil:
		return nil, fmt.Errorf("workload: %s driver exited before it was ready (%v): %w", cfg.Client, p.waitErr, p.badErr)
	case timedOut:
		return nil, fmt.Errorf("workload: %s driver not ready within %s", cfg.Client, readyTimeout)
	default:
		return nil, fmt.Errorf("workload: %s driver exited before it was ready (%v)", cfg.Client, p.waitErr)
	}
}

// kill ends the child at once. Harmless if it has exited.
func (p *driverProducer) kill() { _ = p.cmd.Process.Kill() }

// read parses the child's stdout until EOF, then waits for the child.
func (p *driverProducer) read(stdout io.Reader) {
	defer close(p.readerDone)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	readyClosed := false
	for sc.Scan() {
		now := time.Now()
		l, err := parseLine(sc.Text())
		if err != nil {
			if p.badN == 0 {
				p.badErr = err
				p.log.Warn("driver wrote a line outside the protocol", "err", err)
			}
			p.badN++
			continue
		}
		switch l.kind {
		case lineReady:
			if !readyClosed {
				close(p.ready)
				readyClosed = true
			}
		case lineAck, lineErr:
			l.ack.Done = now
			p.maxSeq = max(p.maxSeq, l.ack.Seq)
			select {
			case p.events <- l.ack:
			case <-p.abandon:
			}
		case lineDone:
			p.sent, p.gotDone = l.sent, true
		case lineFatal:
			p.fatal = l.text
			p.log.Error("driver failed", "err", l.text)
		}
	}
	if err := sc.Err(); err != nil {
		// A line over maxLine: stop reading, and end the child rather
		// than leave it blocked on a full pipe.
		p.badN++
		if p.badErr == nil {
			p.badErr = fmt.Errorf("read driver output: %w", err)
		}
		p.kill()
		_, _ = io.Copy(io.Discard, stdout)
	}
	p.waitErr = p.cmd.Wait()
}

func (p *driverProducer) Events() <-chan Ack { return p.events }

func (p *driverProducer) Stop(ctx context.Context) (int64, error) {
	p.stopOnce.Do(func() {
		// Closing stdin asks the driver to stop producing, flush and exit.
		_ = p.stdin.Close()
		var errs []error
		select {
		case <-p.readerDone:
		case <-ctx.Done():
			p.kill()
			close(p.abandon)
			<-p.readerDone
			errs = append(errs, fmt.Errorf("wait for outstanding records: %w", ctx.Err()))
		}
		p.stopCtx()
		close(p.events)
		if !p.gotDone {
			// Without the driver's count, the records reported are a lower bound.
			p.sent = p.maxSeq + 1
			switch {
			case p.fatal != "":
				errs = append(errs, errors.New(p.fatal))
			case len(errs) == 0:
				errs = append(errs, fmt.Errorf("driver exited without reporting its end (%v)", p.waitErr))
			}
		} else if p.waitErr != nil {
			errs = append(errs, fmt.Errorf("driver exit: %w", p.waitErr))
		}
		if p.badN > 0 {
			errs = append(errs, fmt.Errorf("%d driver lines outside the protocol, the first: %w", p.badN, p.badErr))
		}
		if err := errors.Join(errs...); err != nil {
			p.stopErr = fmt.Errorf("workload: %s: %w", p.client, err)
		}
		p.log.Debug("driver stopped", "sent", p.sent, "err", p.stopErr)
	})
	return p.sent, p.stopErr
}
