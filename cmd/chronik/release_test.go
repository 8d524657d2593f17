package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/chronik-dev/chronik/internal/version"
)

// goreleaserConfig is the part of goreleaser.yaml that other code relies on.
type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
		Ldflags []string `yaml:"ldflags"`
	} `yaml:"builds"`
	Archives []struct {
		Files []string `yaml:"files"`
	} `yaml:"archives"`
	Checksum  map[string]any `yaml:"checksum"`
	Changelog struct {
		Sort string `yaml:"sort"`
	} `yaml:"changelog"`
}

// TestGoreleaserConfig parses goreleaser.yaml (goreleaser itself is not
// available in tests) and checks it builds what this repository expects.
func TestGoreleaserConfig(t *testing.T) {
	path := filepath.Join("..", "..", "goreleaser.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s is not valid YAML: %v", path, err)
	}
	if cfg.Version != 2 {
		t.Errorf("version = %d, want 2 (GoReleaser v2 syntax)", cfg.Version)
	}
	if len(cfg.Builds) != 1 {
		t.Fatalf("want one build, got %d", len(cfg.Builds))
	}
	b := cfg.Builds[0]
	if b.Main != "./cmd/chronik" || b.Binary != "chronik" {
		t.Errorf("build main=%q binary=%q", b.Main, b.Binary)
	}
	if !slices.Contains(b.Env, "CGO_ENABLED=0") {
		t.Errorf("build env %v lacks CGO_ENABLED=0", b.Env)
	}
	if got := slices.Sorted(slices.Values(b.Goos)); !reflect.DeepEqual(got, []string{"darwin", "linux"}) {
		t.Errorf("goos = %v", b.Goos)
	}
	if got := slices.Sorted(slices.Values(b.Goarch)); !reflect.DeepEqual(got, []string{"amd64", "arm64"}) {
		t.Errorf("goarch = %v", b.Goarch)
	}

	// The -X targets must name the real package, or releases print "dev".
	pkg := reflect.TypeFor[version.Info]().PkgPath()
	ldflags := strings.Join(b.Ldflags, " ")
	for _, want := range []string{
		"-s -w",
		"-X " + pkg + ".Version={{.Version}}",
		"-X " + pkg + ".Commit={{.Commit}}",
		"-X " + pkg + ".Date={{.Date}}",
	} {
		if !strings.Contains(ldflags, want) {
			t.Errorf("ldflags %q lack %q", ldflags, want)
		}
	}

	if len(cfg.Archives) != 1 {
		t.Fatalf("want one archive, got %d", len(cfg.Archives))
	}
	for _, want := range []string{"README.md", "completions/*", "manpages/*"} {
		if !slices.Contains(cfg.Archives[0].Files, want) {
			t.Errorf("archive files %v lack %q", cfg.Archives[0].Files, want)
		}
	}
	if cfg.Checksum == nil {
		t.Error("no checksum section")
	}
	if cfg.Changelog.Sort != "asc" && cfg.Changelog.Sort != "desc" {
		t.Errorf("changelog sort = %q, want asc or desc", cfg.Changelog.Sort)
	}

	// Every glob in the archive must match something once the repo is complete;
	// completions are ours, so they must exist now.
	matches, err := filepath.Glob(filepath.Join("..", "..", "completions", "*"))
	if err != nil || len(matches) != len(completionFiles()) {
		t.Errorf("completions/* matches %v (err %v), want the %d generated scripts", matches, err, len(completionFiles()))
	}
}

// TestManPages: the hidden `chronik man DIR` goreleaser runs writes one
// page per command.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	env := newTestEnv(t)
	if code := Execute(t.Context(), env.f, []string{"man", dir}); code != 0 {
		t.Fatalf("exit %d: %s", code, env.errOut.String())
	}
	for _, page := range []string{"chronik.1", "chronik-serve.1", "chronik-isr-describe.1", "chronik-doctor.1", "chronik-topic-create.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), ".TH") {
			t.Errorf("%s: %v", page, err)
		}
	}
}
