package tui

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReadPathDoesNotLinkBroker holds the dependency rule (DESIGN.md §3):
// the TUI and the CLI's read path (admin client, api types, diagnosis,
// topic admin) read the cluster over the network only, so none of them may
// import a broker package, not even indirectly; nor may admintest, which
// their tests use. Only internal/admin/server links the broker.
func TestReadPathDoesNotLinkBroker(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	const mod = "github.com/chronik-dev/chronik/"
	pkgs := []string{
		mod + "internal/tui",
		mod + "internal/admin/api",
		mod + "internal/admin/client",
		mod + "internal/diagnose",
		mod + "internal/topicadmin",
		mod + "internal/admin/admintest", // the fakes and recorded views their tests share
	}
	out, err := exec.Command(goTool, append([]string{"list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}"}, pkgs...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(pkgs) {
		t.Fatalf("go list printed %d packages, want %d:\n%s", len(lines), len(pkgs), out)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		for _, dep := range fields[1:] {
			if dep == mod+"internal/broker" || strings.HasPrefix(dep, mod+"internal/broker/") {
				t.Errorf("%s imports %s: the read path must not link the broker", fields[0], dep)
			}
		}
	}
}
