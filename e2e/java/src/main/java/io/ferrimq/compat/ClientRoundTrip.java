package io.ferrimq.compat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
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

/**
 * The official 5.3.3 clients against a running ferrimq (broker + NameServer): produces {@code --count}
 * messages one by one plus one batch of {@link #BATCH} with {@link DefaultMQProducer} to a topic the
 * broker auto-creates, then consumes them with
 * a {@link DefaultLitePullConsumer} (subscribe, from the first offset) and with a
 * {@link DefaultMQPushConsumer} (another group), and checks that each consumer saw exactly the
 * produced set of (msgId, body).
 *
 * <p>Exits 0 when both sets match, 1 otherwise (with the difference on stderr).
 */
public final class ClientRoundTrip {
    private static final String USAGE = "ClientRoundTrip --namesrv HOST:PORT --topic T --count N"
        + " [--timeout-ms 120000]";

    /** Messages of the one batch sent after the single messages. */
    static final int BATCH = 8;

    private ClientRoundTrip() {
    }

    /** Entry point; see {@link #USAGE}. */
    public static void main(String[] args) {
        try {
            Options opts = new Options(args, USAGE);
            String namesrv = opts.required("namesrv");
            String topic = opts.required("topic");
            int count = Integer.parseInt(opts.required("count"));
            long timeout = Long.parseLong(opts.optional("timeout-ms", "120000"));
            Map<String, String> sent = produce(namesrv, topic, count);
            int total = count + BATCH;
            Map<String, String> pulled = litePull(namesrv, topic, total, timeout);
            check("lite pull", sent, pulled);
            Map<String, String> pushed = push(namesrv, topic, total, timeout);
            check("push", sent, pushed);
            System.out.println("ClientRoundTrip: " + total + " messages produced, pulled and pushed");
            System.exit(0);
        } catch (Throwable e) {
            System.err.println("ClientRoundTrip failed: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static Map<String, String> produce(String namesrv, String topic, int count) throws Exception {
        DefaultMQProducer producer = new DefaultMQProducer("ferrimq_roundtrip_producer");
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName("roundtrip_producer");
        producer.start();
        Map<String, String> sent = new TreeMap<>();
        try {
            for (int i = 0; i < count; i++) {
                String body = "roundtrip-" + i;
                Message msg = new Message(topic, "TagA", "key-" + i, body.getBytes(StandardCharsets.UTF_8));
                SendResult r = producer.send(msg, 10_000);
                if (r.getSendStatus() != SendStatus.SEND_OK) {
                    throw new IllegalStateException("send " + i + ": " + r);
                }
                sent.put(r.getMsgId(), body);
            }
            // One batch: every message must keep its own client id (RocketMQ ISSUE #9416).
            List<Message> batch = new ArrayList<>();
            for (int i = 0; i < BATCH; i++) {
                String body = "roundtrip-batch-" + i;
                batch.add(new Message(topic, "TagA", "batch-key-" + i, body.getBytes(StandardCharsets.UTF_8)));
            }
            SendResult r = producer.send(batch, 10_000);
            String[] ids = r.getMsgId().split(",");
            if (r.getSendStatus() != SendStatus.SEND_OK || ids.length != BATCH) {
                throw new IllegalStateException("batch send: " + r);
            }
            for (int i = 0; i < BATCH; i++) {
                sent.put(ids[i], "roundtrip-batch-" + i);
            }
            if (sent.size() != count + BATCH) {
                throw new IllegalStateException("duplicate message ids among " + sent.keySet());
            }
        } finally {
            producer.shutdown();
        }
        return sent;
    }

    private static Map<String, String> litePull(String namesrv, String topic, int count, long timeout)
        throws Exception {
        DefaultLitePullConsumer consumer = new DefaultLitePullConsumer("ferrimq_roundtrip_lite");
        consumer.setNamesrvAddr(namesrv);
        consumer.setInstanceName("roundtrip_lite");
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.subscribe(topic, "*");
        consumer.start();
        Map<String, String> got = new TreeMap<>();
        long deadline = System.currentTimeMillis() + timeout;
        try {
            while (got.size() < count && System.currentTimeMillis() < deadline) {
                for (MessageExt m : consumer.poll(1000)) {
                    got.put(m.getMsgId(), new String(m.getBody(), StandardCharsets.UTF_8));
                }
            }
        } finally {
            consumer.shutdown();
        }
        return got;
    }

    private static Map<String, String> push(String namesrv, String topic, int count, long timeout)
        throws Exception {
        ConcurrentMap<String, String> got = new ConcurrentHashMap<>();
        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer("ferrimq_roundtrip_push");
        consumer.setNamesrvAddr(namesrv);
        consumer.setInstanceName("roundtrip_push");
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.subscribe(topic, "*");
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            for (MessageExt m : msgs) {
                got.put(m.getMsgId(), new String(m.getBody(), StandardCharsets.UTF_8));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        long deadline = System.currentTimeMillis() + timeout;
        try {
            while (got.size() < count && System.currentTimeMillis() < deadline) {
                Thread.sleep(100);
            }
        } finally {
            consumer.shutdown();
        }
        return new TreeMap<>(got);
    }

    private static void check(String what, Map<String, String> sent, Map<String, String> got) {
        if (!sent.equals(got)) {
            Map<String, String> missing = new TreeMap<>(sent);
            missing.keySet().removeAll(got.keySet());
            Map<String, String> extra = new TreeMap<>(got);
            extra.keySet().removeAll(sent.keySet());
            throw new IllegalStateException(what + ": got " + got.size() + " of " + sent.size()
                + " messages; missing " + missing + "; unexpected " + extra);
        }
    }
}
