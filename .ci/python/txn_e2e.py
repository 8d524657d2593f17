"""librdkafka's transactions (confluent-kafka) end to end against chronik:
a consume-transform-produce transaction that commits the group's offsets
(init_transactions, begin, produce, send_offsets_to_transaction, commit),
then a transaction aborted on purpose; a read_committed consumer must see
the committed records once and none of the aborted ones, read_uncommitted
sees both, and the group's committed offset is the whole input.

    python3 txn_e2e.py BOOTSTRAP PREFIX

Exits non-zero on any difference.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

COUNT = 20


def consume_until_end(bootstrap, topic, isolation):
    """Reads topic partition 0 from its start until the "end" record a
    committed transaction wrote last, returning the values before it."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-txn-read-" + isolation,
                  "isolation.level": isolation, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            if m.value() == b"end":
                return got
            got.append(m.value())
        sys.exit("%s: no end record in 60 s, read %d records" % (isolation, len(got)))
    finally:
        c.close()


def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    src, dst, group = prefix + "-in", prefix + "-out", prefix + "-group"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(src, 1, 1), NewTopic(dst, 1, 1)]).values():
        f.result(30)

    plain = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(COUNT):
        plain.produce(src, value=b"in-%d" % i)
    if plain.flush(30) != 0:
        sys.exit("input not acknowledged")

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([src])
    inputs = []
    deadline = time.time() + 60
    while len(inputs) < COUNT and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        inputs.append(m.value())
    if len(inputs) != COUNT:
        sys.exit("consumed %d of %d input records" % (len(inputs), COUNT))

    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": prefix + "-txn",
                         "transaction.timeout.ms": 30000})
    producer.init_transactions(30)
    producer.begin_transaction()
    for v in inputs:
        producer.produce(dst, value=b"committed-" + v, partition=0)
    producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                         consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    print("confluent-kafka: %d records and the group's offsets committed in a transaction" % COUNT)

    producer.begin_transaction()
    for i in range(COUNT):
        producer.produce(dst, value=b"aborted-%d" % i, partition=0)
    producer.flush(30)
    producer.abort_transaction(30)
    print("confluent-kafka: a transaction of %d records aborted" % COUNT)

    producer.begin_transaction()
    producer.produce(dst, value=b"end", partition=0)
    producer.commit_transaction(30)
    consumer.close()

    want = [b"committed-" + v for v in inputs]
    got = consume_until_end(bootstrap, dst, "read_committed")
    if got != want:
        sys.exit("read_committed: got %d records %r..., want the %d committed ones in order" % (len(got), got[:3], COUNT))
    print("read_committed consumer: the %d committed records once, in order, none aborted" % COUNT)
    got = consume_until_end(bootstrap, dst, "read_uncommitted")
    aborted = [b"aborted-%d" % i for i in range(COUNT)]
    if got != want + aborted:
        sys.exit("read_uncommitted: got %d records, want %d committed then %d aborted" % (len(got), COUNT, COUNT))
    print("read_uncommitted consumer: the aborted records too")

    check = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    committed = check.committed([TopicPartition(src, 0)], 30)
    check.close()
    if committed[0].offset != COUNT:
        sys.exit("group %s committed offset %d, want %d" % (group, committed[0].offset, COUNT))
    print("group %s: offset %d committed by the transaction" % (group, COUNT))


if __name__ == "__main__":
    main()
