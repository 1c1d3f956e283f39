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
 * Retry and dead letters: a push consumer with {@code maxReconsumeTimes = 3} that always answers
 * RECONSUME_LATER gets each message exactly 1 + 3 times (reconsumeTimes 0, 1, 2, 3, through
 * %RETRY%group), after which the message sits in %DLQ%group with its body, user property,
 * RETRY_TOPIC = the original topic, ORIGIN_MESSAGE_ID = the original id and reconsumeTimes 4 — and
 * is never delivered again. Needs a broker whose messageDelayLevel makes retries fast.
 */
final class Retries {
    private static final int MESSAGES = 3;
    private static final int MAX_RECONSUME = 3;

    private Retries() {
    }

    static int run(Context ctx) throws Exception {
        ConcurrentMap<String, List<Integer>> deliveries = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName("retries");
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
        DefaultMQProducer p = ctx.producer("retries");
        Map<String, String> sent = new TreeMap<>();
        try {
            for (int i = 0; i < MESSAGES; i++) {
                Message m = new Message(ctx.topic, "retry", ("fail-" + i).getBytes("UTF-8"));
                m.putUserProperty("idx", Integer.toString(i));
                SendResult r = p.send(m, 10_000);
                if (r.getSendStatus() != SendStatus.SEND_OK) {
                    throw new IllegalStateException("send: " + r);
                }
                sent.put(r.getMsgId(), "fail-" + i);
            }
            String brokerName = p.fetchPublishMessageQueues(ctx.topic).get(0).getBrokerName();
            Map<String, MessageExt> dead = readDlq(ctx, brokerName, MESSAGES);
            // Nothing more may arrive once everything is dead-lettered.
            Thread.sleep(3000);
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i <= MAX_RECONSUME; i++) {
                expected.add(i);
            }
            for (String id : sent.keySet()) {
                List<Integer> got = deliveries.get(id);
                if (got == null || !new ArrayList<>(got).equals(expected)) {
                    throw new IllegalStateException(id + " delivered with reconsumeTimes " + got + ", want " + expected);
                }
            }
            if (!deliveries.keySet().equals(sent.keySet())) {
                throw new IllegalStateException("deliveries of unknown ids: " + deliveries.keySet());
            }
            Map<String, String> deadBodies = new TreeMap<>();
            for (MessageExt m : dead.values()) {
                String origin = m.getProperty("ORIGIN_MESSAGE_ID");
                deadBodies.put(origin, Context.body(m));
                String idx = Context.body(m).substring("fail-".length());
                if (!ctx.topic.equals(m.getProperty("RETRY_TOPIC")) || !idx.equals(m.getUserProperty("idx"))
                    || m.getReconsumeTimes() != MAX_RECONSUME + 1 || !origin.equals(m.getMsgId())) {
                    throw new IllegalStateException("dead letter properties: " + m);
                }
            }
            Context.check("dead letters by origin id", sent, deadBodies);
            return dead.size();
        } finally {
            p.shutdown();
            c.shutdown();
        }
    }

    /** Reads %DLQ%group queue 0 from its start until {@code want} messages arrived. */
    private static Map<String, MessageExt> readDlq(Context ctx, String brokerName, int want) throws Exception {
        DefaultLitePullConsumer reader = ctx.litePull(ctx.group + "_dlq_reader", "dlq-reader");
        reader.setAutoCommit(false);
        reader.start();
        Map<String, MessageExt> out = new TreeMap<>();
        try {
            MessageQueue dlq = new MessageQueue("%DLQ%" + ctx.group, brokerName, 0);
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
}
