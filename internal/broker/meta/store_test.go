package meta

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// noTempFile fails when an atomic rewrite left its temporary file behind.
func noTempFile(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, stateTempFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left behind after a rewrite (stat: %v)", stateTempFileName, err)
	}
}

// readState parses the file on disk: it must always be complete JSON.
func readState(t *testing.T, dir string) state {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("metadata file is not valid JSON: %v\n%s", err, b)
	}
	return st
}

func TestOpenCreatesStoreWithClusterID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta") // Open creates the directory
	s := openStore(t, dir)
	id := s.ClusterID()
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("cluster id %q is not 32 hex digits", id)
	}
	if got := readState(t, dir); got.ClusterID != id || got.Version != stateVersion {
		t.Fatalf("file has cluster id %q version %d, want %q version %d", got.ClusterID, got.Version, id, stateVersion)
	}
	noTempFile(t, dir)
	if len(s.Topics()) != 0 {
		t.Fatalf("new store has topics: %v", s.Topics())
	}
	if other := openStore(t, t.TempDir()); other.ClusterID() == id {
		t.Fatal("two new stores got the same cluster id")
	}
}

func TestStorePersistenceRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	a := Topic{Name: "alpha", ID: NewTopicID(), Partitions: 3, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "1000", "segment.bytes": "4096"}}
	b := Topic{Name: "beta", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1}
	internal := Topic{Name: "__consumer_offsets", ID: NewTopicID(), Partitions: 50, ReplicationFactor: 1,
		Configs: map[string]string{"retention.ms": "-1"}, Internal: true}
	gone := Topic{Name: "gone", ID: NewTopicID(), Partitions: 2, ReplicationFactor: 1}
	for _, tp := range []Topic{a, b, internal, gone} {
		if err := s.CreateTopic(tp); err != nil {
			t.Fatalf("create %s: %v", tp.Name, err)
		}
		noTempFile(t, dir)
	}
	if err := s.UpdateTopic("beta", func(t *Topic) error {
		t.Partitions = 4
		t.Configs["max.message.bytes"] = "2048"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	noTempFile(t, dir)
	if err := s.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	noTempFile(t, dir)
	b.Partitions = 4
	b.Configs = map[string]string{"max.message.bytes": "2048"}

	r := openStore(t, dir)
	if r.ClusterID() != s.ClusterID() {
		t.Fatalf("cluster id changed across reopen: %q -> %q", s.ClusterID(), r.ClusterID())
	}
	want := []Topic{internal, a, b} // sorted by name
	got := r.Topics()
	if len(got) != len(want) {
		t.Fatalf("reopened store has %d topics, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i].clone()) {
			t.Errorf("topic %d after reopen:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
	if _, ok := r.Topic("gone"); ok {
		t.Error("deleted topic is back after reopen")
	}
	if tp, ok := r.TopicByID(a.ID); !ok || tp.Name != "alpha" {
		t.Errorf("TopicByID(alpha's id) = %q, %v", tp.Name, ok)
	}
	if _, ok := r.TopicByID(gone.ID); ok {
		t.Error("TopicByID finds a deleted topic")
	}
}

func TestStoreMutationErrors(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	tp := Topic{Name: "t", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "5"}}
	if err := s.CreateTopic(tp); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTopic(Topic{Name: "t", ID: NewTopicID(), Partitions: 9}); !errors.Is(err, ErrTopicExists) {
		t.Errorf("create existing: %v, want ErrTopicExists", err)
	}
	if err := s.DeleteTopic("nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("delete unknown: %v, want ErrUnknownTopic", err)
	}
	if err := s.UpdateTopic("nope", func(*Topic) error { return nil }); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("update unknown: %v, want ErrUnknownTopic", err)
	}
	refuse := errors.New("refused")
	if err := s.UpdateTopic("t", func(t *Topic) error {
		t.Partitions = 100
		t.Configs["retention.ms"] = "6"
		return refuse
	}); !errors.Is(err, refuse) {
		t.Errorf("update whose fn fails: %v, want its error", err)
	}
	if got, _ := s.Topic("t"); !reflect.DeepEqual(got, tp) {
		t.Errorf("a failed update changed the topic: %+v", got)
	}

	// Copies handed out do not alias the store's state.
	got, _ := s.Topic("t")
	got.Configs["retention.ms"] = "changed"
	got.Partitions = 42
	all := s.Topics()
	all[0].Configs["segment.bytes"] = "changed"
	if again, _ := s.Topic("t"); !reflect.DeepEqual(again, tp) {
		t.Errorf("mutating a returned copy changed the store: %+v", again)
	}
	if st := readState(t, dir); !reflect.DeepEqual(st.Topics["t"], tp) {
		t.Errorf("file has %+v, want %+v", st.Topics["t"], tp)
	}
}

func TestOpenRefusesBadFiles(t *testing.T) {
	for _, tt := range []struct {
		name, content, want string
	}{
		{"garbage", "{not json", "parse metadata file"},
		{"truncated", `{"version": 1, "cluster_id": "ab`, "parse metadata file"},
		{"future version", `{"version": 99, "cluster_id": "x", "topics": {}}`, "unsupported version 99"},
		{"bad topic id", `{"version": 1, "cluster_id": "x", "topics": {"t": {"name": "t", "id": "zz"}}}`, "topic id"},
		{"overlong topic id", `{"version": 1, "cluster_id": "x", "topics": {"t": {"name": "t", "id": "` + strings.Repeat("ab", 17) + `"}}}`, "topic id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFileName)
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			if err == nil {
				t.Fatal("Open accepted a bad metadata file")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q should name %s and say %q", err, path, tt.want)
			}
		})
	}
}

// TestStaleTempFileIgnored: a crash between writing the temporary file and
// renaming it leaves the previous metadata in force.
func TestStaleTempFileIgnored(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.CreateTopic(Topic{Name: "kept", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateTempFileName), []byte(`{"half a wri`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := openStore(t, dir)
	if _, ok := r.Topic("kept"); !ok {
		t.Fatal("topic lost: the stale temporary file was read")
	}
	if err := r.CreateTopic(Topic{Name: "next", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	noTempFile(t, dir)
	if st := readState(t, dir); len(st.Topics) != 2 {
		t.Fatalf("file has %d topics after the next write, want 2", len(st.Topics))
	}
}

// TestProducerIDsNeverRepeat: ids are reserved on disk in blocks, so a
// reopened store never hands out an id it handed out before, even when the
// previous one was not closed (there is no Close: a crash is the same).
func TestProducerIDsNeverRepeat(t *testing.T) {
	dir := t.TempDir()
	seen := map[int64]bool{}
	take := func(s *Store, n int) {
		t.Helper()
		for range n {
			id, err := s.NextProducerID()
			if err != nil {
				t.Fatal(err)
			}
			if id < 0 {
				t.Fatalf("negative producer id %d", id)
			}
			if seen[id] {
				t.Fatalf("producer id %d handed out twice", id)
			}
			seen[id] = true
		}
	}
	take(openStore(t, dir), 3)
	take(openStore(t, dir), 1)
	// Across a block boundary, then reopen in the middle of the next block.
	take(openStore(t, dir), producerIDBlock+5)
	take(openStore(t, dir), 2)
	if got := readState(t, dir).NextProducerID; got <= 0 {
		t.Fatalf("next_producer_id on disk is %d", got)
	}
	noTempFile(t, dir)
}

func TestProducerIDsConcurrent(t *testing.T) {
	s := openStore(t, t.TempDir())
	const workers, each = 8, 300 // more than one block in total
	ids := make(chan int64, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id, err := s.NextProducerID()
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("producer id %d handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("got %d ids, want %d", len(seen), workers*each)
	}
}

func TestTopicIDText(t *testing.T) {
	id := NewTopicID()
	if id == (TopicID{}) {
		t.Fatal("NewTopicID returned the reserved zero id")
	}
	txt, err := id.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back TopicID
	if err := back.UnmarshalText(txt); err != nil || back != id {
		t.Fatalf("round trip of %s: %s, %v", txt, back, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("0", 30), strings.Repeat("g", 32), strings.Repeat("0", 34)} {
		var x TopicID
		if err := x.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
}

// TestFailedWriteChangesNothing: when the metadata cannot be persisted, the
// change is refused and the in-memory state stays what the file says.
func TestFailedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	kept := Topic{Name: "kept", ID: NewTopicID(), Partitions: 2, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1"}}
	if err := s.CreateTopic(kept); err != nil {
		t.Fatal(err)
	}
	// A directory where the temporary file goes makes every rewrite fail,
	// even for root.
	blocker := filepath.Join(dir, stateTempFileName)
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTopic(Topic{Name: "new", ID: NewTopicID(), Partitions: 1, ReplicationFactor: 1}); err == nil {
		t.Fatal("create succeeded without persisting")
	}
	if _, ok := s.Topic("new"); ok {
		t.Error("topic whose creation failed to persist exists")
	}
	if err := s.UpdateTopic("kept", func(t *Topic) error { t.Partitions = 9; t.Configs["retention.ms"] = "2"; return nil }); err == nil {
		t.Fatal("update succeeded without persisting")
	}
	if err := s.DeleteTopic("kept"); err == nil {
		t.Fatal("delete succeeded without persisting")
	}
	if got, ok := s.Topic("kept"); !ok || !reflect.DeepEqual(got, kept) {
		t.Errorf("after failed update and delete: %+v, %v; want %+v", got, ok, kept)
	}
	if id, err := s.NextProducerID(); err == nil {
		t.Fatalf("producer id %d handed out without reserving its block on disk", id)
	}

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	id, err := s.NextProducerID()
	if err != nil {
		t.Fatal(err)
	}
	if r := openStore(t, dir); !reflect.DeepEqual(r.Topics(), []Topic{kept}) {
		t.Errorf("file holds %+v, want only %+v", r.Topics(), kept)
	} else if next, err := r.NextProducerID(); err != nil || next <= id {
		t.Errorf("after reopen producer id %d (%v), must be above %d", next, err, id)
	}
}
