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
	"github.com/chronik-dev/chronik/internal/diagnose"
)

// doctorProbe is what `chronik doctor` said at one moment of a fault.
type doctorProbe struct {
	ran       bool
	after     time.Duration // since the fault started
	exit      int
	codes     []string // finding codes, sorted, without repeats
	causes    []string // cause codes, if the doctor groups causes
	namedNode bool     // a finding or cause names a faulted node
	namedRule bool     // a cause of the kind's expected codes names a faulted node (or the quorum loss)
	namedPart bool     // kill-leader: a cause or finding names the partition
	err       string
}

// doctor runs `chronik doctor -o json` against every node's admin API.
type doctor struct {
	bin  string
	urls []string
}

// expectedCauses are the doctor's cause codes that explain each fault kind
// (docs/admin-api.md). A node that halts on a full disk is down by the time
// anyone asks; slow fsync is measured by the node (DISK_SLOW), or, from a
// node too old to report it, shows only as a replica falling behind.
var expectedCauses = map[kind][]string{
	killAny:        {diagnose.CauseNodeDown},
	killLeader:     {diagnose.CauseNodeDown},
	killController: {diagnose.CauseNodeDown},
	termRestart:    {diagnose.CauseNodeDown},
	diskFull:       {diagnose.CauseNodeDown, diagnose.CauseDiskFull},
	killTwo:        {diagnose.CauseRaftQuorumLost},
	pauseNode:      {diagnose.CauseNodeUnreachable},
	cutNode:        {diagnose.CauseNodePartitioned, diagnose.CauseNodeUnreachable},
	cutLink:        {diagnose.CauseNodePartitioned, diagnose.CauseFetchErrors, diagnose.CauseReplicaSlow},
	slowFsync:      {diagnose.CauseDiskSlow, diagnose.CauseReplicaSlow},
}

// probeTimeout bounds each node's answer to the doctor: a paused node must
// not hold a probe for the doctor's 3 s default.
const probeTimeout = time.Second

func (d doctor) run(ctx context.Context) (diagnose.DoctorReport, int, error) {
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
		return diagnose.DoctorReport{}, -1, fmt.Errorf("run chronik doctor: %w", err)
	}
	var rep diagnose.DoctorReport
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
	scored := score(rep, f)
	scored.ran, scored.after, scored.exit = true, p.after, code
	return scored
}

// score says which of what a fault should show the doctor's report named.
func score(rep diagnose.DoctorReport, f *fault) doctorProbe {
	var p doctorProbe
	targets := f.targetIDs()
	named := func(id *int32) bool { return id != nil && slices.Contains(targets, *id) }
	part := fmt.Sprintf("%s-%d", topic, f.partition)
	for _, x := range rep.Findings {
		p.codes = append(p.codes, x.Code)
		p.namedNode = p.namedNode || named(x.Node)
		p.namedPart = p.namedPart || (x.Topic == topic && x.Partition != nil && *x.Partition == f.partition)
	}
	for _, x := range rep.Causes {
		p.causes = append(p.causes, x.Code)
		namesNode := named(x.Node) || slices.ContainsFunc(x.Nodes, func(id int32) bool { return slices.Contains(targets, id) })
		p.namedNode = p.namedNode || namesNode
		p.namedRule = p.namedRule || (slices.Contains(expectedCauses[f.kind], x.Code) && (namesNode || f.kind == killTwo))
		p.namedPart = p.namedPart || slices.Contains(x.Partitions, part)
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

// quiet asks the doctor once about a cluster that should be healthy.
func (d doctor) quiet(ctx context.Context) quietProbe {
	rep, code, err := d.run(ctx)
	if err != nil {
		return quietProbe{exit: code, err: err.Error()}
	}
	q := quietProbe{exit: code}
	for _, f := range rep.Findings {
		if f.Severity != "info" {
			q.codes = append(q.codes, f.Code)
		}
	}
	return q
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
