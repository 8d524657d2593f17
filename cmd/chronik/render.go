package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// Output formats of the CLI's -o flag.
const (
	OutputTable = "table"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
)

// OutputFormats lists the -o values, in help order.
func OutputFormats() []string { return []string{OutputTable, OutputJSON, OutputYAML} }

// WriteJSON writes v as indented JSON and a newline.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// WriteYAML writes v as YAML with exactly the JSON field names and order.
// It goes through JSON so the json tags stay the one schema: a YAML
// document is read from the JSON text and printed in block style.
func WriteYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	blockStyle(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("write yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write yaml: %w", err)
	}
	return nil
}

// blockStyle drops the flow style and quotes JSON text parses with; the
// encoder quotes again where a plain scalar would change meaning.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// RenderRaftTable writes the nodes' raft views as a table, one row per
// node in the order given (ROLE "unreachable" for a node that gave no
// answer, named by its admin URL), then the leader's view of its peers.
//
// With tty set the tables are aligned, with headers and a title, and
// followed by notes (why a node stopped, peers' last errors). Otherwise
// they are tab-separated rows without headers, and a blank line separates
// the node rows from the peer rows, so scripts can cut them apart.
func RenderRaftTable(w io.Writer, results []api.NodeResult[api.RaftStatus], tty bool) error {
	var buf bytes.Buffer // one write at the end: a broken pipe is reported once
	t := newTable(&buf, tty)
	t.header("NODE", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "SNAPSHOT", "VOTERS", "LEARNERS")
	var notes []string
	for _, r := range results {
		if !r.OK() {
			t.row(r.Admin, "unreachable", "-", "-", "-", "-", "-", "-", "-")
			continue
		}
		s := r.Data
		t.row(u64(s.NodeID), s.Role, u64(s.Term), optID(s.LeaderID), u64(s.Commit), u64(s.Applied),
			u64(s.SnapshotIndex), ids(s.Voters), ids(s.Learners))
		if s.Error != "" {
			notes = append(notes, fmt.Sprintf("node %d stopped as a voter: %s", s.NodeID, s.Error))
		}
	}
	t.flush()

	leader := leaderView(results)
	switch {
	case leader != nil && len(leader.Peers) > 0:
		buf.WriteByte('\n')
		if tty {
			fmt.Fprintf(&buf, "PEERS as seen by leader %d (term %d)\n", leader.NodeID, leader.Term)
		}
		t = newTable(&buf, tty)
		t.header("ID", "MEMBER", "MATCH", "LAG", "NEXT", "STATE", "ACTIVE", "CONNECTED", "LAST CONTACT")
		for _, p := range leader.Peers {
			t.row(u64(p.ID), p.Member, u64(p.Match), u64(p.Lag), u64(p.Next), p.State, yesNo(p.RecentActive), yesNo(p.Connected),
				lastContact(p.LastContactSeconds, tty))
			if p.LastError != "" {
				notes = append(notes, fmt.Sprintf("peer %d last error: %s", p.ID, p.LastError))
			}
		}
		t.flush()
	case leader == nil && tty:
		fmt.Fprintf(&buf, "\nno leader's view of the peers: no node that answered is the raft leader\n")
	}
	if tty && len(notes) > 0 {
		buf.WriteByte('\n')
		for _, n := range notes {
			fmt.Fprintln(&buf, n)
		}
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write raft table: %w", err)
	}
	return nil
}

// leaderView picks the node whose peers table to show: the leader with the
// highest term, since an old leader cut off from the others may still
// believe it leads in an earlier term.
func leaderView(results []api.NodeResult[api.RaftStatus]) *api.RaftStatus {
	var best *api.RaftStatus
	for _, r := range results {
		if r.OK() && r.Data.Role == api.RoleLeader && (best == nil || r.Data.Term > best.Term) {
			best = r.Data
		}
	}
	return best
}

// table writes aligned columns with a header for a terminal, plain
// tab-separated rows otherwise.
type table struct {
	tty bool
	w   io.Writer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer, tty bool) *table {
	t := &table{tty: tty, w: w}
	if tty {
		t.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		t.w = t.tw
	}
	return t
}

func (t *table) header(cols ...string) {
	if t.tty {
		t.row(cols...)
	}
}

// row writes one line; the destination is a bytes.Buffer, which cannot fail.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' ' // a cell must not break the row apart
			}
			return r
		}, c)
	}
	fmt.Fprintln(t.w, strings.Join(cells, "\t"))
}

func (t *table) flush() {
	if t.tw != nil {
		_ = t.tw.Flush() // writes to a bytes.Buffer
	}
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// optID shows raft's "no node" id 0 as "-".
func optID(id uint64) string {
	if id == 0 {
		return "-"
	}
	return u64(id)
}

func ids(v []uint64) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = u64(id)
	}
	return strings.Join(s, ",")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// lastContact is "250ms ago" for people and seconds ("0.250") for scripts.
func lastContact(sec *float64, tty bool) string {
	if sec == nil {
		return "never"
	}
	if !tty {
		return strconv.FormatFloat(*sec, 'f', 3, 64)
	}
	d := time.Duration(*sec * float64(time.Second))
	switch {
	case d < time.Second:
		d = d.Round(time.Millisecond)
	case d < time.Minute:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Second)
	}
	return d.String() + " ago"
}
