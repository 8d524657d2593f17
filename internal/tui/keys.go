package tui

import (
	"github.com/charmbracelet/bubbles/key"
)

// keyMap is every key the monitor reacts to, defined once: Update matches
// against these bindings and the help footer and full help are generated
// from them, so the two cannot disagree.
type keyMap struct {
	Overview   key.Binding
	Partitions key.Binding
	Detail     key.Binding
	Raft       key.Binding
	Findings   key.Binding
	NextView   key.Binding
	PrevView   key.Binding

	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding
	Enter    key.Binding
	Back     key.Binding

	Sort    key.Binding
	Reverse key.Binding
	Filter  key.Binding

	Refresh key.Binding
	Pause   key.Binding
	Elect   key.Binding
	Yes     key.Binding
	No      key.Binding

	Help key.Binding
	Quit key.Binding
}

func newKeyMap(allowActions bool) keyMap {
	k := keyMap{
		Overview:   key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "overview")),
		Partitions: key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "partitions")),
		Detail:     key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "partition detail")),
		Raft:       key.NewBinding(key.WithKeys("4"), key.WithHelp("4", "raft")),
		Findings:   key.NewBinding(key.WithKeys("5"), key.WithHelp("5", "findings")),
		NextView:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next")),
		PrevView:   key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous")),

		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "first")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "last")),
		Enter:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:     key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back")),

		Sort:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		Reverse: key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse sort")),
		Filter:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),

		Refresh: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh")),
		Pause:   key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Elect:   key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "elect preferred leader")),
		Yes:     key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "confirm")),
		No:      key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n", "cancel")),

		Help: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
	// Read-only unless actions were allowed: the key is then neither shown
	// nor matched.
	k.Elect.SetEnabled(allowActions)
	return k
}

// helpKeys is the help.KeyMap for one screen: the short footer shows what
// applies to the current view, the full help everything.
type helpKeys struct {
	short []key.Binding
	full  [][]key.Binding
}

func (h helpKeys) ShortHelp() []key.Binding  { return h.short }
func (h helpKeys) FullHelp() [][]key.Binding { return h.full }

// helpFor builds the help for view v (filtering and confirming have their
// own, shorter footers).
func (k keyMap) helpFor(v viewID) helpKeys {
	var short []key.Binding
	switch v {
	case viewOverview, viewRaft:
		short = []key.Binding{k.Up, k.Enter}
	case viewPartitions:
		short = []key.Binding{k.Enter, k.Sort, k.Filter}
	case viewDetail:
		short = []key.Binding{k.Back, k.Elect}
	case viewFindings:
		short = []key.Binding{k.Enter}
	}
	short = append(short, k.NextView, k.Refresh, k.Pause, k.Help, k.Quit)
	return helpKeys{
		short: short,
		full: [][]key.Binding{
			{k.Overview, k.Partitions, k.Detail, k.Raft, k.Findings, k.NextView, k.PrevView},
			{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Enter, k.Back},
			{k.Sort, k.Reverse, k.Filter, k.Elect},
			{k.Refresh, k.Pause, k.Help, k.Quit},
		},
	}
}
