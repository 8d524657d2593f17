package broker_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// runTool runs a client we did not write with a deadline and returns its
// combined output and whether it exited 0.
func runTool(t *testing.T, stdin string, name string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in time: %s", name, out.String())
	}
	return out.String(), err == nil
}

// TestACLsWithKcat: librdkafka (kcat) authenticated with SCRAM-SHA-512
// produces and consumes a topic its ACLs allow and is refused one they do
// not.
func TestACLsWithKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed")
	}
	an := startACLNode(t, nil)
	root := an.admin(t, "admin")
	for _, topic := range []string{"kc-ok", "kc-denied"} {
		if err := aclCreateTopic(t, root, topic); err != nil {
			t.Fatal(err)
		}
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("kc-ok").Operations(kadm.OpWrite, kadm.OpRead))
	sasl := []string{"-b", an.saslAddr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
		"-X", "sasl.username=alice", "-X", "sasl.password=alice-pw"}

	if out, ok := runTool(t, "hello\n", "kcat", append(sasl, "-P", "-t", "kc-ok")...); !ok {
		t.Fatalf("kcat produces to kc-ok: %s", out)
	}
	out, ok := runTool(t, "", "kcat", append(sasl, "-C", "-t", "kc-ok", "-o", "beginning", "-c", "1", "-e")...)
	if !ok || !strings.Contains(out, "hello") {
		t.Fatalf("kcat consumes kc-ok: %s", out)
	}
	out, ok = runTool(t, "secret\n", "kcat", append(sasl, "-P", "-t", "kc-denied")...)
	if ok || !strings.Contains(strings.ToLower(out), "authorization failed") {
		t.Fatalf("kcat produces to kc-denied: exit ok %v, output %q; want a topic authorization failure", ok, out)
	}
}

// kafkaPythonScript consumes one record of kc-ok in the group given as
// argv[2] over SASL_PLAINTEXT with SCRAM-SHA-512 and prints "got <value>",
// or the exception's class name.
const kafkaPythonScript = `
import sys
from kafka import KafkaConsumer
try:
    c = KafkaConsumer("kc-ok", bootstrap_servers=sys.argv[1], group_id=sys.argv[2],
                      security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                      sasl_plain_username="alice", sasl_plain_password="alice-pw",
                      auto_offset_reset="earliest", consumer_timeout_ms=15000)
    for m in c:
        print("got", m.value.decode())
        break
    c.close()
except Exception as e:
    print("error", type(e).__name__, e)
`

// TestACLsWithKafkaPython: kafka-python consumes in a group its ACLs allow
// and is refused a group they do not (GroupAuthorizationFailedError).
func TestACLsWithKafkaPython(t *testing.T) {
	if out, ok := runTool(t, "", "python3", "-c", "import kafka"); !ok {
		t.Skipf("kafka-python is not installed: %s", out)
	}
	an := startACLNode(t, nil)
	root := an.admin(t, "admin")
	if err := aclCreateTopic(t, root, "kc-ok"); err != nil {
		t.Fatal(err)
	}
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Topics("kc-ok").Operations(kadm.OpWrite, kadm.OpRead))
	an.createACLs(t, kadm.NewACLs().Allow("User:alice").Groups("py-app").Operations(kadm.OpRead))
	if err := produceOne(t, an.client(t, "alice"), "kc-ok"); err != nil {
		t.Fatal(err)
	}
	if out, _ := runTool(t, "", "python3", "-c", kafkaPythonScript, an.saslAddr, "py-app"); !strings.Contains(out, "got v") {
		t.Fatalf("kafka-python consumes kc-ok in group py-app: %s", out)
	}
	if out, _ := runTool(t, "", "python3", "-c", kafkaPythonScript, an.saslAddr, "py-other"); !strings.Contains(out, "GroupAuthorizationFailed") {
		t.Fatalf("kafka-python consumes in group py-other (no ACL): %s; want GroupAuthorizationFailedError", out)
	}
}
