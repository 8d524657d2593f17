package main

import (
	"strings"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
	"github.com/chronik-dev/chronik/internal/diagnose"
)

func statusTable(opts TableOptions) *Table {
	t := NewTable(opts, "TOPIC", "PARTITION", "STATUS")
	t.RowCells(Cell{Text: "orders"}, Cell{Text: "0"}, StatusCell(api.StatusOK))
	t.RowCells(Cell{Text: "orders"}, Cell{Text: "10"}, StatusCell(api.StatusUnderMinISR))
	t.Row("a\tb\nc\x1b[31m", "2", "whatever")
	return t
}

func TestTable(t *testing.T) {
	tests := []struct {
		name string
		opts TableOptions
		want string
	}{
		{
			name: "piped",
			opts: TableOptions{},
			want: "orders\t0\tOK\n" +
				"orders\t10\tUNDER_MIN_ISR\n" +
				"a b c [31m\t2\twhatever\n",
		},
		{
			name: "piped ignores colour",
			opts: TableOptions{Color: true},
			want: "orders\t0\tOK\n" +
				"orders\t10\tUNDER_MIN_ISR\n" +
				"a b c [31m\t2\twhatever\n",
		},
		{
			name: "tty without colour",
			opts: TableOptions{TTY: true},
			want: "TOPIC       PARTITION  STATUS\n" +
				"orders      0          OK\n" +
				"orders      10         UNDER_MIN_ISR\n" +
				"a b c [31m  2          whatever\n",
		},
		{
			name: "tty with colour",
			opts: TableOptions{TTY: true, Color: true},
			want: "TOPIC       PARTITION  STATUS\n" +
				"orders      0          \x1b[32m✓ OK\x1b[0m\n" +
				"orders      10         \x1b[31m✗ UNDER_MIN_ISR\x1b[0m\n" +
				"a b c [31m  2          whatever\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := statusTable(tt.opts).Render(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s\n(%q)", b.String(), tt.want, b.String())
			}
		})
	}
}

// TestTableAlignsColouredCells: colour codes must not count as width.
func TestTableAlignsColouredCells(t *testing.T) {
	tb := NewTable(TableOptions{TTY: true, Color: true}, "STATUS", "N")
	tb.RowCells(StatusCell(api.StatusStalled), Cell{Text: "1"})
	tb.RowCells(StatusCell(api.StatusAtMinISR), Cell{Text: "2"})
	var b strings.Builder
	if err := tb.Render(&b); err != nil {
		t.Fatal(err)
	}
	want := "STATUS        N\n" +
		"\x1b[33m⏸ STALLED\x1b[0m     1\n" +
		"\x1b[33m▲ AT_MIN_ISR\x1b[0m  2\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestStatusCell(t *testing.T) {
	tests := []struct {
		status string
		symbol string
		color  diagnose.Color
	}{
		{api.StatusOK, "✓", diagnose.ColorGreen},
		{api.StatusUnderReplicated, "▲", diagnose.ColorYellow},
		{api.StatusAtMinISR, "▲", diagnose.ColorYellow},
		{api.StatusUnderMinISR, "✗", diagnose.ColorRed},
		{api.StatusOffline, "✗", diagnose.ColorRed},
		{api.StatusISRUninitialized, "✗", diagnose.ColorRed},
		{api.StatusStalled, "⏸", diagnose.ColorYellow},
		{"SOMETHING_ELSE", "", diagnose.ColorNone},
	}
	for _, tt := range tests {
		c := StatusCell(tt.status)
		if c.Text != tt.status || c.Symbol != tt.symbol || c.Color != tt.color {
			t.Errorf("StatusCell(%s) = %+v, want symbol %q colour %d", tt.status, c, tt.symbol, tt.color)
		}
	}
}

func TestColorAllowed(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name string
		tty  bool
		env  func(string) string
		want bool
	}{
		{"terminal", true, env("TERM", "xterm-256color"), true},
		{"pipe", false, env(), false},
		{"NO_COLOR", true, env("NO_COLOR", "1"), false},
		{"dumb terminal", true, env("TERM", "dumb"), false},
	}
	for _, tt := range tests {
		if got := ColorAllowed(tt.tty, tt.env); got != tt.want {
			t.Errorf("%s: ColorAllowed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestTableEmpty(t *testing.T) {
	var b strings.Builder
	if err := NewTable(TableOptions{}, "A", "B").Render(&b); err != nil || b.String() != "" {
		t.Errorf("piped empty table wrote %q, %v", b.String(), err)
	}
	if err := NewTable(TableOptions{TTY: true}, "A", "B").Render(&b); err != nil || b.String() != "A  B\n" {
		t.Errorf("tty empty table wrote %q, %v", b.String(), err)
	}
}
