package tui

import (
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/chronik-dev/chronik/internal/diagnose"
)

// Rendering helpers: styles, fitting text to a width, tables, sparklines.

// styleKind names how a piece of text is marked when colour is allowed.
type styleKind int

const (
	stNone styleKind = iota
	stGreen
	stYellow
	stRed
	stMagenta
	stFaint
	stBold
	stSelected
	stTabActive
)

// styles render text through a renderer of the Model's own, so colour is
// decided once (Options.Color) and lipgloss's global renderer is left alone.
type styles struct {
	color bool
	by    map[styleKind]lipgloss.Style
	r     *lipgloss.Renderer
}

func newStyles(color bool) styles {
	r := lipgloss.NewRenderer(nil)
	if color {
		r.SetColorProfile(termenv.ANSI)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return styles{color: color, r: r, by: map[styleKind]lipgloss.Style{
		stGreen:     r.NewStyle().Foreground(lipgloss.Color("2")),
		stYellow:    r.NewStyle().Foreground(lipgloss.Color("3")),
		stRed:       r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		stMagenta:   r.NewStyle().Foreground(lipgloss.Color("5")).Bold(true),
		stFaint:     r.NewStyle().Faint(true),
		stBold:      r.NewStyle().Bold(true),
		stSelected:  r.NewStyle().Bold(true).Foreground(lipgloss.Color("6")),
		stTabActive: r.NewStyle().Bold(true).Reverse(true),
	}}
}

// paint marks s; without colour it is returned as it is.
func (s styles) paint(k styleKind, text string) string {
	if !s.color || k == stNone || text == "" {
		return text
	}
	return s.by[k].Render(text)
}

func (s styles) helpStyles() help.Styles {
	plain := s.r.NewStyle()
	key, faint := plain, plain
	if s.color {
		key = s.r.NewStyle().Bold(true)
		faint = s.r.NewStyle().Faint(true)
	}
	return help.Styles{Ellipsis: faint, ShortKey: key, ShortDesc: faint, ShortSeparator: faint,
		FullKey: key, FullDesc: faint, FullSeparator: faint}
}

// colorKind maps the CLI's status colours onto styles.
func colorKind(c diagnose.Color) styleKind {
	switch c {
	case diagnose.ColorGreen:
		return stGreen
	case diagnose.ColorYellow:
		return stYellow
	case diagnose.ColorRed:
		return stRed
	case diagnose.ColorMagenta:
		return stMagenta
	}
	return stNone
}

// width is the number of terminal columns s takes, escape codes excluded.
func width(s string) int { return ansi.StringWidth(s) }

// fit cuts s to w columns, ending in an ellipsis when it was longer.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// pad fits s to exactly w columns, on the left (right=false) or right.
func pad(s string, w int, right bool) string {
	s = fit(s, w)
	gap := strings.Repeat(" ", max(0, w-width(s)))
	if right {
		return gap + s
	}
	return s + gap
}

// oneLine turns control characters (a node's error text may hold newlines)
// into spaces, so a value cannot break the layout.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// wrap breaks s into lines of at most w columns, at spaces where it can.
func wrap(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	return strings.Split(ansi.Wrap(oneLine(s), w, ""), "\n")
}

// column is one column of a table.
type column struct {
	title string
	right bool // numbers align right
	flex  bool // may shrink (with an ellipsis) when the table is too wide
	min   int  // the narrowest a flex column gets
	// optional columns are left out, last first, when the table does not
	// fit even with every flex column at its narrowest.
	optional bool
}

// cell is one table cell.
type cell struct {
	text  string
	style styleKind
}

func plain(s string) cell { return cell{text: oneLine(s)} }

// statusCell is a partition status with its symbol: colour is never the
// only mark.
func statusCell(status string) cell {
	symbol, color := diagnose.StatusMark(status)
	text := status
	if symbol != "" {
		text = symbol + " " + text
	}
	return cell{text: text, style: colorKind(color)}
}

// table is the data of one table; render fits it to a width.
type table struct {
	cols       []column
	rows       [][]cell
	selectable bool // a marker column shows the selected row
	sel        int
}

// widths sizes the columns to their content; when that is too wide for
// w it narrows the gap between columns, then shrinks the flex columns
// (widest first), then leaves out optional columns (last first) and tries
// again. A left-out column has width -1.
func (t table) widths(w int) ([]int, int) {
	nat := make([]int, len(t.cols))
	for i, c := range t.cols {
		nat[i] = width(c.title)
		for _, r := range t.rows {
			if i < len(r) {
				nat[i] = max(nat[i], width(r[i].text))
			}
		}
	}
	total := func(ws []int, gap int) int {
		n, shown := 0, 0
		if t.selectable {
			n = 2
		}
		for _, x := range ws {
			if x >= 0 {
				n += x
				shown++
			}
		}
		return n + gap*max(0, shown-1)
	}
	hidden := make([]bool, len(t.cols))
	for {
		ws := slices.Clone(nat)
		for i := range ws {
			if hidden[i] {
				ws[i] = -1
			}
		}
		if total(ws, 2) <= w {
			return ws, 2
		}
		for total(ws, 1) > w {
			best := -1
			for i, c := range t.cols {
				if c.flex && ws[i] > max(c.min, 1) && (best < 0 || ws[i] > ws[best]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			ws[best]--
		}
		drop := -1
		for i, c := range t.cols {
			if c.optional && !hidden[i] {
				drop = i
			}
		}
		if total(ws, 1) <= w || drop < 0 {
			return ws, 1 // when it still does not fit, the line is cut at the edge
		}
		hidden[drop] = true
	}
}

// render returns the header and the rows [off, off+n) fitted to w columns.
func (t table) render(s styles, w, off, n int) []string {
	ws, gap := t.widths(w)
	sep := strings.Repeat(" ", gap)
	line := func(cells []cell, header bool, selected bool) string {
		var b strings.Builder
		if t.selectable {
			switch {
			case selected:
				b.WriteString(s.paint(stSelected, "›") + " ")
			default:
				b.WriteString("  ")
			}
		}
		first := true
		for i, c := range t.cols {
			if ws[i] < 0 {
				continue
			}
			if !first {
				b.WriteString(sep)
			}
			first = false
			var text string
			var k styleKind
			if header {
				text = c.title
			} else if i < len(cells) {
				text, k = cells[i].text, cells[i].style
			}
			last := !slices.ContainsFunc(ws[i+1:], func(x int) bool { return x >= 0 })
			if last && !c.right {
				text = fit(text, ws[i]) // no trailing blanks
			} else {
				text = pad(text, ws[i], c.right)
			}
			if header {
				k = stBold
			}
			if selected && k == stNone {
				k = stSelected
			}
			b.WriteString(s.paint(k, text))
		}
		return fit(b.String(), w)
	}
	out := []string{line(nil, true, false)}
	for i := off; i < len(t.rows) && i < off+n; i++ {
		out = append(out, line(t.rows[i], false, t.selectable && i == t.sel))
	}
	return out
}

// sparkBlocks are the eight levels of a sparkline, lowest first.
const sparkBlocks = "▁▂▃▄▅▆▇█"

// sparkline draws vals (missing values as blanks) scaled between lo and
// hi, so several series drawn with the same bounds compare at a glance.
func sparkline(vals []int64, ok []bool, lo, hi int64) string {
	blocks := []rune(sparkBlocks)
	var b strings.Builder
	for i, v := range vals {
		if !ok[i] {
			b.WriteByte(' ')
			continue
		}
		idx := 0
		if hi > lo {
			// In floating point: offsets times seven may overflow an int64.
			idx = int(float64(v-lo) * float64(len(blocks)-1) / float64(hi-lo))
		}
		b.WriteRune(blocks[min(max(idx, 0), len(blocks)-1)])
	}
	return b.String()
}
