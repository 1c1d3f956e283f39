package io.ferrimq.compat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Produces the deterministic fixture ({@link FixturePlan}) into a running Apache RocketMQ broker with
 * the official {@link DefaultMQProducer}, reads everything back with the official consumer, and writes
 * the expected-messages manifest (one {@link ManifestRecord} JSON line per message, sorted by topic,
 * queue id, queue offset).
 *
 * <p>Exits with status 1 and a message on any failed send or incomplete read-back.
 */
public final class WriteFixture {
    private static final String USAGE = "WriteFixture --namesrv HOST:PORT --broker NAME --store-dir DIR"
        + " --commitlog-size BYTES --out MANIFEST.jsonl [--topics MAIN,SMALL,BATCH]";

    private WriteFixture() {
    }

    /** Entry point; see {@link #USAGE}. */
    public static void main(String[] args) {
        try {
            run(new Options(args, USAGE));
            System.exit(0);
        } catch (Exception e) {
            System.err.println("WriteFixture failed: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static void run(Options opts) throws Exception {
        List<String> topics = new ArrayList<>(List.of("CompatOrders", "CompatEvents", "CompatBatch"));
        if (!opts.optional("topics", "").isEmpty()) {
            topics = opts.list("topics");
        }
        if (topics.size() != 3) {
            throw new IllegalArgumentException("--topics needs exactly three names: MAIN,SMALL,BATCH");
        }
        FixturePlan plan = new FixturePlan(topics.get(0), topics.get(1), topics.get(2));
        String namesrv = opts.required("namesrv");
        String broker = opts.required("broker");
        DefaultMQProducer producer = new DefaultMQProducer("ferrimq_compat_producer");
        producer.setNamesrvAddr(namesrv);
        producer.setSendMsgTimeout(10_000);
        producer.setRetryTimesWhenSendFailed(0);
        producer.start();
        int sent;
        try {
            TopicCreation.create(producer, plan.mainTopic, FixturePlan.MAIN_QUEUES);
            TopicCreation.create(producer, plan.smallTopic, FixturePlan.SMALL_QUEUES);
            TopicCreation.create(producer, plan.batchTopic, FixturePlan.BATCH_QUEUES);
            sent = sendAll(producer, plan, broker);
        } finally {
            producer.shutdown();
        }
        StoredRecords raw = new StoredRecords(Path.of(opts.required("store-dir")),
            Long.parseLong(opts.required("commitlog-size")));
        int written = readBack(namesrv, topics, raw, Path.of(opts.required("out")));
        if (written != sent) {
            throw new IllegalStateException("sent " + sent + " messages but read back " + written);
        }
        System.out.println("WriteFixture: sent and read back " + sent + " messages");
    }

    private static int sendAll(DefaultMQProducer producer, FixturePlan plan, String broker) throws Exception {
        int count = 0;
        for (FixturePlan.Single s : plan.mainMessages()) {
            check(producer.send(s.message(), new MessageQueue(plan.mainTopic, broker, s.queueId())), 1);
            count++;
        }
        for (FixturePlan.Single s : plan.smallMessages()) {
            check(producer.send(s.message(), new MessageQueue(plan.smallTopic, broker, s.queueId())), 1);
            count++;
        }
        for (FixturePlan.Batch b : plan.batches()) {
            List<Message> msgs = b.messages();
            check(producer.send(msgs, new MessageQueue(plan.batchTopic, broker, b.queueId())), msgs.size());
            count += msgs.size();
        }
        return count;
    }

    private static void check(SendResult result, int messages) {
        if (result.getSendStatus() != SendStatus.SEND_OK) {
            throw new IllegalStateException("send of " + messages + " message(s) returned " + result);
        }
    }

    private static int readBack(String namesrv, List<String> topics, StoredRecords raw, Path out)
        throws Exception {
        List<MessageExt> msgs;
        try (QueueDrain drain = new QueueDrain(namesrv, "ferrimq_compat_fixture_reader")) {
            msgs = drain.drain(drain.queuesOf(topics, 60_000), 120_000, true);
        }
        try (OutputStream os = Files.newOutputStream(out)) {
            for (MessageExt msg : msgs) {
                os.write(JsonLine.lineBytes(ManifestRecord.render(msg, stored(raw, msg))));
            }
        }
        return msgs.size();
    }

    private static MessageExt stored(StoredRecords raw, MessageExt msg) throws IOException {
        return raw.read(msg.getCommitLogOffset(), msg.getStoreSize());
    }
}
