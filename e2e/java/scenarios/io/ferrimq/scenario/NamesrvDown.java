package io.ferrimq.scenario;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Sends from cached routes while the NameServer is down. The producer and an assign-mode lite pull
 * consumer learn their routes first; the program then creates {@code --dir}/routes-cached and waits
 * for the test to kill the NameServer and create {@code --dir}/namesrv-down; it sends again with the
 * same producer and reads everything back from the broker.
 */
final class NamesrvDown {
    static final int EACH = 16;

    private NamesrvDown() {
    }

    static int run(Context ctx) throws Exception {
        DefaultMQProducer p = ctx.producer("namesrv_down");
        DefaultLitePullConsumer c = ctx.litePull(ctx.group, "namesrv_down");
        c.setAutoCommit(false);
        try {
            Map<String, String> sent = new TreeMap<>(Clustering.produce(ctx, p, "before-kill", "TagA", EACH));
            c.start();
            Collection<MessageQueue> queues = c.fetchMessageQueues(ctx.topic);
            c.assign(queues);
            for (MessageQueue q : queues) {
                c.seek(q, 0);
            }
            Files.createFile(ctx.dir.resolve("routes-cached"));
            awaitFile(ctx.dir.resolve("namesrv-down"));
            sent.putAll(Clustering.produce(ctx, p, "namesrv-down", "TagA", EACH));
            Context.check("read back with NameServer down", sent, Context.pollUntil(c, sent.size()));
            return sent.size();
        } finally {
            c.shutdown();
            p.shutdown();
        }
    }

    private static void awaitFile(Path f) throws Exception {
        long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
        while (!Files.exists(f)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("test never created " + f);
            }
            Thread.sleep(50);
        }
    }
}
