package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeProfiles(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestProfileCreateOptions(t *testing.T) {
	e, path := newConnTestEnv(t)
	var got *ProfileCreateOptions
	cmd := NewCmdProfileCreate(e.f, func(o *ProfileCreateOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"prod", "--brokers", "k1:9092,k2", "--admin", "h1:9644", "--admin", "h2:9644", "--admin-token", "t0k", "--force"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Name != "prod" || got.ConfigPath != path || !slices.Equal(got.Brokers, []string{"k1:9092", "k2"}) ||
		!slices.Equal(got.Admin, []string{"h1:9644", "h2:9644"}) || got.AdminToken != "t0k" || !got.Force {
		t.Errorf("options %+v", got)
	}
}

// TestProfileWorkflow: create, list, use, then a command uses the profile;
// delete. Through the real command line, on a real file.
func TestProfileWorkflow(t *testing.T) {
	_, path := newConnTestEnv(t)
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		e, _ := newConnTestEnv(t)
		e.f.ConfigPath = func() (string, error) { return path, nil }
		if code := e.run(t, args...); code != wantCode {
			t.Fatalf("%v: exit code %d, want %d; stderr:\n%s", args, code, wantCode, e.errOut.String())
		}
		return e.out.String(), e.errOut.String()
	}

	_, stderr := run(exitOK, "profile", "list")
	if !strings.HasPrefix(stderr, "No profiles in "+path) {
		t.Errorf("empty list: stderr %q", stderr)
	}

	out, _ := run(exitOK, "profile", "create", "prod", "--brokers", "k1:9092,k2", "--admin", "k1:9644", "--admin-token", "s3cret")
	if want := "Saved profile \"prod\" in " + path + ".\nUse it with `chronik profile use prod`, or --profile prod.\n"; out != want {
		t.Errorf("create printed %q, want %q", out, want)
	}
	run(exitOK, "profile", "create", "dev", "--admin", "http://localhost:9644")
	_, stderr = run(exitError, "profile", "create", "dev", "--brokers", "x:1")
	if !strings.Contains(stderr, `Error: profile "dev" already exists in `+path+"; --force replaces it") {
		t.Errorf("create twice: stderr %q", stderr)
	}
	run(exitOK, "profile", "create", "dev", "--brokers", "d1:9092", "--force")

	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", p, fi.Mode().Perm(), err, want)
		}
	}

	out, _ = run(exitOK, "profile", "use", "prod")
	if want := "Now using profile \"prod\": brokers k1:9092,k2:9092, admin http://k1:9644.\n"; out != want {
		t.Errorf("use printed %q, want %q", out, want)
	}
	_, stderr = run(exitError, "profile", "use", "qa")
	if !strings.Contains(stderr, `Error: no profile "qa" (profiles: dev, prod)`) {
		t.Errorf("use unknown: stderr %q", stderr)
	}

	out, _ = run(exitOK, "profile", "list")
	if want := "\tdev\td1:9092\t-\tno\tPLAINTEXT\n*\tprod\tk1:9092,k2:9092\thttp://k1:9644\tyes\tPLAINTEXT\n"; out != want {
		t.Errorf("list printed %q, want %q", out, want)
	}
	out, _ = run(exitOK, "profile", "list", "-o", "json")
	if strings.Contains(out, "s3cret") {
		t.Errorf("list -o json shows the token:\n%s", out)
	}
	var ls []ProfileListing
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 2 || !ls[1].Current || !ls[1].HasAdminToken {
		t.Errorf("list -o json: %v\n%s", err, out)
	}

	// The current profile feeds the connection of other commands.
	e2, _ := newConnTestEnv(t)
	e2.f.ConfigPath = func() (string, error) { return path, nil }
	var raft *RaftStatusOptions
	cmd := NewCmdRaftStatus(e2.f, func(o *RaftStatusOptions) error { raft = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil || !slices.Equal(raft.Admins, []string{"http://k1:9644"}) {
		t.Errorf("raft status with the current profile: %v, %+v", err, raft)
	}
	t.Setenv(EnvAdmin, "http://e:9644")
	cmd = NewCmdRaftStatus(e2.f, func(o *RaftStatusOptions) error { raft = o; return nil })
	cmd.SetArgs([]string{"--profile", "dev"})
	if err := cmd.Execute(); err != nil || !slices.Equal(raft.Admins, []string{"http://e:9644"}) {
		t.Errorf("raft status: the environment must beat the profile: %v, %+v", err, raft)
	}

	out, _ = run(exitOK, "profile", "delete", "prod")
	if want := "Deleted profile \"prod\".\nNo profile is current now.\n"; out != want {
		t.Errorf("delete printed %q, want %q", out, want)
	}
	_, stderr = run(exitError, "profile", "delete", "prod")
	if !strings.Contains(stderr, `Error: no profile "prod" (profiles: dev)`) {
		t.Errorf("delete twice: stderr %q", stderr)
	}
}

func TestProfileBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no settings", []string{"profile", "create", "p"}, "Error: give --brokers, --admin or both"},
		{"bad name", []string{"profile", "create", "a/b", "--brokers", "h"}, `Error: profile name "a/b": use letters, digits, '-', '_' and '.'`},
		{"bad brokers", []string{"profile", "create", "p", "--brokers", "h:0"}, `Error: brokers: Kafka address "h:0": bad port "0"`},
		{"bad admin", []string{"profile", "create", "p", "--admin", "ftp://h"}, `Error: admin: admin URL "ftp://h": scheme "ftp", want http or https`},
		{"no name", []string{"profile", "use"}, "Error: accepts 1 arg(s), received 0"},
		{"list output", []string{"profile", "list", "-o", "xml"}, `Error: --output: want one of table, json, yaml, got "xml"`},
		{"unknown subcommand", []string{"profile", "remove"}, `Error: unknown command "remove" for "chronik profile"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, path := newConnTestEnv(t)
			if code := e.run(t, tt.args...); code != exitUsage {
				t.Errorf("exit code %d, want 2", code)
			}
			if stderr := e.errOut.String(); !strings.Contains(stderr, tt.want) || strings.Count(stderr, "Error:") != 1 {
				t.Errorf("stderr %q, want %q once", stderr, tt.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("profiles file written on a usage error: %v", err)
			}
		})
	}
}

func TestProfileMalformedFile(t *testing.T) {
	e, path := newConnTestEnv(t)
	writeProfiles(t, path, "current: prod\nprofiles:\n  prod:\n    brokerz: [h:1]\n")
	if code := e.run(t, "topic", "list"); code != exitError {
		t.Errorf("exit code %d, want 1", code)
	}
	want := "Error: profiles file " + path + `: line 4: unknown profile field "brokerz" (want ` + strings.Join(profileKeys(), ", ") + ")\n"
	if e.errOut.String() != want {
		t.Errorf("stderr %q, want %q", e.errOut.String(), want)
	}
}

func TestProfileNameCompletion(t *testing.T) {
	_, path := newConnTestEnv(t)
	writeProfiles(t, path, "profiles:\n  prod: {brokers: [h:1]}\n  dev: {brokers: [h:2]}\n")
	for _, args := range [][]string{
		{"__complete", "profile", "use", ""},
		{"__complete", "profile", "delete", ""},
		{"__complete", "topic", "list", "--profile", ""},
		{"__complete", "raft", "status", "--profile", ""},
	} {
		e, _ := newConnTestEnv(t)
		e.f.ConfigPath = func() (string, error) { return path, nil }
		if code := e.run(t, args...); code != exitOK {
			t.Fatalf("%v: exit code %d: %s", args, code, e.errOut.String())
		}
		if want := "dev\nprod\n:4\n"; !strings.HasPrefix(e.out.String(), want) {
			t.Errorf("%v: completions %q, want %q", args, e.out.String(), want)
		}
	}
}
