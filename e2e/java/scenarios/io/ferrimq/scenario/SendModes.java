package io.ferrimq.scenario;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Sync, async and oneway sends plus one batch, read back twice: a lite pull consumer that assigns
 * every queue and seeks to offset 0, and a lite pull consumer that subscribes (its own group).
 */
final class SendModes {
    static final int EACH = 16;
    static final int BATCH = 8;

    private SendModes() {
    }

    static int run(Context ctx) throws Exception {
        Map<String, String> sent = new TreeMap<>();
        DefaultMQProducer p = ctx.producer("sends");
        try {
            sync(ctx, p, sent);
            async(ctx, p, sent);
            oneway(ctx, p, sent);
            batch(ctx, p, sent);
        } finally {
            p.shutdown();
        }
        int total = 3 * EACH + BATCH;
        if (sent.size() != total) {
            throw new IllegalStateException("expected " + total + " distinct ids, got " + sent.size());
        }
        Context.check("lite pull assign+seek", sent, assignSeek(ctx, total));
        Context.check("lite pull subscribe", sent, subscribe(ctx, total));
        return total;
    }

    static Message message(String topic, String tag, String body) {
        return new Message(topic, tag, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void sync(Context ctx, DefaultMQProducer p, Map<String, String> sent) throws Exception {
        for (int i = 0; i < EACH; i++) {
            String body = "sync-" + i;
            SendResult r = p.send(message(ctx.topic, "TagA", body), 10_000);
            if (r.getSendStatus() != SendStatus.SEND_OK) {
                throw new IllegalStateException("sync send " + i + ": " + r);
            }
            sent.put(r.getMsgId(), body);
        }
    }

    private static void async(Context ctx, DefaultMQProducer p, Map<String, String> sent) throws Exception {
        CountDownLatch done = new CountDownLatch(EACH);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Map<String, String> got = new java.util.concurrent.ConcurrentHashMap<>();
        for (int i = 0; i < EACH; i++) {
            String body = "async-" + i;
            p.send(message(ctx.topic, "TagA", body), new SendCallback() {
                @Override
                public void onSuccess(SendResult r) {
                    got.put(r.getMsgId(), body);
                    done.countDown();
                }

                @Override
                public void onException(Throwable e) {
                    failure.set(e);
                    done.countDown();
                }
            }, 10_000);
        }
        if (!done.await(30, TimeUnit.SECONDS) || failure.get() != null) {
            throw new IllegalStateException("async sends: " + got.size() + " acked, failure " + failure.get());
        }
        sent.putAll(got);
    }

    private static void oneway(Context ctx, DefaultMQProducer p, Map<String, String> sent) throws Exception {
        for (int i = 0; i < EACH; i++) {
            String body = "oneway-" + i;
            Message m = message(ctx.topic, "TagA", body);
            p.sendOneway(m);
            // The client stamps its unique id (UNIQ_KEY, the msgId consumers see) before sending.
            sent.put(MessageClientIDSetter.getUniqID(m), body);
        }
    }

    private static void batch(Context ctx, DefaultMQProducer p, Map<String, String> sent) throws Exception {
        List<Message> batch = new ArrayList<>();
        for (int i = 0; i < BATCH; i++) {
            batch.add(message(ctx.topic, "TagA", "batch-" + i));
        }
        SendResult r = p.send(batch, 10_000);
        String[] ids = r.getMsgId().split(",");
        if (r.getSendStatus() != SendStatus.SEND_OK || ids.length != BATCH) {
            throw new IllegalStateException("batch send: " + r);
        }
        for (int i = 0; i < BATCH; i++) {
            sent.put(ids[i], "batch-" + i);
        }
    }

    private static Map<String, String> assignSeek(Context ctx, int total) throws Exception {
        DefaultLitePullConsumer c = ctx.litePull(ctx.group + "_assign", "sends_assign");
        c.setAutoCommit(false);
        c.start();
        try {
            Collection<MessageQueue> queues = c.fetchMessageQueues(ctx.topic);
            c.assign(queues);
            for (MessageQueue q : queues) {
                seek(c, q);
            }
            return Context.pollUntil(c, total);
        } finally {
            c.shutdown();
        }
    }

    /**
     * Seeks {@code q} to 0, retrying a seek that failed on a client-side channel close. The 5.x lite
     * pull consumer starts a pull task per queue on {@code assign}; {@code seek} interrupts the running
     * task ({@code PullTaskImpl.tryInterrupt}), and a task interrupted inside a synchronous request makes
     * the client close the shared broker channel, so a concurrent request of this thread (the min/max
     * offset lookups seek makes) can fail with RemotingSendRequestException. The broker never sees a
     * close: this is the client racing with itself, and a user of the client retries the same way.
     */
    private static void seek(DefaultLitePullConsumer c, MessageQueue q) throws Exception {
        for (int attempt = 1;; attempt++) {
            try {
                c.seek(q, 0);
                return;
            } catch (MQClientException e) {
                if (attempt == 3) {
                    throw e;
                }
                System.err.println("seek " + q + " failed (attempt " + attempt + "), retrying: " + e);
                Thread.sleep(200);
            }
        }
    }

    private static Map<String, String> subscribe(Context ctx, int total) throws Exception {
        DefaultLitePullConsumer c = ctx.litePull(ctx.group + "_subscribe", "sends_subscribe");
        c.subscribe(ctx.topic, "*");
        c.start();
        try {
            return Context.pollUntil(c, total);
        } finally {
            c.shutdown();
        }
    }
}
