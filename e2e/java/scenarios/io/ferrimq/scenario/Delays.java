package io.ferrimq.scenario;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Delayed messages ({@code Message.setDelayTimeLevel}): each one is delivered once, to its real
 * topic, no earlier than its level's delay after it was sent and within a tolerance after.
 *
 * <p>System properties: {@code ferrimq.delay.levels} (comma-separated levels, default "1,2,3"),
 * {@code ferrimq.delay.table} (the broker's messageDelayLevel, default RocketMQ's),
 * {@code ferrimq.delay.perLevel} (messages per level, default 2),
 * {@code ferrimq.delay.toleranceMs} (lateness allowed, default 3000).
 */
final class Delays {
    private static final String DEFAULT_TABLE = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

    private Delays() {
    }

    /** Milliseconds of each level of a messageDelayLevel table ("1s 5s 1m 2h ..."). */
    static long[] table(String text) {
        String[] items = text.trim().split("\\s+");
        long[] out = new long[items.length];
        for (int i = 0; i < items.length; i++) {
            String it = items[i];
            long n = Long.parseLong(it.substring(0, it.length() - 1));
            switch (it.charAt(it.length() - 1)) {
                case 's': out[i] = n * 1000L; break;
                case 'm': out[i] = n * 60_000L; break;
                case 'h': out[i] = n * 3_600_000L; break;
                case 'd': out[i] = n * 86_400_000L; break;
                default: throw new IllegalArgumentException("bad delay " + it);
            }
        }
        return out;
    }

    static int run(Context ctx) throws Exception {
        long[] delays = table(System.getProperty("ferrimq.delay.table", DEFAULT_TABLE));
        List<Integer> levels = new ArrayList<>();
        for (String l : System.getProperty("ferrimq.delay.levels", "1,2,3").split(",")) {
            levels.add(Integer.parseInt(l.trim()));
        }
        int perLevel = Integer.getInteger("ferrimq.delay.perLevel", 2);
        long tolerance = Long.getLong("ferrimq.delay.toleranceMs", 3000L);
        ConcurrentMap<String, Long> receivedAt = new ConcurrentHashMap<>();
        ConcurrentMap<String, Integer> deliveries = new ConcurrentHashMap<>();
        ConcurrentMap<String, String> topics = new ConcurrentHashMap<>();
        CountDownLatch warm = new CountDownLatch(1);
        DefaultMQProducer p = ctx.producer("delays");
        // The topic exists and the consumer owns its queues before any delay starts counting.
        p.send(new Message(ctx.topic, "warmup", "warmup".getBytes("UTF-8")), 10_000);
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName("delays");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(ctx.topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) -> {
            long now = System.currentTimeMillis();
            for (MessageExt m : msgs) {
                if ("warmup".equals(m.getTags())) {
                    warm.countDown();
                    continue;
                }
                receivedAt.putIfAbsent(m.getMsgId(), now);
                deliveries.merge(m.getMsgId(), 1, Integer::sum);
                topics.put(m.getMsgId(), m.getTopic());
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        if (!warm.await(Context.TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
            p.shutdown();
            c.shutdown();
            throw new IllegalStateException("the warm-up message never arrived");
        }
        Map<String, long[]> sent = new TreeMap<>();
        Map<String, Integer> levelOf = new TreeMap<>();
        try {
            for (int level : levels) {
                for (int i = 0; i < perLevel; i++) {
                    Message m = new Message(ctx.topic, "delay", ("level-" + level + "-" + i).getBytes("UTF-8"));
                    m.setDelayTimeLevel(level);
                    long before = System.currentTimeMillis();
                    SendResult r = p.send(m, 10_000);
                    long after = System.currentTimeMillis();
                    if (r.getSendStatus() != SendStatus.SEND_OK) {
                        throw new IllegalStateException("send level " + level + ": " + r);
                    }
                    sent.put(r.getMsgId(), new long[] {before, after});
                    levelOf.put(r.getMsgId(), level);
                }
            }
            long longest = 0;
            for (int level : levels) {
                longest = Math.max(longest, delays[level - 1]);
            }
            long deadline = System.currentTimeMillis() + longest + tolerance + 5000;
            while (receivedAt.size() < sent.size() && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
            }
            Thread.sleep(1000);
            StringBuilder problems = new StringBuilder();
            for (Map.Entry<String, long[]> e : sent.entrySet()) {
                String id = e.getKey();
                int level = levelOf.get(id);
                long delay = delays[level - 1];
                Long at = receivedAt.get(id);
                if (at == null) {
                    problems.append(" level ").append(level).append(' ').append(id).append(" never delivered;");
                    continue;
                }
                long early = e.getValue()[0] + delay - at;
                long late = at - (e.getValue()[1] + delay);
                if (early > 100 || late > tolerance) {
                    problems.append(" level ").append(level).append(" delivered after ")
                        .append(at - e.getValue()[0]).append(" ms (delay ").append(delay).append(");");
                }
                if (deliveries.get(id) != 1) {
                    problems.append(' ').append(id).append(" delivered ").append(deliveries.get(id)).append(" times;");
                }
                if (!ctx.topic.equals(topics.get(id))) {
                    problems.append(' ').append(id).append(" arrived on topic ").append(topics.get(id)).append(';');
                }
            }
            if (receivedAt.size() != sent.size()) {
                problems.append(" received ").append(receivedAt.size()).append(" of ").append(sent.size());
            }
            if (problems.length() > 0) {
                throw new IllegalStateException("delays:" + problems);
            }
            return sent.size();
        } finally {
            p.shutdown();
            c.shutdown();
        }
    }
}
