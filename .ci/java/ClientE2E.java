// End-to-end check with Apache Kafka's Java client (the reference client):
// admin create topic, idempotent acks=all producer, consumer group with
// committed offsets, and (when asked) a denied produce. Run by
// .ci/java-e2e.sh with the JDK's single-file launcher:
//
//   java -cp <kafka-clients classpath> ClientE2E.java client.properties topic count [denied-topic]
//
// client.properties holds bootstrap.servers and the security settings
// (security.protocol, sasl.*, ssl.*) exactly as for Kafka's own tools.
import java.io.FileInputStream;
import java.time.Duration;
import java.util.*;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.errors.*;
import org.apache.kafka.common.serialization.*;

public class ClientE2E {
    public static void main(String[] args) throws Exception {
        Properties base = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            base.load(in);
        }
        String topic = args[1];
        int count = Integer.parseInt(args[2]);
        String denied = args.length > 3 ? args[3] : null;

        try (Admin admin = Admin.create(base)) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, 3, (short) -1))).all().get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) throw e;
            }
            String cluster = admin.describeCluster().clusterId().get();
            System.out.println("java admin: cluster " + cluster + ", topic " + topic + " ready");
        }

        Properties pp = new Properties();
        pp.putAll(base);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (Producer<String, String> p = new KafkaProducer<>(pp)) {
            for (int i = 0; i < count; i++) {
                p.send(new ProducerRecord<>(topic, "k" + (i % 10), "v" + i));
            }
            p.flush();
            // send() failures surface on the futures; one more synchronous send
            // proves the producer is healthy after the batch.
            p.send(new ProducerRecord<>(topic, "k0", "v" + count)).get();
        }
        System.out.println("java producer: " + (count + 1) + " records acknowledged (acks=all, idempotent)");

        Properties cp = new Properties();
        cp.putAll(base);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "java-e2e-" + topic);
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        Set<String> seen = new HashSet<>();
        Map<String, Integer> lastPerKey = new HashMap<>();
        long deadline = System.currentTimeMillis() + 60_000;
        try (Consumer<String, String> c = new KafkaConsumer<>(cp)) {
            c.subscribe(List.of(topic));
            while (seen.size() < count + 1 && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    int v = Integer.parseInt(r.value().substring(1));
                    Integer prev = lastPerKey.put(r.key(), v);
                    if (prev != null && prev >= v) {
                        throw new IllegalStateException("key " + r.key() + ": " + v + " after " + prev);
                    }
                    seen.add(r.value());
                }
            }
            c.commitSync();
        }
        if (seen.size() != count + 1) {
            throw new IllegalStateException("consumed " + seen.size() + " distinct records, want " + (count + 1));
        }
        System.out.println("java consumer group: " + seen.size() + " records, in order per key, offsets committed");

        if (denied != null) {
            pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "10000");
            try (Producer<String, String> p = new KafkaProducer<>(pp)) {
                p.send(new ProducerRecord<>(denied, "x", "x")).get();
                throw new IllegalStateException("produce to " + denied + " was allowed");
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicAuthorizationException)) throw e;
                System.out.println("java producer: " + denied + " denied: " + e.getCause().getMessage());
            }
        }
    }
}
