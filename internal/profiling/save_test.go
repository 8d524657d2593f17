package profiling

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestCheck(t *testing.T) {
	ok := Options{Kind: "cpu", Path: "cpu.pprof", Timeout: time.Second}
	if err := ok.Check(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for name, mutate := range map[string]func(*Options){
		"unknown kind":           func(o *Options) { o.Kind = "cmdline" },
		"seconds over the cap":   func(o *Options) { o.Seconds = 61 },
		"negative seconds":       func(o *Options) { o.Seconds = -1 },
		"threadcreate delta":     func(o *Options) { o.Kind, o.Seconds = "threadcreate", 5 },
		"no output":              func(o *Options) { o.Path = "" },
		"no time beyond profile": func(o *Options) { o.Timeout = 0 },
	} {
		o := ok
		mutate(&o)
		if err := o.Check(); err == nil {
			t.Errorf("%s: accepted %+v", name, o)
		}
	}
}

// A file that appears under the output name while the profile downloads is
// kept, not replaced, and the download is not left behind.
func TestSaveKeepsAFileThatAppearedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "heap.pprof")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/heap" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0x1f, 0x8b, 1, 2, 3})
	}))
	t.Cleanup(srv.Close)

	_, err := Save(t.Context(), Options{Admins: []string{srv.URL}, Token: "tok", Kind: "heap", Path: path, Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "appeared") {
		t.Fatalf("Save: %v, want the file-appeared refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "someone else's" {
		t.Errorf("the other file was replaced: %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.part")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// With Force it is replaced.
	res, err := Save(t.Context(), Options{Admins: []string{srv.URL}, Token: "tok", Kind: "heap", Path: path, Force: true, Timeout: 10 * time.Second})
	if err != nil || res.Bytes != 5 || res.Tool() != "pprof" {
		t.Fatalf("Save --force: %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(path); len(b) != 5 || b[0] != 0x1f {
		t.Errorf("--force did not write the profile: %q", b)
	}
}

// An answer that is not a profile (some other server's page) is refused
// and writes nothing.
func TestSaveRefusesANonProfileAnswer(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>hello</html>"))
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(dir, "cpu.pprof")
	_, err := Save(t.Context(), Options{Admins: []string{srv.URL}, Kind: "goroutine", Path: path, Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "not a profile") {
		t.Fatalf("Save: %v, want a not-a-profile error", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) > 0 {
		t.Errorf("files left: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("files left: %v", left)
	}
}
