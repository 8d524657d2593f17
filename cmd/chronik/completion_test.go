package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateCompletions reports whether the test runs with -update (registered in TestMain).
func updateCompletions() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// completionFiles maps each shell to its committed script.
func completionFiles() map[string]string {
	dir := filepath.Join("..", "..", "completions")
	return map[string]string{
		"bash":       filepath.Join(dir, "chronik.bash"),
		"zsh":        filepath.Join(dir, "chronik.zsh"),
		"fish":       filepath.Join(dir, "chronik.fish"),
		"powershell": filepath.Join(dir, "chronik.ps1"),
	}
}

func generateCompletion(t *testing.T, shell string) []byte {
	t.Helper()
	e := newTestEnv(t)
	if code := e.run(t, "completion", shell); code != exitOK {
		t.Fatalf("completion %s: exit code %d: %s", shell, code, e.errOut.String())
	}
	return []byte(e.out.String())
}

// TestCompletionFiles fails when completions/ no longer matches the
// commands; `go generate ./cmd/chronik` runs it with -update to fix that.
func TestCompletionFiles(t *testing.T) {
	for shell, path := range completionFiles() {
		got := generateCompletion(t, shell)
		if updateCompletions() {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatalf("write %s: %v", path, err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("read %s: %v (run `go generate ./cmd/chronik`)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with `chronik completion %s`: run `go generate ./cmd/chronik`", path, shell)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_chronik",
		"zsh":        "#compdef chronik",
		"fish":       "complete -c chronik",
		"powershell": "Register-ArgumentCompleter",
	} {
		if got := string(generateCompletion(t, shell)); !strings.Contains(got, marker) {
			t.Errorf("%s script lacks %q", shell, marker)
		}
	}
}

// TestDynamicCompletion checks the completions the scripts ask the binary for.
func TestDynamicCompletion(t *testing.T) {
	e := newTestEnv(t)
	if code := e.run(t, "__complete", "serve", "--log-flush", ""); code != exitOK {
		t.Fatalf("exit code %d: %s", code, e.errOut.String())
	}
	for _, want := range []string{"always\n", "interval\n", "never\n"} {
		if !strings.Contains(e.out.String(), want) {
			t.Errorf("--log-flush completions lack %q:\n%s", want, e.out.String())
		}
	}
}
