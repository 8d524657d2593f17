package kafka

import (
	"testing"

	"github.com/chronik-dev/chronik/internal/broker/topicconfig"
)

// TestTopicConfigTypesNameTopicConfigs: the config types DescribeConfigs
// reports are keyed by names topicconfig knows, so a renamed config cannot
// silently fall back to the default type.
func TestTopicConfigTypesNameTopicConfigs(t *testing.T) {
	for name := range topicConfigTypes {
		if !topicconfig.IsKey(name) {
			t.Errorf("topicConfigTypes names %q, which is not a topic config (topicconfig.Names: %v)", name, topicconfig.Names())
		}
	}
}
