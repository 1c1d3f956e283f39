package io.ferrimq.scenario;

import java.nio.file.Files;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Continuous produce and a push consumer group while the operator shrinks the topic's queues
 * (operator/tests/shrink_brokers.rs). The producer sends up to 100 messages/s; until the stop
 * the consumer (one thread, 40 ms per message) is much slower, so a backlog that takes longer
 * than the operator's drain grace to consume exists on every queue when the writes are lowered.
 * Both refresh routes every second. When {@code <dir>/stop} appears the producer stops and the
 * consumer runs at full speed; the scenario then waits until every sent id was consumed and
 * fails on any missing or unexpected id. Files: {@code sent.txt} (msgId, broker:queue), {@code consumed.txt} (msgId, body),
 * {@code progress.txt} (sent and consumed counts, rewritten every second).
 */
final class ShrinkConsume {
    private static final long DRAIN_TIMEOUT_MS = 150_000;
    private static final long RUN_LIMIT_MS = 400_000;
    /** Per-message pause of the consumer until the producer stops. */
    private static final long SLOW_CONSUME_MS = 40;

    private static volatile boolean slow = true;

    private ShrinkConsume() {
    }

    static int run(Context ctx) throws Exception {
        ConcurrentMap<String, String> consumed = Context.concurrentMap();
        DefaultMQPushConsumer consumer = consumer(ctx, consumed);
        DefaultMQProducer producer = new DefaultMQProducer(ctx.group + "_producer");
        producer.setNamesrvAddr(ctx.namesrv);
        producer.setInstanceName("shrink-producer");
        producer.setPollNameServerInterval(1000);
        producer.start();
        Map<String, String> sent = new TreeMap<>();
        Map<String, String> where = new TreeMap<>();
        try {
            produceUntilStop(ctx, producer, sent, where, consumed);
        } finally {
            producer.shutdown();
        }
        ctx.save("sent.txt", where);
        try {
            long deadline = System.currentTimeMillis() + DRAIN_TIMEOUT_MS;
            while (!consumed.keySet().containsAll(sent.keySet()) && System.currentTimeMillis() < deadline) {
                progress(ctx, sent.size(), consumed.size());
                Thread.sleep(200);
            }
            Thread.sleep(2000);
        } finally {
            consumer.shutdown();
        }
        ctx.save("consumed.txt", consumed);
        Context.check("consumed after the shrink", sent, consumed);
        return sent.size();
    }

    private static DefaultMQPushConsumer consumer(Context ctx, ConcurrentMap<String, String> into) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName("shrink-consumer");
        c.setPollNameServerInterval(1000);
        c.setPersistConsumerOffsetInterval(1000);
        c.setConsumeThreadMin(1);
        c.setConsumeThreadMax(1);
        c.setConsumeMessageBatchMaxSize(1);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(ctx.topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) -> {
            for (MessageExt m : msgs) {
                into.put(m.getMsgId(), Context.body(m));
            }
            try {
                if (slow) {
                    Thread.sleep(SLOW_CONSUME_MS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        return c;
    }

    private static void produceUntilStop(Context ctx, DefaultMQProducer p, Map<String, String> sent,
        Map<String, String> where, Map<String, String> consumed) throws Exception {
        long started = System.currentTimeMillis();
        long lastReport = 0;
        AtomicReference<Exception> failure = new AtomicReference<>();
        for (int i = 0; !Files.exists(ctx.dir.resolve("stop")); i++) {
            if (System.currentTimeMillis() - started > RUN_LIMIT_MS) {
                throw new IllegalStateException("no stop file within " + RUN_LIMIT_MS + " ms");
            }
            String body = "shrink-" + i;
            SendResult r = p.send(SendModes.message(ctx.topic, "TagA", body), 10_000);
            if (r.getSendStatus() != SendStatus.SEND_OK) {
                failure.set(new IllegalStateException("send " + body + ": " + r));
                break;
            }
            sent.put(r.getMsgId(), body);
            where.put(r.getMsgId(), r.getMessageQueue().getBrokerName() + ":" + r.getMessageQueue().getQueueId());
            if (System.currentTimeMillis() - lastReport > 1000) {
                progress(ctx, sent.size(), consumed.size());
                lastReport = System.currentTimeMillis();
            }
            Thread.sleep(10);
        }
        slow = false;
        if (failure.get() != null) {
            throw failure.get();
        }
    }

    private static void progress(Context ctx, int sent, int consumed) throws Exception {
        Files.write(ctx.dir.resolve("progress.txt"),
            (sent + "\t" + consumed + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
