package io.ferrimq.scenario;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Retry state across a broker crash, with {@code maxReconsumeTimes = 2} and a broker whose delay level
 * 4 (the second retry's back-off) is long. {@code retry-restart-before} sends {@link #MESSAGES}
 * messages and fails each delivery; once every message was delivered with reconsumeTimes 0 and 1 (the
 * second failure sends the copy into the schedule topic at level 4) the consumer shuts down and the
 * ids are saved; the test kills the broker while those copies wait, and restarts it.
 * {@code retry-restart-after} consumes in the same group: each message arrives exactly once more, with
 * reconsumeTimes 2, is failed once more and then sits in %DLQ%group with reconsumeTimes 3,
 * ORIGIN_MESSAGE_ID and RETRY_TOPIC, never delivered again.
 */
final class RetryRestart {
    private static final int MESSAGES = 2;
    private static final int MAX_RECONSUME = 2;
    private static final String FILE = "retry-sent.tsv";

    private RetryRestart() {
    }

    static int before(Context ctx) throws Exception {
        ConcurrentMap<String, List<Integer>> deliveries = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = failingConsumer(ctx, "retry_before", deliveries);
        Map<String, String> sent = new TreeMap<>();
        DefaultMQProducer p = ctx.producer("retry_before");
        try {
            for (int i = 0; i < MESSAGES; i++) {
                Message m = new Message(ctx.topic, "retry", ("restart-" + i).getBytes("UTF-8"));
                SendResult r = p.send(m, 10_000);
                if (r.getSendStatus() != SendStatus.SEND_OK) {
                    throw new IllegalStateException("send: " + r);
                }
                sent.put(r.getMsgId(), "restart-" + i);
            }
        } finally {
            p.shutdown();
        }
        List<Integer> twice = List.of(0, 1);
        long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
        while (!allDelivered(deliveries, sent, twice) && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
        }
        // Let the second failures' CONSUMER_SEND_MSG_BACK complete before the offsets are persisted.
        Thread.sleep(1000);
        c.shutdown();
        if (!allDelivered(deliveries, sent, twice) || !deliveries.keySet().equals(sent.keySet())) {
            throw new IllegalStateException("before the restart: deliveries " + deliveries + " of " + sent);
        }
        ctx.save(FILE, sent);
        return sent.size();
    }

    static int after(Context ctx) throws Exception {
        Map<String, String> sent = ctx.load(FILE);
        ConcurrentMap<String, List<Integer>> deliveries = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = failingConsumer(ctx, "retry_after", deliveries);
        try {
            Map<String, MessageExt> dead = readDlq(ctx, MESSAGES);
            // Nothing more may arrive once everything is dead-lettered.
            Thread.sleep(3000);
            for (String id : sent.keySet()) {
                List<Integer> got = deliveries.get(id);
                if (got == null || !new ArrayList<>(got).equals(List.of(MAX_RECONSUME))) {
                    throw new IllegalStateException(id + " redelivered with reconsumeTimes " + got);
                }
            }
            if (!deliveries.keySet().equals(sent.keySet())) {
                throw new IllegalStateException("deliveries after the restart: " + deliveries);
            }
            Map<String, String> deadBodies = new TreeMap<>();
            for (MessageExt m : dead.values()) {
                String origin = m.getProperty("ORIGIN_MESSAGE_ID");
                deadBodies.put(origin, Context.body(m));
                if (!ctx.topic.equals(m.getProperty("RETRY_TOPIC")) || m.getReconsumeTimes() != MAX_RECONSUME + 1
                    || !origin.equals(m.getMsgId())) {
                    throw new IllegalStateException("dead letter properties: " + m);
                }
            }
            Context.check("dead letters by origin id", sent, deadBodies);
            return dead.size();
        } finally {
            c.shutdown();
        }
    }

    private static boolean allDelivered(Map<String, List<Integer>> deliveries, Map<String, String> sent,
        List<Integer> want) {
        for (String id : sent.keySet()) {
            List<Integer> got = deliveries.get(id);
            if (got == null || !new ArrayList<>(got).equals(want)) {
                return false;
            }
        }
        return true;
    }

    /** A push consumer of the scenario group that records every delivery and always fails it. */
    private static DefaultMQPushConsumer failingConsumer(Context ctx, String instance,
        ConcurrentMap<String, List<Integer>> deliveries) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName(instance);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.setMaxReconsumeTimes(MAX_RECONSUME);
        c.subscribe(ctx.topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) -> {
            for (MessageExt m : msgs) {
                deliveries.computeIfAbsent(m.getMsgId(), k -> Collections.synchronizedList(new ArrayList<>()))
                    .add(m.getReconsumeTimes());
            }
            return ConsumeConcurrentlyStatus.RECONSUME_LATER;
        });
        c.start();
        return c;
    }

    /** Reads %DLQ%group queue 0 from its start until {@code want} messages arrived. */
    private static Map<String, MessageExt> readDlq(Context ctx, int want) throws Exception {
        MessageQueue dlq = new MessageQueue("%DLQ%" + ctx.group, brokerName(ctx), 0);
        DefaultLitePullConsumer reader = ctx.litePull(ctx.group + "_dlq_reader", "retry_dlq_reader");
        reader.setAutoCommit(false);
        reader.start();
        Map<String, MessageExt> out = new TreeMap<>();
        try {
            long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
            boolean assigned = false;
            while (out.size() < want && System.currentTimeMillis() < deadline) {
                if (!assigned) {
                    try {
                        reader.assign(Collections.singletonList(dlq));
                        assigned = true;
                    } catch (Exception notYet) {
                        Thread.sleep(500);
                        continue;
                    }
                }
                for (MessageExt m : reader.poll(500)) {
                    out.put(m.getMsgId(), m);
                }
            }
            if (out.size() != want) {
                throw new IllegalStateException("DLQ holds " + out.size() + " of " + want + ": " + out.keySet());
            }
            return out;
        } finally {
            reader.shutdown();
        }
    }

    private static String brokerName(Context ctx) throws Exception {
        DefaultLitePullConsumer probe = ctx.litePull(ctx.group + "_probe", "retry_probe");
        probe.start();
        try {
            for (MessageQueue q : probe.fetchMessageQueues(ctx.topic)) {
                return q.getBrokerName();
            }
            throw new IllegalStateException("no queues of " + ctx.topic);
        } finally {
            probe.shutdown();
        }
    }
}
