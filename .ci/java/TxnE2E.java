// Transactions with Apache Kafka's Java client: a consume-transform-produce
// transaction that commits the consumer group's offsets
// (sendOffsetsToTransaction with the consumer's group metadata), then a
// transaction aborted on purpose; a read_committed KafkaConsumer must read
// the committed records once, in order, and none of the aborted ones, a
// read_uncommitted one reads both, and the group's committed offset is the
// whole input. Run by .ci/java-e2e.sh:
//
//   java -cp <kafka-clients classpath> TxnE2E.java client.properties prefix
import java.io.FileInputStream;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class TxnE2E {
    static final int COUNT = 50;

    public static void main(String[] args) throws Exception {
        Properties base = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            base.load(in);
        }
        String src = args[1] + "-in", dst = args[1] + "-out", group = args[1] + "-group";
        try (Admin admin = Admin.create(base)) {
            admin.createTopics(List.of(new NewTopic(src, 1, (short) -1), new NewTopic(dst, 1, (short) -1))).all().get();
        }

        Properties plain = new Properties();
        plain.putAll(base);
        plain.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        plain.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (Producer<String, String> p = new KafkaProducer<>(plain)) {
            for (int i = 0; i < COUNT; i++) p.send(new ProducerRecord<>(src, "in-" + i));
            p.flush();
            p.send(new ProducerRecord<>(src, 0, null, "in-" + COUNT)).get();
        }
        int inputs = COUNT + 1;

        Properties cp = consumerProps(base, group, "read_committed");
        Properties tp = new Properties();
        tp.putAll(plain);
        tp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, args[1] + "-txn");
        List<String> want = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp);
             Producer<String, String> p = new KafkaProducer<>(tp)) {
            c.subscribe(List.of(src));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            long deadline = System.currentTimeMillis() + 60_000;
            while (got.size() < inputs && System.currentTimeMillis() < deadline) {
                c.poll(Duration.ofMillis(500)).forEach(got::add);
            }
            if (got.size() != inputs) fail("consumed " + got.size() + " of " + inputs + " input records");

            p.initTransactions();
            p.beginTransaction();
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (ConsumerRecord<String, String> r : got) {
                p.send(new ProducerRecord<>(dst, 0, null, "committed-" + r.value()));
                want.add("committed-" + r.value());
                offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
            }
            p.sendOffsetsToTransaction(offsets, c.groupMetadata());
            p.commitTransaction();
            System.out.println("java transactional producer: " + inputs + " records and the group's offsets committed");

            p.beginTransaction();
            for (int i = 0; i < COUNT; i++) p.send(new ProducerRecord<>(dst, 0, null, "aborted-" + i));
            p.flush();
            p.abortTransaction();
            System.out.println("java transactional producer: a transaction of " + COUNT + " records aborted");

            p.beginTransaction();
            p.send(new ProducerRecord<>(dst, 0, null, "end"));
            p.commitTransaction();
        }

        List<String> committed = readUntilEnd(base, dst, "read_committed");
        if (!committed.equals(want)) fail("read_committed read " + committed.size() + " records " + head(committed) + ", want the " + want.size() + " committed ones in order");
        System.out.println("read_committed consumer: the committed records once, in order, none aborted");
        List<String> all = readUntilEnd(base, dst, "read_uncommitted");
        List<String> wantAll = new ArrayList<>(want);
        for (int i = 0; i < COUNT; i++) wantAll.add("aborted-" + i);
        if (!all.equals(wantAll)) fail("read_uncommitted read " + all.size() + " records, want " + wantAll.size());
        System.out.println("read_uncommitted consumer: the aborted records too");

        try (Admin admin = Admin.create(base)) {
            OffsetAndMetadata om = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                .get(new TopicPartition(src, 0));
            long total = om == null ? -1 : om.offset();
            if (total != inputs) fail("group " + group + " committed offset " + total + ", want " + inputs);
        }
        System.out.println("group " + group + ": offsets committed by the transaction");
    }

    static Properties consumerProps(Properties base, String group, String isolation) {
        Properties cp = new Properties();
        cp.putAll(base);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return cp;
    }

    // readUntilEnd reads partition 0 of topic from its start until the "end"
    // record the last committed transaction wrote, returning what came before.
    static List<String> readUntilEnd(Properties base, String topic, String isolation) {
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(base, "unused-" + isolation, isolation))) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            long deadline = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    if (r.value().equals("end")) return out;
                    out.add(r.value());
                }
            }
        }
        fail(isolation + ": no end record in 60 s, read " + out.size());
        return out;
    }

    static String head(List<String> l) { return l.subList(0, Math.min(3, l.size())).toString(); }

    static void fail(String msg) {
        System.err.println("FAIL: " + msg);
        System.exit(1);
    }
}
