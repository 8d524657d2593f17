"""Chronik bench workload driver: an idempotent acks=all kafka-python
producer at a fixed rate. The line protocol on stdout is described in
bench/internal/workload's package comment; closing stdin stops it."""
import argparse
import logging
import os
import sys
import threading
import time

lock = threading.Lock()  # callbacks run on kafka-python's sender thread


def out(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def fatal(msg):
    out("F " + msg.replace("\n", " "))
    sys.exit(3)


try:
    import kafka
except ImportError as e:
    fatal("python module kafka not found (%s): pip install kafka-python" % e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--record-size", type=int, required=True)
    ap.add_argument("--delivery-timeout-ms", type=int, required=True)
    ap.add_argument("--max-in-flight", type=int, required=True)
    ap.add_argument("--tuned", action="store_true")
    a = ap.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # kafka-python 2.1+ already defaults to idempotence, acks=all and
    # unlimited retries; they are stated so an older default cannot weaken
    # the run. The delivery timeout is the caller's.
    conf = dict(
        bootstrap_servers=a.brokers.split(","),
        enable_idempotence=True,
        acks="all",
        retries=float("inf"),
        delivery_timeout_ms=a.delivery_timeout_ms,
    )
    if a.tuned:
        # 100 ms between retries and metadata refreshes (the default) and
        # reconnects at most 100 ms apart (default: growing to 30 s).
        conf.update(retry_backoff_ms=100, reconnect_backoff_ms=50, reconnect_backoff_max_ms=100)
    try:
        p = kafka.KafkaProducer(**conf)
    except Exception as e:  # no broker reachable, a bad setting
        fatal("create producer: %s" % e)

    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()  # returns at EOF: the owner wants us to stop
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    value = os.urandom(a.record_size)
    inflight = threading.Semaphore(a.max_in_flight)

    def ok(seq, sent_ns, md):
        out("A %d %d %d %d" % (seq, md.partition, md.offset, sent_ns))
        inflight.release()

    def failed(seq, sent_ns, exc):
        out("E %d %d %s" % (seq, sent_ns, repr(exc).replace("\n", " ")))
        inflight.release()

    out("R")
    sent = 0
    start = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - start) * a.rate)
        while sent < due and inflight.acquire(blocking=False):
            seq = sent
            sent_ns = time.time_ns()
            try:
                f = p.send(a.topic, value=value, key=str(seq).encode())
                f.add_callback(ok, seq, sent_ns)
                f.add_errback(failed, seq, sent_ns)
            except Exception as e:  # e.g. no metadata within max_block_ms
                failed(seq, sent_ns, e)
            sent += 1
        stop.wait(0.005)
    p.flush()
    out("D %d" % sent)
    p.close(timeout=5)


main()
