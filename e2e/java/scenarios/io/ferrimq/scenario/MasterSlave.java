package io.ferrimq.scenario;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * A master/slave group (one brokerName, master id 0 and slave id 1) seen by the official client,
 * with the test (broker/cli/tests/ha_slave_java.rs) killing and restarting the master between phases
 * signalled through files in {@code --dir}:
 *
 * <ol>
 *   <li>master up: send "a" messages, a push consumer takes exactly them and leaves (its offsets go to
 *       the master); send "b" messages nobody consumes yet; create {@code phase-a-done};</li>
 *   <li>after {@code master-down} (the master was SIGKILLed, the route shows only the slave): a new
 *       push consumer of the same group takes exactly the "b" messages from the slave, each once, and
 *       leaves (its offsets go to the slave); create {@code consumed-on-slave};</li>
 *   <li>after {@code master-back} (the master restarted): send "c" messages; a new push consumer takes
 *       exactly them, each once: the progress made on the slave was not lost.</li>
 * </ol>
 *
 * <p>{@code master-slave-live} ({@link #live}) keeps one slow consumer running through the kill: it
 * pulls one message at a time, the test kills the master once it has consumed a few (file
 * {@code consuming}), and it must go on with the rest from the slave, then with new messages from the
 * returning master ({@code master-back}), each exactly once; a fresh consumer of the group afterwards
 * gets exactly the messages sent after that, so no committed progress was lost.
 */
final class MasterSlave {
    static final int EACH = 20;
    /** Time a consumer keeps listening after its set is complete, to catch redeliveries. */
    static final long SETTLE_MS = 3_000;

    private MasterSlave() {
    }

    static int run(Context ctx) throws Exception {
        DefaultMQProducer p1 = ctx.producer("ms_p1");
        Map<String, String> a;
        Map<String, String> b;
        try {
            a = Clustering.produce(ctx, p1, "a", "TagA", EACH);
            consumeExactly(ctx, "ms_c1", "from the master", a);
            b = Clustering.produce(ctx, p1, "b", "TagA", EACH);
        } finally {
            p1.shutdown();
        }
        Files.createFile(ctx.dir.resolve("phase-a-done"));

        awaitFile(ctx.dir.resolve("master-down"));
        consumeExactly(ctx, "ms_c2", "from the slave, master down", b);
        Files.createFile(ctx.dir.resolve("consumed-on-slave"));

        awaitFile(ctx.dir.resolve("master-back"));
        DefaultMQProducer p2 = ctx.producer("ms_p2");
        Map<String, String> c;
        try {
            c = Clustering.produce(ctx, p2, "c", "TagA", EACH);
        } finally {
            p2.shutdown();
        }
        consumeExactly(ctx, "ms_c3", "after the master returned", c);
        return a.size() + b.size() + c.size();
    }

    static int live(Context ctx) throws Exception {
        int total = 2 * EACH;
        DefaultMQProducer p1 = ctx.producer("live_p1");
        Map<String, String> b;
        try {
            b = Clustering.produce(ctx, p1, "b", "TagA", total);
        } finally {
            p1.shutdown();
        }
        ConcurrentMap<String, String> got = new ConcurrentHashMap<>();
        ConcurrentMap<String, AtomicInteger> deliveries = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = consumer(ctx, "live_c1", got, deliveries, 150);
        // One message per pull and in cache per queue: the consumer keeps pulling while it works.
        c.setPullBatchSize(1);
        c.setPullThresholdForQueue(1);
        c.setConsumeThreadMin(1);
        c.setConsumeThreadMax(1);
        c.start();
        Map<String, String> c2;
        try {
            waitFor(() -> got.size() >= 5, "first messages consumed");
            Files.createFile(ctx.dir.resolve("consuming"));
            awaitFile(ctx.dir.resolve("master-down"));
            Context.awaitSize(got, b.size(), 0);
            Context.check("consumed through the master's kill", b, got);
            Files.createFile(ctx.dir.resolve("consumed-while-down"));
            awaitFile(ctx.dir.resolve("master-back"));
            DefaultMQProducer p2 = ctx.producer("live_p2");
            try {
                c2 = Clustering.produce(ctx, p2, "c", "TagA", EACH);
            } finally {
                p2.shutdown();
            }
            Map<String, String> all = new TreeMap<>(b);
            all.putAll(c2);
            Context.awaitSize(got, all.size(), SETTLE_MS);
            Context.check("consumed after the master returned", all, got);
        } finally {
            c.shutdown();
        }
        checkOnce("live consumer", got, deliveries);
        DefaultMQProducer p3 = ctx.producer("live_p3");
        Map<String, String> d;
        try {
            d = Clustering.produce(ctx, p3, "d", "TagA", 5);
        } finally {
            p3.shutdown();
        }
        consumeExactly(ctx, "live_c2", "a fresh consumer after the live one left", d);
        return got.size() + d.size();
    }

    /** A push consumer of the scenario group recording into {@code got}, sleeping {@code workMs} per message. */
    private static DefaultMQPushConsumer consumer(Context ctx, String instance, ConcurrentMap<String, String> got,
        ConcurrentMap<String, AtomicInteger> deliveries, long workMs) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName(instance);
        c.setPollNameServerInterval(1000);
        c.setPersistConsumerOffsetInterval(1000);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(ctx.topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) -> {
            for (MessageExt m : msgs) {
                got.put(m.getMsgId(), Context.body(m));
                deliveries.computeIfAbsent(m.getMsgId(), k -> new AtomicInteger()).incrementAndGet();
            }
            if (workMs > 0) {
                try {
                    Thread.sleep(workMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        return c;
    }

    private static void checkOnce(String what, Map<String, String> got, Map<String, AtomicInteger> deliveries) {
        Map<String, Integer> repeated = new TreeMap<>();
        deliveries.forEach((id, n) -> {
            if (n.get() != 1) {
                repeated.put(got.get(id), n.get());
            }
        });
        if (!repeated.isEmpty()) {
            throw new IllegalStateException(what + ": delivered more than once: " + repeated);
        }
    }

    private static void waitFor(java.util.function.BooleanSupplier done, String what) throws Exception {
        long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
        while (!done.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("timed out: " + what);
            }
            Thread.sleep(20);
        }
    }

    /**
     * Starts a push consumer of the scenario group, waits until it has seen {@code want}, listens
     * {@link #SETTLE_MS} more and shuts it down (which commits its offsets); fails unless every message
     * was delivered exactly once and nothing else was.
     */
    private static void consumeExactly(Context ctx, String instance, String what, Map<String, String> want)
        throws Exception {
        ConcurrentMap<String, String> got = new ConcurrentHashMap<>();
        ConcurrentMap<String, AtomicInteger> deliveries = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = consumer(ctx, instance, got, deliveries, 0);
        c.start();
        try {
            Context.awaitSize(got, want.size(), SETTLE_MS);
        } finally {
            c.shutdown();
        }
        Context.check(what, want, got);
        checkOnce(what, got, deliveries);
    }

    private static void awaitFile(Path f) throws Exception {
        long deadline = System.currentTimeMillis() + 2 * Context.TIMEOUT_MS;
        while (!Files.exists(f)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("test never created " + f);
            }
            Thread.sleep(50);
        }
    }
}
