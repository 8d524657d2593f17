package diagnose

import (
	"github.com/chronik-dev/chronik/internal/admin/api"
)

// How the CLI's tables and the TUI mark a partition status: the same
// symbol and colour wherever it is shown.

// Color is the colour a status is shown in.
type Color int

// Status colours. ColorNone shows the text as it is.
const (
	ColorNone Color = iota
	ColorGreen
	ColorYellow
	ColorRed
	// ColorMagenta marks what is unknown (a silent leader), so it is told
	// apart from both healthy and known-bad.
	ColorMagenta
)

// StatusMark is the symbol and colour of a partition status (one of the
// Status* constants), by severity; other text gets neither. Colour is never
// the only mark: the symbol says the same.
func StatusMark(status string) (symbol string, color Color) {
	switch status {
	case api.StatusOK:
		return "✓", ColorGreen
	case api.StatusUnderReplicated, api.StatusAtMinISR:
		return "▲", ColorYellow
	case api.StatusStalled:
		return "⏸", ColorYellow
	case api.StatusUnderMinISR, api.StatusOffline, api.StatusISRUninitialized:
		return "✗", ColorRed
	case api.StatusLeaderUnreachable:
		return "?", ColorMagenta
	}
	return "", ColorNone
}
