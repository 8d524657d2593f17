package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chronik-dev/chronik/internal/diagnose"
)

// ansiCode is the SGR code that starts c.
func ansiCode(c diagnose.Color) string {
	switch c {
	case diagnose.ColorGreen:
		return "\x1b[32m"
	case diagnose.ColorYellow:
		return "\x1b[33m"
	case diagnose.ColorRed:
		return "\x1b[31m"
	case diagnose.ColorMagenta:
		return "\x1b[35m"
	}
	return ""
}

const ansiReset = "\x1b[0m"

// Cell is one table cell: its text, and how to mark it when colour is allowed.
// The text is always printed; the symbol and colour only add to it, so the
// table reads the same without colour.
type Cell struct {
	Text   string
	Symbol string // printed before Text, only with colour
	Color  diagnose.Color
}

// StatusCell is the cell of a partition status (one of the Status*
// constants): a symbol and a colour by severity. Other text gets neither.
func StatusCell(status string) Cell {
	c := Cell{Text: status}
	c.Symbol, c.Color = diagnose.StatusMark(status)
	return c
}

// TableOptions say where a table goes.
type TableOptions struct {
	// TTY: the output is a terminal, so columns are aligned under a header.
	// Otherwise rows are tab-separated without a header, for scripts.
	TTY bool
	// Color allows colours and status symbols (see ColorAllowed); it has
	// no effect without TTY.
	Color bool
}

// ColorAllowed reports whether output to a terminal may be coloured: not
// when NO_COLOR is set (https://no-color.org) or TERM is "dumb".
func ColorAllowed(tty bool, getenv func(string) string) bool {
	return tty && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// Table collects the rows of one listing and writes them in one piece.
// Every CLI listing goes through it, so all of them look and pipe alike.
type Table struct {
	opts   TableOptions
	header []string
	rows   [][]Cell
}

// NewTable starts a table with the given column headers.
func NewTable(opts TableOptions, header ...string) *Table {
	return &Table{opts: opts, header: header}
}

// Row adds a row of plain cells.
func (t *Table) Row(cells ...string) {
	row := make([]Cell, len(cells))
	for i, s := range cells {
		row[i] = Cell{Text: s}
	}
	t.rows = append(t.rows, row)
}

// RowCells adds a row whose cells may carry a symbol and a colour.
func (t *Table) RowCells(cells ...Cell) {
	t.rows = append(t.rows, append([]Cell(nil), cells...))
}

// Len is the number of rows added.
func (t *Table) Len() int { return len(t.rows) }

// Render writes the table to w with a single Write, so a closed pipe is
// reported once.
func (t *Table) Render(w io.Writer) error {
	var b strings.Builder
	if t.opts.TTY {
		t.aligned(&b)
	} else {
		for _, row := range t.rows {
			for i, c := range row {
				if i > 0 {
					b.WriteByte('\t')
				}
				b.WriteString(clean(c.Text))
			}
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// aligned writes the header and rows padded to column widths measured on
// the visible text, so colour codes do not shift the columns.
func (t *Table) aligned(b *strings.Builder) {
	type shown struct {
		text  string // visible text
		color diagnose.Color
	}
	lines := make([][]shown, 0, len(t.rows)+1)
	if len(t.header) > 0 {
		h := make([]shown, len(t.header))
		for i, s := range t.header {
			h[i] = shown{text: clean(s)}
		}
		lines = append(lines, h)
	}
	for _, row := range t.rows {
		l := make([]shown, len(row))
		for i, c := range row {
			l[i] = shown{text: clean(c.Text)}
			if t.opts.Color && c.Color != diagnose.ColorNone {
				if c.Symbol != "" {
					l[i].text = c.Symbol + " " + l[i].text
				}
				l[i].color = c.Color
			}
		}
		lines = append(lines, l)
	}
	var widths []int
	for _, l := range lines {
		for i, c := range l {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	for _, l := range lines {
		for i, c := range l {
			if i > 0 {
				b.WriteString("  ")
			}
			if c.color != diagnose.ColorNone {
				b.WriteString(ansiCode(c.color) + c.text + ansiReset)
			} else {
				b.WriteString(c.text)
			}
			if i < len(l)-1 { // no trailing blanks after the last column
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)))
			}
		}
		b.WriteByte('\n')
	}
}

// clean turns control characters into spaces: a cell must not break its
// row apart or send escape sequences to the terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
