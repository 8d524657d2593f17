#!/usr/bin/env bash
# The secured three-node cluster of docs/security.md, driven by clients we
# did not write: certificates from `chronik cert`, mutual TLS between nodes,
# SASL_SSL (SCRAM) and SSL (client certificates) Kafka listeners, ACLs with
# an admin certificate as the super user. Then:
#   - kcat (librdkafka) over SASL_SSL with SCRAM-SHA-512: produce acks=all,
#     consume, a consumer group; a topic without ACLs denied;
#   - Apache Kafka's Java client over SASL_SSL with SCRAM-SHA-512: admin,
#     idempotent producer, consumer group, a denied produce;
#   - kafka-python over SASL_SSL with SCRAM-SHA-256;
#   - a wrong password refused; chronik doctor healthy over the secured API.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/lib.sh
work=$(mktemp -d)
bin="$work/chronik"
go build -o "$bin" ./cmd/chronik
cp=$(java_classpath)
python3 -c 'import kafka' 2>/dev/null || python3 -m pip install -q kafka-python
certs="$work/certs"
"$bin" cert create-ca --certs-dir "$certs" >/dev/null
for i in 1 2 3; do
	"$bin" cert create-node --certs-dir "$certs" --node-id "$i" --host localhost,127.0.0.1 >/dev/null
done
"$bin" cert create-client --certs-dir "$certs" admin >/dev/null

declare -a sasl ssl clus adm pids
for i in 1 2 3; do
	sasl[$i]=$(free_port); ssl[$i]=$(free_port); clus[$i]=$(free_port); adm[$i]=$(free_port)
done
peers="1=127.0.0.1:${clus[1]},2=127.0.0.1:${clus[2]},3=127.0.0.1:${clus[3]}"
token=admin-secret
for i in 1 2 3; do
	"$bin" serve --node-id "$i" --data-dir "$work/data$i" --peers "$peers" \
		--cluster-addr "127.0.0.1:${clus[$i]}" --advertise-cluster-addr "127.0.0.1:${clus[$i]}" \
		--cluster-tls-cert-file "$certs/node.$i.crt" --cluster-tls-key-file "$certs/node.$i.key" \
		--cluster-tls-ca-file "$certs/ca.crt" \
		--listeners "SASL_SSL://127.0.0.1:${sasl[$i]},SSL://127.0.0.1:${ssl[$i]}" \
		--advertised-listeners "SASL_SSL://localhost:${sasl[$i]},SSL://localhost:${ssl[$i]}" \
		--tls-cert-file "$certs/node.$i.crt" --tls-key-file "$certs/node.$i.key" --tls-ca-file "$certs/ca.crt" \
		--sasl-enabled-mechanisms SCRAM-SHA-256,SCRAM-SHA-512 \
		--authorizer acl --super-users "User:CN=admin,O=Chronik" \
		--admin-addr "127.0.0.1:${adm[$i]}" --admin-token "$token" --admin-read-token "read-$token" \
		>"$work/node$i.log" 2>&1 &
	pids[$i]=$!
done
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
fail() {
	echo "secure cluster: $*"
	for i in 1 2 3; do echo "--- node $i"; tail -20 "$work/node$i.log"; done
	exit 1
}
trap cleanup EXIT
for i in 1 2 3; do wait_ready "http://127.0.0.1:${adm[$i]}" || fail "node $i not ready"; done

# The admin: a client certificate on the SSL listener, a super user.
admin_tls=(--brokers "localhost:${ssl[1]},localhost:${ssl[2]}" --tls-ca-file "$certs/ca.crt"
	--tls-cert-file "$certs/client.admin.crt" --tls-key-file "$certs/client.admin.key")
printf 'alice-secret\n' | "$bin" user create alice --mechanism SCRAM-SHA-512 "${admin_tls[@]}" || fail "user create alice"
printf 'bob-secret\n' | "$bin" user create bob --mechanism SCRAM-SHA-256 "${admin_tls[@]}" || fail "user create bob"
"$bin" user list "${admin_tls[@]}"
for u in alice bob; do
	"$bin" acl create --allow-principal "User:$u" --operation ALL --topic orders --resource-pattern-type prefixed "${admin_tls[@]}" >/dev/null
	"$bin" acl create --allow-principal "User:$u" --operation READ --group '*' "${admin_tls[@]}" >/dev/null
done
"$bin" acl list "${admin_tls[@]}"

# kcat over SASL_SSL with SCRAM-SHA-512.
k=(-b "localhost:${sasl[1]}" -X security.protocol=sasl_ssl -X sasl.mechanisms=SCRAM-SHA-512
	-X sasl.username=alice -X sasl.password=alice-secret -X ssl.ca.location="$certs/ca.crt")
"$bin" topic create orders-kcat --partitions 3 --replication-factor 3 "${admin_tls[@]}" >/dev/null
seq 1 2000 | sed 's/^/line-/' >"$work/in.txt"
kcat "${k[@]}" -P -t orders-kcat -X acks=all <"$work/in.txt" || fail "kcat produce over SASL_SSL"
kcat "${k[@]}" -G kcat-group orders-kcat -c 2000 -q -X auto.offset.reset=earliest | sort >"$work/out.txt"
sort "$work/in.txt" | cmp -s - "$work/out.txt" || fail "kcat consumed over SASL_SSL differs from what it produced"
if echo x | timeout 30 kcat "${k[@]}" -P -t secret -X acks=all -X message.timeout.ms=5000 2>"$work/denied.txt"; then
	fail "kcat produced to a topic alice has no ACL for"
fi
grep -qi "authoriz" "$work/denied.txt" || { cat "$work/denied.txt"; fail "kcat's denial does not say authorization"; }
if timeout 20 kcat -b "localhost:${sasl[2]}" -X security.protocol=sasl_ssl -X sasl.mechanisms=SCRAM-SHA-512 \
	-X sasl.username=alice -X sasl.password=wrong -X ssl.ca.location="$certs/ca.crt" -L -m 5 >/dev/null 2>&1; then
	fail "a wrong password was accepted"
fi
echo "secure cluster: kcat SCRAM-SHA-512 over SASL_SSL: 2000 lines produced and consumed in a group; unauthorized topic and wrong password refused"

# Apache Kafka's Java client over SASL_SSL with SCRAM-SHA-512.
cat >"$work/java.properties" <<PROPS
bootstrap.servers=localhost:${sasl[2]}
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";
ssl.truststore.type=PEM
ssl.truststore.location=$certs/ca.crt
PROPS
java -cp "$cp" .ci/java/ClientE2E.java "$work/java.properties" orders-java 3000 secret || fail "Java client over SASL_SSL"

# kafka-python over SASL_SSL with SCRAM-SHA-256.
"$bin" topic create orders-py --partitions 1 --replication-factor 3 "${admin_tls[@]}" >/dev/null
python3 .ci/python/client_e2e.py "localhost:${sasl[3]}" orders-py 1000 security_protocol=SASL_SSL \
	sasl_mechanism=SCRAM-SHA-256 sasl_plain_username=bob sasl_plain_password=bob-secret \
	ssl_cafile="$certs/ca.crt" || fail "kafka-python over SASL_SSL"

# The tools against the secured cluster: every node's admin API with the token.
admin_urls="http://127.0.0.1:${adm[1]},http://127.0.0.1:${adm[2]},http://127.0.0.1:${adm[3]}"
CHRONIK_ADMIN_READ_TOKEN=read-$token "$bin" doctor --admin "$admin_urls" || fail "doctor not healthy"

for i in 1 2 3; do kill -TERM "${pids[$i]}"; done
for i in 1 2 3; do wait "${pids[$i]}" || fail "node $i did not stop cleanly"; done
pids=()
echo "secure cluster: passed"
