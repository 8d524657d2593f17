package state

import (
	"fmt"
	"unicode"
)

// MaxRackLen bounds a broker's rack name: it is stored in the metadata and
// sent in every Metadata answer, so its size is not the registrant's choice.
const MaxRackLen = 255

// CheckRack reports why rack cannot be a broker's rack: longer than
// MaxRackLen bytes, or holding control characters (it is printed in logs
// and tables). Empty (no rack) is fine.
func CheckRack(rack string) error {
	if len(rack) > MaxRackLen {
		return fmt.Errorf("rack is %d bytes long, at most %d allowed", len(rack), MaxRackLen)
	}
	for _, r := range rack {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("rack %q holds a control character or invalid UTF-8", rack)
		}
	}
	return nil
}
