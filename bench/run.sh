#!/usr/bin/env bash
# Builds chronik and the load generator, starts a fresh single node with the
# default flush policy (fsync before acknowledging), and runs the load
# generator against it. Extra arguments go to every loadgen run.
# Usage: bench/run.sh [--duration 10s] [--record-size 1024] ...
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/chronik" ./cmd/chronik
go build -o "$work/loadgen" ./bench/loadgen
port=${PORT:-29092}
"$work/chronik" serve --data-dir "$work/data" --kafka-addr "127.0.0.1:$port" \
	--advertise-kafka-addr "127.0.0.1:$port" --admin-addr "127.0.0.1:0" --log-level warn &
pid=$!
for _ in $(seq 1 100); do
	(echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
for partitions in 1 4; do
	for acks in all 1; do
		"$work/loadgen" --brokers "127.0.0.1:$port" --topic "bench-p$partitions-a$acks" \
			--partitions "$partitions" --acks "$acks" --records 0 "${@:---duration=10s}" --json
	done
done
