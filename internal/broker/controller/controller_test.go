package controller

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestValidateTopicName follows Kafka's rules (org.apache.kafka.common.internals.Topic):
// not empty, not "." or "..", at most 249 characters, only [a-zA-Z0-9._-].
func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		name    string
		topic   string
		ok      bool
		message string // part of the refusal's message
	}{
		{"simple", "orders", true, ""},
		{"all allowed characters", "Orders_v2.events-EU.0-9", true, ""},
		{"one character", "a", true, ""},
		{"digits only", "0123", true, ""},
		{"leading dot", ".hidden", true, ""},
		{"three dots", "...", true, ""},
		{"dot and dash only", ".-", true, ""},
		{"underscores", "__consumer_offsets", true, ""},
		{"249 characters", strings.Repeat("x", 249), true, ""},

		{"empty", "", false, "empty"},
		{"dot", ".", false, `"."`},
		{"dot dot", "..", false, `".."`},
		{"250 characters", strings.Repeat("x", 250), false, "249"},
		{"far too long", strings.Repeat("y", 1000), false, "249"},
		{"space", "my topic", false, `' '`},
		{"slash", "a/b", false, `'/'`},
		{"backslash", `a\b`, false, `'\\'`},
		{"colon", "a:b", false, `':'`},
		{"comma", "a,b", false, `','`},
		{"plus", "a+b", false, `'+'`},
		{"star", "*", false, `'*'`},
		{"tab", "a\tb", false, `'\t'`},
		{"newline", "a\n", false, `'\n'`},
		{"NUL", "a\x00b", false, `'\x00'`},
		{"non-ASCII letter", "tôpic", false, `'ô'`},
		{"full-width digit", "t１", false, `'１'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTopicName(tt.topic)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateTopicName(%q) = %v, want nil", tt.topic, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateTopicName(%q) accepted it", tt.topic)
			}
			if c := Code(err); c != kerr.InvalidTopicException {
				t.Fatalf("code %v, want INVALID_TOPIC_EXCEPTION", c)
			}
			m := Message(err)
			if m == nil || !strings.Contains(*m, tt.message) {
				t.Fatalf("message %v, want one containing %s", m, tt.message)
			}
		})
	}
}

func TestCodeAndMessage(t *testing.T) {
	ce := &Error{Code: kerr.InvalidConfig, Message: "config x: bad"}
	wrapped := fmt.Errorf("alter configs: %w", ce)
	tests := []struct {
		name string
		err  error
		code *kerr.Error
		msg  string // "" = no message of its own
	}{
		{"controller error", ce, kerr.InvalidConfig, "config x: bad"},
		{"wrapped controller error", wrapped, kerr.InvalidConfig, "config x: bad"},
		{"kerr error", kerr.UnknownTopicOrPartition, kerr.UnknownTopicOrPartition, ""},
		{"wrapped kerr error", fmt.Errorf("fetch: %w", kerr.OffsetOutOfRange), kerr.OffsetOutOfRange, ""},
		{"other error", errors.New("disk on fire"), kerr.UnknownServerError, ""},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.code {
			t.Errorf("%s: Code = %v, want %v", tt.name, got, tt.code)
		}
		m := Message(tt.err)
		switch {
		case tt.msg == "" && m != nil:
			t.Errorf("%s: Message = %q, want nil", tt.name, *m)
		case tt.msg != "" && (m == nil || *m != tt.msg):
			t.Errorf("%s: Message = %v, want %q", tt.name, m, tt.msg)
		}
	}
	if !strings.Contains(ce.Error(), "config x: bad") || !strings.Contains(ce.Error(), kerr.InvalidConfig.Message) {
		t.Errorf("Error() = %q should carry the code's name and the message", ce.Error())
	}
}
