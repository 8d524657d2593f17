package admintest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/chronik-dev/chronik/internal/admin/api"
)

// The recorded cluster views in testdata (written from the diagnosis
// tests' fixtures, see internal/diagnose's TestWriteTestdata):
// healthy.json, follower-stalled.json and node-down.json.

// Path is the file name in this package's testdata directory, wherever
// the test that asks runs from.
func Path(name string) string {
	return filepath.Join(testdataDir(), name)
}

func testdataDir() string {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "testdata")
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	}
	// Built with -trimpath: find the module root from the working
	// directory, which go test sets to the package under test.
	const rel = "internal/admin/admintest/testdata"
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(rel))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return rel
		}
		dir = parent
	}
}

// LoadView reads the recorded cluster view name (such as "healthy.json"),
// refusing fields the types do not have, and checks it survives a JSON
// round trip unchanged.
func LoadView(t testing.TB, name string) api.ClusterView {
	t.Helper()
	b, err := os.ReadFile(Path(name))
	if err != nil {
		t.Fatal(err)
	}
	var v api.ClusterView
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back api.ClusterView
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, back) {
		t.Fatalf("%s changes in a JSON round trip", name)
	}
	return v
}
