package api

import (
	"strconv"
	"strings"
)

// The words for a reassignment in progress, shared by `chronik isr
// describe` and the TUI so both say the same thing.

// ReplicasText is the replica list with a reassignment in progress named
// after it: "3,2,1 (adding 3, removing 1)".
func (r PartitionRow) ReplicasText() string {
	s := idText(r.Replicas)
	var moving []string
	if len(r.AddingReplicas) > 0 {
		moving = append(moving, "adding "+idText(r.AddingReplicas))
	}
	if len(r.RemovingReplicas) > 0 {
		moving = append(moving, "removing "+idText(r.RemovingReplicas))
	}
	if len(moving) > 0 {
		s += " (" + strings.Join(moving, ", ") + ")"
	}
	return s
}

// CopyProgress is an adding replica's copy: "12.5 MB left, 1.0 MB/s"; a
// figure the leader does not know yet is "?".
func (rs ReplicaState) CopyProgress() string {
	left, rate := "? left", "? /s"
	if rs.BytesLeft != nil {
		left = HumanBytes(float64(*rs.BytesLeft)) + " left"
	}
	if rs.CopyBytesPerSecond != nil {
		rate = HumanBytes(*rs.CopyBytesPerSecond) + "/s"
	}
	return left + ", " + rate
}

// HumanBytes prints a byte count in decimal units: "950 B", "12.5 MB".
func HumanBytes(b float64) string {
	switch {
	case b >= 1e9:
		return strconv.FormatFloat(b/1e9, 'f', 1, 64) + " GB"
	case b >= 1e6:
		return strconv.FormatFloat(b/1e6, 'f', 1, 64) + " MB"
	case b >= 1e3:
		return strconv.FormatFloat(b/1e3, 'f', 1, 64) + " kB"
	}
	return strconv.FormatFloat(b, 'f', 0, 64) + " B"
}

func idText(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
