# Shared by the .ci end-to-end scripts: free ports, starting chronik and
# waiting for it, and the Java client's classpath.

# free_port prints a free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ready URL [curl args...] polls the admin API's /readyz for up to 20 s.
wait_ready() {
	local url=$1; shift
	for _ in $(seq 1 200); do
		curl -fsS "$@" "$url/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	curl -fsS "$@" "$url/readyz"
}

# java_classpath prints the classpath of Apache Kafka's Java client
# (.ci/java/pom.xml), resolving it through Maven on first use.
java_classpath() {
	local out log
	out=$(mktemp)
	log=$(mktemp)
	if ! mvn -q -B -f "$(dirname "${BASH_SOURCE[0]}")/java/pom.xml" dependency:build-classpath \
		-Dmdep.outputFile="$out" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$out" "$log"
		return 1
	fi
	cat "$out"
	rm -f "$out" "$log"
}
