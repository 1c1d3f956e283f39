package io.ferrimq.scenario;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Message shapes: a batch send whose messages keep their own ids, keys, tags and properties;
 * bodies above compressMsgBodyOverHowmuch (4 KiB) that the client compresses and the consumer
 * gets back byte for byte; a body above the broker's maxMessageSize refused with
 * MESSAGE_ILLEGAL (13) and the broker's clear remark. Scenario {@code vip}: a producer with the VIP
 * channel enabled (broker port - 2) sends and the messages arrive.
 */
final class Batches {
    private static final int BATCH = 10;
    /** The broker's default maxMessageSize. */
    private static final int BROKER_MAX = 4 * 1024 * 1024;

    private Batches() {
    }

    /** What a consumer saw of one message. */
    static String describe(MessageExt m) {
        return Context.body(m).length() + ":" + Integer.toHexString(Context.body(m).hashCode()) + "|" + m.getTags()
            + "|" + m.getKeys() + "|" + m.getUserProperty("idx");
    }

    private static DefaultMQPushConsumer consumer(Context ctx, ConcurrentMap<String, String> into) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName("shapes");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(ctx.topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) -> {
            for (MessageExt m : msgs) {
                into.put(m.getMsgId(), describe(m));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        return c;
    }

    private static Message message(Context ctx, String body, int idx) {
        Message m = new Message(ctx.topic, "Tag" + (idx % 3), "key-" + idx, body.getBytes(StandardCharsets.UTF_8));
        m.putUserProperty("idx", Integer.toString(idx));
        return m;
    }

    private static String expected(Message m) {
        String body = new String(m.getBody(), StandardCharsets.UTF_8);
        return body.length() + ":" + Integer.toHexString(body.hashCode()) + "|" + m.getTags() + "|" + m.getKeys()
            + "|" + m.getUserProperty("idx");
    }

    static int run(Context ctx) throws Exception {
        DefaultMQProducer p = ctx.producer("shapes");
        ConcurrentMap<String, String> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = null;
        Map<String, String> sent = new TreeMap<>();
        try {
            List<Message> batch = new ArrayList<>();
            for (int i = 0; i < BATCH; i++) {
                batch.add(message(ctx, "batch-" + i, i));
            }
            SendResult r = p.send(batch, 10_000);
            String[] ids = r.getMsgId().split(",");
            if (r.getSendStatus() != SendStatus.SEND_OK || ids.length != BATCH) {
                throw new IllegalStateException("batch send: " + r);
            }
            for (int i = 0; i < BATCH; i++) {
                sent.put(ids[i], expected(batch.get(i)));
            }
            StringBuilder text = new StringBuilder();
            while (text.length() < 64 * 1024) {
                text.append("compressible text ").append(text.length()).append(' ');
            }
            Random random = new Random(42);
            StringBuilder noise = new StringBuilder();
            for (int i = 0; i < 6000; i++) {
                noise.append((char) ('!' + random.nextInt(90)));
            }
            for (String body : new String[] {text.toString(), noise.toString()}) {
                Message m = message(ctx, body, 100 + sent.size());
                SendResult big = p.send(m, 10_000);
                sent.put(big.getMsgId(), expected(m));
            }
            refusedOverMax(ctx, p);
            // Started once the topic exists, so its first rebalance already sees the queues.
            c = consumer(ctx, got);
            Context.awaitSize(got, sent.size(), 1500);
            Context.check("batch and compressed messages", sent, got);
            return got.size();
        } finally {
            p.shutdown();
            if (c != null) {
                c.shutdown();
            }
        }
    }

    /** A body past the broker's limit (client limit raised) is refused with code 13 and a remark. */
    private static void refusedOverMax(Context ctx, DefaultMQProducer p) throws Exception {
        p.setMaxMessageSize(BROKER_MAX * 2);
        byte[] body = new byte[BROKER_MAX + 1024];
        new Random(7).nextBytes(body);
        try {
            p.send(new Message(ctx.topic, "big", body), 20_000);
            throw new IllegalStateException("a body over maxMessageSize was accepted");
        } catch (MQBrokerException e) {
            if (e.getResponseCode() != 13 || !e.getErrorMessage().contains("the message body size over max value")) {
                throw new IllegalStateException("unexpected refusal: code " + e.getResponseCode() + " " + e.getErrorMessage());
            }
        }
    }

    static int vip(Context ctx) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(ctx.group + "_producer");
        p.setNamesrvAddr(ctx.namesrv);
        p.setInstanceName("vip");
        p.setVipChannelEnabled(true);
        p.setRetryTimesWhenSendFailed(0);
        p.start();
        ConcurrentMap<String, String> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer c = null;
        Map<String, String> sent = new TreeMap<>();
        try {
            for (int i = 0; i < 5; i++) {
                Message m = message(ctx, "vip-" + i, i);
                SendResult r = p.send(m, 10_000);
                sent.put(r.getMsgId(), expected(m));
            }
            c = consumer(ctx, got);
            Context.awaitSize(got, sent.size(), 1000);
            Context.check("sent over the VIP channel", sent, got);
            return got.size();
        } finally {
            p.shutdown();
            if (c != null) {
                c.shutdown();
            }
        }
    }
}
