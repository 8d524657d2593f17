package kafka

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// headerVersions is the one format of an API file's header comment: its
// first line names the API (as kmsg does) and the served range, e.g.
//
//	// Produce, versions 0-11.
var headerVersions = regexp.MustCompile(`^(\w+), versions (\d+)-(\d+)\.$`)

// apiFile is what one NN_name.go file says about its API.
type apiFile struct {
	path          string
	key           int16 // from the file name
	name          string
	min, max      int16 // from the header comment
	declaredKeyOK bool  // the file's served{key: ...} literal names its own key
}

// apiFiles parses every NN_name.go file of the package.
func apiFiles(t *testing.T) []apiFile {
	t.Helper()
	paths, err := filepath.Glob("[0-9][0-9]_*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []apiFile
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		key, err := strconv.ParseInt(path[:2], 10, 16)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		af := apiFile{path: path, key: int16(key)}

		// The header is the first comment after the package clause.
		var header *ast.CommentGroup
		for _, cg := range f.Comments {
			if cg.Pos() > f.Package {
				header = cg
				break
			}
		}
		if header == nil {
			t.Errorf("%s: no header comment after the package clause", path)
			continue
		}
		first, _, _ := strings.Cut(header.Text(), "\n")
		m := headerVersions.FindStringSubmatch(first)
		if m == nil {
			t.Errorf("%s: header's first line %q is not %q", path, first, "<Name>, versions <min>-<max>.")
			continue
		}
		af.name = m[1]
		lo, _ := strconv.ParseInt(m[2], 10, 16)
		hi, _ := strconv.ParseInt(m[3], 10, 16)
		af.min, af.max = int16(lo), int16(hi)

		// The declaration: a served{key: N, ...} literal naming this file's key.
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "served" {
				return true
			}
			for _, elt := range lit.Elts {
				kv, ok := elt.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "key" {
					if v, ok := kv.Value.(*ast.BasicLit); ok && v.Value == strconv.Itoa(int(af.key)) {
						af.declaredKeyOK = true
					}
				}
			}
			return true
		})
		out = append(out, af)
	}
	return out
}

// TestHeaderCommentsMatchDeclaredVersions keeps each API file's header
// comment in step with the range its declaration serves, and makes sure
// every served key has its file and every file its declaration.
func TestHeaderCommentsMatchDeclaredVersions(t *testing.T) {
	declared := (&Backend{}).APIs()
	files := apiFiles(t)
	seen := map[int16]string{}
	for _, f := range files {
		if prev, ok := seen[f.key]; ok {
			t.Errorf("key %d has two files: %s and %s", f.key, prev, f.path)
		}
		seen[f.key] = f.path
		if want := kmsg.NameForKey(f.key); f.name != want {
			t.Errorf("%s: header names %q, key %d is %q", f.path, f.name, f.key, want)
		}
		var lo, hi int16
		if f.key == apiVersionsKey {
			lo, hi = apiVersionsMinVersion, apiVersionsMaxVersion
		} else {
			api, ok := declared[f.key]
			if !ok {
				t.Errorf("%s: key %d is not in Backend.APIs", f.path, f.key)
				continue
			}
			if !f.declaredKeyOK {
				t.Errorf("%s: no served{key: %d, ...} declaration in the file", f.path, f.key)
			}
			lo, hi = api.Min, api.Max
		}
		if f.min != lo || f.max != hi {
			t.Errorf("%s: header says versions %d-%d, the declaration serves %d-%d", f.path, f.min, f.max, lo, hi)
		}
	}
	if _, ok := seen[apiVersionsKey]; !ok {
		t.Errorf("no file for ApiVersions (key %d)", apiVersionsKey)
	}
	for key := range declared {
		if _, ok := seen[key]; !ok {
			t.Errorf("key %d (%s) is served but has no NN_name.go file", key, kmsg.NameForKey(key))
		}
	}
}

// TestDeclaredVersionsAreDecodable: no declaration claims a version the
// codec (kmsg) cannot decode, or an empty range.
func TestDeclaredVersionsAreDecodable(t *testing.T) {
	for key, api := range (&Backend{}).APIs() {
		req := kmsg.RequestForKey(key)
		if req == nil {
			t.Errorf("key %d is unknown to kmsg", key)
			continue
		}
		if api.Min < 0 || api.Min > api.Max || api.Max > req.MaxVersion() {
			t.Errorf("%s: declared versions %d-%d, kmsg decodes 0-%d", kmsg.NameForKey(key), api.Min, api.Max, req.MaxVersion())
		}
		if api.Handle == nil {
			t.Errorf("%s: no handler", kmsg.NameForKey(key))
		}
	}
}

// declaredServer is a server over the broker's real API table, and the
// records it logged at warning level or above (a dropped or altered entry
// would be one).
func declaredServer(t *testing.T) (*Server, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	h := &recordingHandler{rec: rec, next: slog.NewTextHandler(io.Discard, nil)}
	return NewServer(ServerConfig{Logger: slog.New(h)}, (&Backend{}).APIs()), rec
}

// declaredKeys is what ApiVersions must advertise: every declaration plus
// ApiVersions itself, by key.
func declaredKeys() []kmsg.ApiVersionsResponseApiKey {
	var want []kmsg.ApiVersionsResponseApiKey
	for key, api := range (&Backend{}).APIs() {
		want = append(want, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MinVersion: api.Min, MaxVersion: api.Max})
	}
	want = append(want, kmsg.ApiVersionsResponseApiKey{ApiKey: apiVersionsKey, MinVersion: apiVersionsMinVersion, MaxVersion: apiVersionsMaxVersion})
	slices.SortFunc(want, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
	return want
}

func sameRange(a, b kmsg.ApiVersionsResponseApiKey) bool {
	return a.ApiKey == b.ApiKey && a.MinVersion == b.MinVersion && a.MaxVersion == b.MaxVersion
}

func rangesText(keys []kmsg.ApiVersionsResponseApiKey) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%d:%d-%d ", k.ApiKey, k.MinVersion, k.MaxVersion)
	}
	return b.String()
}

// TestApiVersionsAdvertisesDeclaredRanges: ApiVersions advertises exactly
// the declared ranges, at every version it serves and in the downgrade
// answer to a version it does not.
func TestApiVersionsAdvertisesDeclaredRanges(t *testing.T) {
	s, rec := declaredServer(t)
	want := declaredKeys()
	for v := apiVersionsMinVersion; v <= apiVersionsMaxVersion+1; v++ {
		var req *kmsg.ApiVersionsRequest
		if v <= apiVersionsMaxVersion {
			req = kmsg.NewPtrApiVersionsRequest()
			req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		}
		resp := s.apiVersionsResponse(v, req).(*kmsg.ApiVersionsResponse)
		if got := resp.ApiKeys; !slices.EqualFunc(got, want, sameRange) {
			t.Errorf("ApiVersions v%d advertises\n  %s\nwant\n  %s", v, rangesText(got), rangesText(want))
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.recs {
		if r.Level >= slog.LevelWarn {
			t.Errorf("NewServer over the declared table logged %q", r.Message)
		}
	}
}

// TestDispatcherServesExactlyDeclaredRanges: the request decoder accepts
// every declared version and refuses the ones just outside.
func TestDispatcherServesExactlyDeclaredRanges(t *testing.T) {
	s, _ := declaredServer(t)
	for _, k := range declaredKeys() {
		if k.ApiKey == apiVersionsKey {
			continue // answered whatever its version; see the ApiVersions tests
		}
		name := kmsg.NameForKey(k.ApiKey)
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			req := kmsg.RequestForKey(k.ApiKey)
			req.SetVersion(v)
			if _, err := s.decode(frameFor(req, 1)[4:]); err != nil {
				t.Errorf("%s v%d (declared %d-%d): %v", name, v, k.MinVersion, k.MaxVersion, err)
			}
		}
		for _, v := range []int16{k.MinVersion - 1, k.MaxVersion + 1} {
			if v < 0 {
				continue
			}
			if _, err := s.decode(rawFrame(k.ApiKey, v, 1, nil)[4:]); !errors.Is(err, errVersion) {
				t.Errorf("%s v%d (declared %d-%d): got %v, want %v", name, v, k.MinVersion, k.MaxVersion, err, errVersion)
			}
		}
	}
}
