// End-to-end check of log compaction with Apache Kafka's Java client: create
// a compacted topic (cleanup.policy=compact, 1 MiB segments), overwrite 100
// keys 3,000 times and delete 5 of them (tombstones), wait until the broker's
// cleaner has removed superseded records, then read the partition from
// offset 0 across the gaps it left: offsets only increase, every record is
// the one acknowledged at its offset, and every key's last value is its
// latest (null for the deleted keys). Run by .ci/java-e2e.sh:
//
//   java -cp <kafka-clients classpath> CompactedE2E.java client.properties topic
import java.io.FileInputStream;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class CompactedE2E {
    static final int KEYS = 100, RECORDS = 3000, DELETED = 5;

    public static void main(String[] args) throws Exception {
        Properties base = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            base.load(in);
        }
        String topic = args[1];
        try (Admin admin = Admin.create(base)) {
            NewTopic nt = new NewTopic(topic, 1, (short) -1)
                .configs(Map.of("cleanup.policy", "compact", "segment.bytes", "1048576"));
            admin.createTopics(List.of(nt)).all().get();
        }

        // offset -> value (null: tombstone) and key, as acknowledged.
        Map<Long, String> valueAt = new HashMap<>();
        Map<Long, String> keyAt = new HashMap<>();
        Map<String, Long> latest = new HashMap<>();
        Properties pp = new Properties();
        pp.putAll(base);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        String pad = "x".repeat(1000);
        try (Producer<String, String> p = new KafkaProducer<>(pp)) {
            List<ProducerRecord<String, String>> recs = new ArrayList<>();
            for (int i = 0; i < RECORDS; i++) {
                recs.add(new ProducerRecord<>(topic, 0, "k" + (i % KEYS), "v" + i + ":" + pad));
            }
            for (int k = 0; k < DELETED; k++) {
                recs.add(new ProducerRecord<>(topic, 0, "k" + k, null));
            }
            List<Future<RecordMetadata>> acks = new ArrayList<>();
            for (ProducerRecord<String, String> r : recs) {
                acks.add(p.send(r));
            }
            for (int i = 0; i < recs.size(); i++) {
                long off = acks.get(i).get().offset();
                valueAt.put(off, recs.get(i).value());
                keyAt.put(off, recs.get(i).key());
                latest.put(recs.get(i).key(), off);
            }
        }
        long end = Collections.max(valueAt.keySet()) + 1;
        System.out.println("java compacted: " + valueAt.size() + " records acknowledged (" + KEYS + " keys, " + DELETED + " deleted)");

        Properties cp = new Properties();
        cp.putAll(base);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        TopicPartition tp = new TopicPartition(topic, 0);
        long deadline = System.currentTimeMillis() + 90_000;
        try (Consumer<String, String> c = new KafkaConsumer<>(cp)) {
            c.assign(List.of(tp));
            while (true) {
                c.seek(tp, 0);
                List<ConsumerRecord<String, String>> read = new ArrayList<>();
                while (read.isEmpty() || read.get(read.size() - 1).offset() < end - 1) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new IllegalStateException("read only to offset " + c.position(tp) + " of " + end);
                    }
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                        read.add(r);
                    }
                }
                long prev = -1;
                Set<Long> seen = new HashSet<>();
                for (ConsumerRecord<String, String> r : read) {
                    if (r.offset() <= prev) {
                        throw new IllegalStateException("offset " + r.offset() + " after " + prev);
                    }
                    prev = r.offset();
                    if (!Objects.equals(keyAt.get(r.offset()), r.key()) || !Objects.equals(valueAt.get(r.offset()), r.value())) {
                        throw new IllegalStateException("offset " + r.offset() + " holds key " + r.key() + ", not what was acknowledged there");
                    }
                    seen.add(r.offset());
                }
                for (Map.Entry<String, Long> e : latest.entrySet()) {
                    if (!seen.contains(e.getValue())) {
                        throw new IllegalStateException("key " + e.getKey() + ": latest record (offset " + e.getValue() + ") missing");
                    }
                }
                if (read.size() < valueAt.size()) {
                    System.out.println("java compacted: read " + read.size() + " of " + valueAt.size()
                        + " records from offset 0 across the cleaner's gaps; every key's latest value there, "
                        + DELETED + " tombstones kept, offsets as acknowledged");
                    return;
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("the cleaner removed nothing within 90 s (" + read.size() + " records)");
                }
                Thread.sleep(500);
            }
        }
    }
}
