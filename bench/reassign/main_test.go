package main

import (
	"io"
	"slices"
	"testing"
)

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"--binary", "/x", "--mib", "8", "--throttles", "0, 1048576"}, io.Discard)
	if err != nil || o.binary != "/x" || o.mib != 8 || !slices.Equal(o.throttles, []int64{0, 1 << 20}) {
		t.Fatalf("%+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--mib", "8"},
		{"--binary", "/x", "--mib", "0"},
		{"--binary", "/x", "--throttles", "fast"},
		{"--binary", "/x", "--throttles", "-1"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
