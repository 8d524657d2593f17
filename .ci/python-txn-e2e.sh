#!/usr/bin/env bash
# librdkafka's transactional producer and read_committed consumer
# (confluent-kafka, .ci/python/txn_e2e.py) against a plaintext single node.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
work=$(mktemp -d)
go build -o "$work/chronik" ./cmd/chronik
port=$(free_port)
admin=$(free_port)
"$work/chronik" serve --data-dir "$work/data" --kafka-addr "127.0.0.1:$port" \
	--advertise-kafka-addr "127.0.0.1:$port" --admin-addr "127.0.0.1:$admin" >"$work/chronik.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_ready "http://127.0.0.1:$admin"
if ! python3 .ci/python/txn_e2e.py "127.0.0.1:$port" py-txn; then
	tail -50 "$work/chronik.log"
	exit 1
fi
kill -TERM "$pid"
wait "$pid"
echo "python (librdkafka) transactions e2e: passed"
