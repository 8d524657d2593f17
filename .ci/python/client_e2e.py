"""kafka-python (a pure-Python client we did not write) end to end: produce
with acks=all, consume back in a group, optionally over SASL/TLS.

    python3 client_e2e.py BOOTSTRAP TOPIC COUNT [security key=value ...]

Security settings are kafka-python's KafkaProducer/KafkaConsumer options,
e.g. security_protocol=SASL_SSL sasl_mechanism=SCRAM-SHA-256
sasl_plain_username=bob sasl_plain_password=... ssl_cafile=ca.crt.
Exits non-zero when a record is missing, duplicated or reordered.
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    security = dict(kv.split("=", 1) for kv in sys.argv[4:])
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **security)
    futures = [producer.send(topic, key=b"k", value=b"py-%d" % i) for i in range(count)]
    producer.flush()
    for f in futures:
        f.get(timeout=30)
    producer.close()
    print("kafka-python producer: %d records acknowledged (acks=all)" % count)

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="py-e2e-" + topic,
                             auto_offset_reset="earliest", enable_auto_commit=False, **security)
    got = []
    deadline = time.time() + 60
    while len(got) < count and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            got.extend(r.value for r in records)
    consumer.commit()
    consumer.close()
    want = [b"py-%d" % i for i in range(count)]
    if got != want:
        sys.exit("kafka-python consumer: got %d records, want %d in order" % (len(got), count))
    print("kafka-python consumer group: %d records in order, offsets committed" % count)


if __name__ == "__main__":
    main()
