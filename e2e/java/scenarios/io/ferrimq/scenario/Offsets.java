package io.ferrimq.scenario;

import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Committed consumer offsets across a broker restart. {@code offsets-before} sends {@link #COUNT}
 * messages, consumes at least half with manual commits, commits and stops, saving both sets under
 * {@code --dir}; the test restarts ferrimq; {@code offsets-after} resumes in the same group and must
 * receive exactly the messages not consumed before, none of the committed ones again.
 */
final class Offsets {
    static final int COUNT = 40;

    private Offsets() {
    }

    static int before(Context ctx) throws Exception {
        DefaultMQProducer p = ctx.producer("offsets");
        Map<String, String> sent;
        try {
            sent = Clustering.produce(ctx, p, "offsets", "TagA", COUNT);
        } finally {
            p.shutdown();
        }
        DefaultLitePullConsumer c = ctx.litePull(ctx.group, "offsets_before");
        c.setAutoCommit(false);
        c.setPullBatchSize(4);
        c.subscribe(ctx.topic, "*");
        c.start();
        Map<String, String> consumed = new TreeMap<>();
        try {
            long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
            while (consumed.size() < COUNT / 2 && System.currentTimeMillis() < deadline) {
                for (MessageExt m : c.poll(500)) {
                    consumed.put(m.getMsgId(), Context.body(m));
                }
            }
            c.commitSync();
        } finally {
            c.shutdown();
        }
        if (consumed.size() < COUNT / 2 || !sent.keySet().containsAll(consumed.keySet())) {
            throw new IllegalStateException("consumed before restart: " + consumed);
        }
        ctx.save("offsets-sent.tsv", sent);
        ctx.save("offsets-consumed.tsv", consumed);
        return consumed.size();
    }

    static int after(Context ctx) throws Exception {
        Map<String, String> rest = ctx.load("offsets-sent.tsv");
        rest.keySet().removeAll(ctx.load("offsets-consumed.tsv").keySet());
        DefaultLitePullConsumer c = ctx.litePull(ctx.group, "offsets_after");
        c.subscribe(ctx.topic, "*");
        c.start();
        Map<String, String> got;
        try {
            got = Context.pollUntil(c, rest.size());
            long settle = System.currentTimeMillis() + 1500;
            while (System.currentTimeMillis() < settle) {
                for (MessageExt m : c.poll(300)) {
                    got.put(m.getMsgId(), Context.body(m));
                }
            }
        } finally {
            c.shutdown();
        }
        Context.check("resumed after restart", rest, got);
        return got.size();
    }
}
