package io.ferrimq.compat;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Reads every message of the given topics (all queues in the route) from a running Apache RocketMQ
 * broker with the official {@link org.apache.rocketmq.client.consumer.DefaultLitePullConsumer} and
 * prints them as manifest JSON lines ({@link ManifestRecord}), sorted by topic, queue id, queue offset.
 *
 * <p>Used for the reverse direction: the Java broker serving a store written by ferrimq. It commits no
 * consumer offsets. With {@code --create-topics} it first declares topics the broker's
 * config/topics.json does not know (an opt-in fallback; by default a topic missing from the store's
 * config is an error, because the Java broker only routes topics it has a config for).
 *
 * <p>Exits with status 1 if a topic has no route or a queue cannot be read to its max offset within
 * the timeout.
 */
public final class ReadStore {
    private static final String USAGE = "ReadStore --namesrv HOST:PORT --topics T1,T2 --out FILE.jsonl"
        + " [--timeout-ms 120000] [--create-topics T1:QUEUES,T2:QUEUES]";

    private ReadStore() {
    }

    /** Entry point; see {@link #USAGE}. */
    public static void main(String[] args) {
        try {
            Options opts = new Options(args, USAGE);
            int n = run(opts);
            System.out.println("ReadStore: read " + n + " messages");
            System.exit(0);
        } catch (Exception e) {
            System.err.println("ReadStore failed: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static int run(Options opts) throws Exception {
        List<MessageExt> msgs;
        String namesrv = opts.required("namesrv");
        String create = opts.optional("create-topics", "");
        if (!create.isEmpty()) {
            TopicCreation.create(namesrv, create);
        }
        try (QueueDrain drain = new QueueDrain(namesrv, "ferrimq_compat_store_reader")) {
            List<MessageQueue> queues = drain.queuesOf(opts.list("topics"), 60_000);
            msgs = drain.drain(queues, Long.parseLong(opts.optional("timeout-ms", "120000")), false);
        }
        try (OutputStream os = Files.newOutputStream(Path.of(opts.required("out")))) {
            for (MessageExt msg : msgs) {
                os.write(JsonLine.lineBytes(ManifestRecord.render(msg, null)));
            }
        }
        return msgs.size();
    }
}
