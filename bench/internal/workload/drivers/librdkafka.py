"""Chronik bench workload driver: an idempotent acks=all librdkafka producer
(confluent-kafka) at a fixed rate. The line protocol on stdout is described
in bench/internal/workload's package comment; closing stdin stops it."""
import argparse
import functools
import os
import sys
import threading
import time


def out(line):
    sys.stdout.write(line + "\n")


def fatal(msg):
    out("F " + msg.replace("\n", " "))
    sys.stdout.flush()
    sys.exit(3)


try:
    import confluent_kafka
except ImportError as e:
    fatal("python module confluent_kafka not found (%s): pip install confluent-kafka" % e)


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

    # Defaults, plus only what correctness needs: idempotence implies
    # acks=all and unlimited retries; the delivery timeout is the caller's.
    conf = {
        "bootstrap.servers": a.brokers,
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": a.delivery_timeout_ms,
    }
    if a.tuned:
        # Fixed 100 ms between retries (default: 100 ms growing to 1 s) and
        # a 100 ms fast metadata refresh while a leader is missing (the
        # default, stated so a future default cannot change the run).
        conf.update({
            "retry.backoff.ms": 100,
            "retry.backoff.max.ms": 100,
            "topic.metadata.refresh.fast.interval.ms": 100,
        })
    try:
        p = confluent_kafka.Producer(conf)
    except Exception as e:  # a bad setting or an unsupported librdkafka
        fatal("create producer: %s" % e)

    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()  # returns at EOF: the owner wants us to stop
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    value = os.urandom(a.record_size)
    state = {"inflight": 0}

    def delivered(seq, sent_ns, err, msg):
        state["inflight"] -= 1
        if err is not None:
            out("E %d %d %s" % (seq, sent_ns, str(err).replace("\n", " ")))
        else:
            out("A %d %d %d %d" % (seq, msg.partition(), msg.offset(), sent_ns))

    out("R")
    sys.stdout.flush()
    sent = 0
    start = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - start) * a.rate)
        while sent < due and state["inflight"] < a.max_in_flight:
            seq = sent
            sent_ns = time.time_ns()
            try:
                p.produce(a.topic, value=value, key=str(seq).encode(),
                          on_delivery=functools.partial(delivered, seq, sent_ns))
                state["inflight"] += 1
            except Exception as e:  # BufferError, a fatal idempotence error
                out("E %d %d produce: %s" % (seq, sent_ns, str(e).replace("\n", " ")))
            sent += 1
        # Delivery reports are served here, in this thread; flushing after
        # each poll hands them on as soon as an application would see them.
        p.poll(0.005)
        sys.stdout.flush()
    while state["inflight"] > 0:
        p.poll(0.05)
        sys.stdout.flush()
    out("D %d" % sent)
    sys.stdout.flush()


main()
