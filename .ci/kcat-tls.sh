#!/usr/bin/env bash
# kcat (librdkafka) and kafka-python over an SSL listener with a client
# certificate: certs from `chronik cert`, a node with PLAINTEXT and SSL
# listeners (client certificates required) and the admin API over HTTPS
# with a read token.
# Produces and consumes over SSL, checks that Metadata names the SSL port,
# that a client without a certificate is refused, and that SIGHUP serves a
# renewed certificate while the node keeps serving. Exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
work=$(mktemp -d)
bin="$work/chronik"
go build -o "$bin" ./cmd/chronik
certs="$work/certs"
"$bin" cert create-ca --certs-dir "$certs" >/dev/null
"$bin" cert create-node --certs-dir "$certs" --node-id 1 --host localhost,127.0.0.1 >/dev/null
"$bin" cert create-client --certs-dir "$certs" alice >/dev/null

plain=$(free_port)
ssl=$(free_port)
admin=$(free_port)
"$bin" serve --data-dir "$work/data" \
	--listeners "PLAINTEXT://127.0.0.1:$plain,SSL://127.0.0.1:$ssl" \
	--advertised-listeners "PLAINTEXT://127.0.0.1:$plain,SSL://localhost:$ssl" \
	--tls-cert-file "$certs/node.1.crt" --tls-key-file "$certs/node.1.key" --tls-ca-file "$certs/ca.crt" \
	--admin-addr "127.0.0.1:$admin" --admin-tls-cert-file "$certs/node.1.crt" --admin-tls-key-file "$certs/node.1.key" \
	--admin-read-token read-secret --log-level debug >"$work/chronik.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"; }
fail() { echo "kcat tls: $*"; tail -30 "$work/chronik.log"; exit 1; }
trap cleanup EXIT

curl_admin() { curl -fsS --cacert "$certs/ca.crt" -H "Authorization: Bearer read-secret" "$@"; }
wait_ready "https://localhost:$admin" --cacert "$certs/ca.crt"
if curl -fsS --cacert "$certs/ca.crt" "https://localhost:$admin/v1/node" >/dev/null 2>&1; then
	fail "the admin API answered a read without the read token"
fi

tls=(-X security.protocol=ssl -X ssl.ca.location="$certs/ca.crt"
	-X ssl.certificate.location="$certs/client.alice.crt" -X ssl.key.location="$certs/client.alice.key")
seq 1 1000 | sed 's/^/line-/' >"$work/in.txt"
kcat -b "localhost:$ssl" "${tls[@]}" -P -t secure -X acks=all <"$work/in.txt"
kcat -b "localhost:$ssl" "${tls[@]}" -C -t secure -o beginning -e -q >"$work/out.txt"
cmp -s "$work/in.txt" "$work/out.txt" || fail "consumed over SSL differs from what was produced"
kcat -b "localhost:$ssl" "${tls[@]}" -L -t secure >"$work/meta.txt"
grep -q "at localhost:$ssl" "$work/meta.txt" || { cat "$work/meta.txt"; fail "Metadata over SSL does not name the SSL listener"; }
kcat -b "127.0.0.1:$plain" -L -t secure | grep -q "at 127.0.0.1:$plain" || fail "Metadata over PLAINTEXT does not name the PLAINTEXT listener"
grep -q 'principal="User:CN=alice,O=Chronik"' "$work/chronik.log" || fail "no principal from the client certificate in the log"

# kafka-python (a client of its own, not librdkafka) over the same listener.
if python3 -c 'import kafka' 2>/dev/null; then
	python3 - "$ssl" "$certs" <<'PY' || fail "kafka-python over SSL failed"
import sys
from kafka import KafkaConsumer, KafkaProducer
port, certs = sys.argv[1], sys.argv[2]
tls = dict(security_protocol="SSL", ssl_cafile=certs + "/ca.crt",
           ssl_certfile=certs + "/client.alice.crt", ssl_keyfile=certs + "/client.alice.key")
p = KafkaProducer(bootstrap_servers="localhost:" + port, acks="all", **tls)
for i in range(100):
    p.send("py-secure", b"py-%d" % i)
p.flush(30)
p.close()
c = KafkaConsumer("py-secure", bootstrap_servers="localhost:" + port, auto_offset_reset="earliest",
                  consumer_timeout_ms=15000, **tls)
got = [m.value for m in c]
c.close()
assert got == [b"py-%d" % i for i in range(100)], got[:5]
print("kafka-python: 100 records over SSL with a client certificate")
PY
else
	echo "kcat tls: kafka-python not installed; its SSL check skipped"
fi

if timeout 20 kcat -b "localhost:$ssl" -X security.protocol=ssl -X ssl.ca.location="$certs/ca.crt" \
	-L -m 5 >/dev/null 2>&1; then
	fail "a client without a certificate was served"
fi

loaded=$(curl_admin "https://localhost:$admin/v1/node" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["tls"]["loaded_at"])')
"$bin" cert create-node --certs-dir "$certs" --node-id 1 --host localhost,127.0.0.1 --overwrite >/dev/null
kill -HUP "$pid"
for _ in $(seq 1 100); do
	now=$(curl_admin "https://localhost:$admin/v1/node" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["tls"]["loaded_at"])')
	[ "$now" != "$loaded" ] && break
	sleep 0.1
done
[ "$now" != "$loaded" ] || fail "SIGHUP did not reload the certificate"
seq 1 10 | sed 's/^/after-/' | kcat -b "localhost:$ssl" "${tls[@]}" -P -t secure -X acks=all
kcat -b "localhost:$ssl" "${tls[@]}" -C -t secure -o beginning -e -q | tail -1 | grep -qx after-10 || fail "no produce after the reload"

kill -TERM "$pid"
wait "$pid"
echo "kcat tls: 1000 lines over SSL with a client certificate, Metadata per listener,"
echo "kcat tls: no certificate refused, SIGHUP reloaded the certificate, admin HTTPS with a read token"
