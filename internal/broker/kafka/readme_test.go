package kafka

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// readmeRange is one "min–max" cell of the README's Kafka APIs table.
var readmeRange = regexp.MustCompile(`^(\d+)–(\d+)$`)

// TestReadmeTableMatchesDeclaredVersions keeps the README's "Kafka APIs"
// table in step with the declarations: every served API is listed once,
// with exactly the declared range. A row names one API or several
// ("A / B" with "0–1 / 0–2", or "A, B" sharing one range).
func TestReadmeTableMatchesDeclaredVersions(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "## Kafka APIs")
	if start < 0 {
		t.Fatal(`README has no "## Kafka APIs" section`)
	}
	section := text[start+len("## Kafka APIs"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	listed := map[string]string{} // lower-case API name -> "min-max"
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.HasPrefix(strings.TrimSpace(cells[1]), "API") || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		namesCell, rangesCell := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		names := strings.FieldsFunc(namesCell, func(r rune) bool { return r == '/' || r == ',' })
		ranges := strings.Split(rangesCell, " / ")
		if len(ranges) != 1 && len(ranges) != len(names) {
			t.Errorf("README row %q: %d names, %d ranges", namesCell, len(names), len(ranges))
			continue
		}
		for i, name := range names {
			r := ranges[0]
			if len(ranges) > 1 {
				r = ranges[i]
			}
			m := readmeRange.FindStringSubmatch(strings.TrimSpace(r))
			if m == nil {
				t.Errorf("README row %q: range %q is not min–max", namesCell, r)
				continue
			}
			name = strings.ToLower(strings.TrimSpace(name))
			if _, dup := listed[name]; dup {
				t.Errorf("README lists %s twice", name)
			}
			listed[name] = m[1] + "-" + m[2]
		}
	}
	for _, k := range declaredKeys() {
		name := strings.ToLower(kmsg.NameForKey(k.ApiKey))
		want := fmt.Sprintf("%d-%d", k.MinVersion, k.MaxVersion)
		got, ok := listed[name]
		switch {
		case !ok:
			t.Errorf("README does not list %s (key %d, versions %s)", kmsg.NameForKey(k.ApiKey), k.ApiKey, want)
		case got != want:
			t.Errorf("README says %s versions %s; declared %s", kmsg.NameForKey(k.ApiKey), got, want)
		}
		delete(listed, name)
	}
	for name := range listed {
		t.Errorf("README lists %s, which is not served", name)
	}
}
