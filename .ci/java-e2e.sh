#!/usr/bin/env bash
# Apache Kafka's Java client (the reference client) against a plaintext
# single node: admin create topic, idempotent acks=all producer, consumer
# group with committed offsets (.ci/java/ClientE2E.java); then a compacted
# topic read from offset 0 across the gaps the cleaner left
# (.ci/java/CompactedE2E.java; the cleaner looks for work every 200 ms);
# transactions: commit with the group's offsets, abort, read_committed
# (.ci/java/TxnE2E.java).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
work=$(mktemp -d)
go build -o "$work/chronik" ./cmd/chronik
cp=$(java_classpath)
port=$(free_port)
admin=$(free_port)
"$work/chronik" serve --data-dir "$work/data" --kafka-addr "127.0.0.1:$port" \
	--advertise-kafka-addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" \
	--log-cleaner-backoff 200ms >"$work/chronik.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_ready "http://127.0.0.1:$admin"
echo "bootstrap.servers=127.0.0.1:$port" >"$work/client.properties"
if ! java -cp "$cp" .ci/java/ClientE2E.java "$work/client.properties" java-e2e 5000; then
	tail -50 "$work/chronik.log"
	exit 1
fi
if ! java -cp "$cp" .ci/java/CompactedE2E.java "$work/client.properties" java-compacted; then
	tail -50 "$work/chronik.log"
	exit 1
fi
if ! java -cp "$cp" .ci/java/TxnE2E.java "$work/client.properties" java-txn; then
	tail -50 "$work/chronik.log"
	exit 1
fi
kill -TERM "$pid"
wait "$pid"
echo "java e2e: passed"
