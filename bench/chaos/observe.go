package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/chronik-dev/chronik/bench/internal/nodes"
)

// doctorReport is the part of `chronik doctor -o json` the suite reads.
type doctorReport struct {
	Findings []struct {
		Code      string `json:"code"`
		Severity  string `json:"severity"`
		Topic     string `json:"topic"`
		Partition *int32 `json:"partition"`
		Node      *int32 `json:"node"`
	} `json:"findings"`
	// Causes group findings by root cause, where the doctor does that.
	Causes []struct {
		Code string `json:"code"`
		Node *int32 `json:"node"`
	} `json:"causes"`
	Unreachable []struct {
		NodeID int32 `json:"node_id"`
	} `json:"unreachable_nodes"`
}

// doctorProbe is what `chronik doctor` said at one moment of a fault.
type doctorProbe struct {
	ran       bool
	after     time.Duration // since the fault started
	exit      int
	codes     []string // finding codes, sorted, without repeats
	causes    []string // cause codes, if the doctor groups causes
	namedNode bool     // a finding or cause names a faulted node
	err       string
}

// doctor runs `chronik doctor -o json` against every node's admin API.
type doctor struct {
	bin  string
	urls []string
}

// probeTimeout bounds each node's answer to the doctor: a paused node must
// not hold a probe for the doctor's 3 s default.
const probeTimeout = time.Second

func (d doctor) run(ctx context.Context) (doctorReport, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, "doctor", "-o", "json", "--timeout", probeTimeout.String(),
		"--admin", strings.Join(d.urls, ","))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		return doctorReport{}, -1, fmt.Errorf("run chronik doctor: %w", err)
	}
	var rep doctorReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return rep, code, fmt.Errorf("chronik doctor (exit %d) printed no report: %w; stderr: %s", code, err, strings.TrimSpace(stderr.String()))
	}
	return rep, code, nil
}

// probe asks the doctor during a fault and records whether it named the
// faulted nodes.
func (d doctor) probe(ctx context.Context, f *fault) doctorProbe {
	p := doctorProbe{ran: true, after: time.Since(f.start)}
	rep, code, err := d.run(ctx)
	p.exit = code
	if err != nil {
		p.err = err.Error()
		return p
	}
	targets := f.targetIDs()
	named := func(id *int32) bool { return id != nil && slices.Contains(targets, *id) }
	for _, x := range rep.Findings {
		p.codes = append(p.codes, x.Code)
		p.namedNode = p.namedNode || named(x.Node)
	}
	for _, x := range rep.Causes {
		p.causes = append(p.causes, x.Code)
		p.namedNode = p.namedNode || named(x.Node)
	}
	for _, u := range rep.Unreachable {
		p.namedNode = p.namedNode || slices.Contains(targets, u.NodeID)
	}
	slices.Sort(p.codes)
	p.codes = slices.Compact(p.codes)
	slices.Sort(p.causes)
	p.causes = slices.Compact(p.causes)
	return p
}

// health is one look at whether the cluster is whole again.
type health struct {
	ok       bool
	why      string
	fencedUp []int32 // running, unpaused brokers the doctor reports fenced
}

// check says whether every node runs unpaused and the doctor reports
// nothing above info (full ISRs, no fenced broker, raft caught up).
func (d doctor) check(ctx context.Context, c *nodes.Cluster) health {
	for _, n := range c.Nodes {
		switch {
		case !n.Running():
			return health{why: fmt.Sprintf("node %d not running (%s)", n.ID, n.ExitStatus())}
		case n.Paused():
			return health{why: fmt.Sprintf("node %d paused", n.ID)}
		}
	}
	rep, code, err := d.run(ctx)
	if err != nil {
		return health{why: err.Error()}
	}
	h := health{ok: code == 0}
	var codes []string
	for _, x := range rep.Findings {
		if x.Severity == "info" {
			continue
		}
		where := ""
		switch {
		case x.Topic != "" && x.Partition != nil:
			where = fmt.Sprintf(" %s-%d", x.Topic, *x.Partition)
		case x.Node != nil:
			where = fmt.Sprintf(" node %d", *x.Node)
		}
		codes = append(codes, x.Code+where)
		if x.Code == "BROKER_FENCED" && x.Node != nil {
			h.fencedUp = append(h.fencedUp, *x.Node)
		}
	}
	if !h.ok {
		h.why = fmt.Sprintf("doctor exit %d: %s", code, strings.Join(codes, ", "))
	}
	return h
}

// waitHealthy polls check until the cluster is healthy or ctx ends, and
// returns the last look.
func (d doctor) waitHealthy(ctx context.Context, c *nodes.Cluster) health {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		h := d.check(ctx, c)
		if h.ok {
			return h
		}
		select {
		case <-ctx.Done():
			return h
		case <-tick.C:
		}
	}
}
