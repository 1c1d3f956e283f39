package io.ferrimq.scenario;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeOrderlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerOrderly;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.MessageQueueSelector;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Orderly consumption ({@code MessageListenerOrderly}) with a {@code MessageQueueSelector} by key:
 * 8 keys, each key's messages numbered 0..N-1 in send order. Member A consumes alone, member B
 * joins (queues move under LOCK_BATCH_MQ), A leaves (B takes everything); every key's messages
 * are consumed in send order, each once except that the one message in flight when a queue changes
 * hands may be consumed again by the new owner right away (the official client persists the offset
 * before it stops consuming); after A left only B consumes. Prints the distinct count.
 */
final class Orderly {
    private static final int KEYS = 8;
    private static final int PER_PHASE = 15;

    private Orderly() {
    }

    /** Key id -> queue index (the selector's argument). */
    private static final MessageQueueSelector BY_KEY = (mqs, msg, arg) -> mqs.get((Integer) arg % mqs.size());

    private static DefaultMQPushConsumer member(Context ctx, String name, ConcurrentMap<Integer, List<String>> into,
        AtomicInteger total) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName(name);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(ctx.topic, "*");
        c.registerMessageListener((MessageListenerOrderly) (msgs, oc) -> {
            for (MessageExt m : msgs) {
                int key = Integer.parseInt(m.getKeys().substring("key".length()));
                into.computeIfAbsent(key, k -> Collections.synchronizedList(new ArrayList<>()))
                    .add(name + ":" + Context.body(m));
                total.incrementAndGet();
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return ConsumeOrderlyStatus.SUCCESS;
        });
        c.start();
        return c;
    }

    private static void send(Context ctx, DefaultMQProducer p, int phase) throws Exception {
        for (int seq = phase * PER_PHASE; seq < (phase + 1) * PER_PHASE; seq++) {
            for (int key = 0; key < KEYS; key++) {
                Message m = new Message(ctx.topic, "order", "key" + key, String.format("%d-%03d", key, seq).getBytes("UTF-8"));
                SendResult r = p.send(m, BY_KEY, key, 10_000);
                if (r.getSendStatus() != SendStatus.SEND_OK) {
                    throw new IllegalStateException("send: " + r);
                }
            }
        }
    }

    private static void await(AtomicInteger total, int want) throws InterruptedException {
        long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
        while (total.get() < want && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
    }

    static int run(Context ctx) throws Exception {
        ConcurrentMap<Integer, List<String>> got = new ConcurrentHashMap<>();
        AtomicInteger total = new AtomicInteger();
        DefaultMQProducer p = ctx.producer("orderly");
        DefaultMQPushConsumer a = member(ctx, "member_a", got, total);
        DefaultMQPushConsumer b = null;
        try {
            send(ctx, p, 0);
            await(total, KEYS * PER_PHASE / 2);
            b = member(ctx, "member_b", got, total);
            send(ctx, p, 1);
            await(total, 2 * KEYS * PER_PHASE);
            a.shutdown();
            send(ctx, p, 2);
            await(total, 3 * KEYS * PER_PHASE);
            Thread.sleep(1500);
            int perKey = 3 * PER_PHASE;
            boolean bConsumed = false;
            int distinct = 0;
            for (int key = 0; key < KEYS; key++) {
                List<String> seen = new ArrayList<>(got.getOrDefault(key, Collections.emptyList()));
                List<String> firsts = new ArrayList<>();
                String prevMember = null;
                int prevSeq = -1;
                for (String s : seen) {
                    String member = s.substring(0, s.indexOf(':'));
                    String body = s.substring(s.indexOf(':') + 1);
                    int seq = Integer.parseInt(body.substring(body.indexOf('-') + 1));
                    bConsumed |= member.equals("member_b");
                    if (seq >= 2 * PER_PHASE && !member.equals("member_b")) {
                        throw new IllegalStateException("key " + key + ": " + s + " consumed by the member that left");
                    }
                    // In order; the only repeat allowed is the one message in flight when the
                    // queue changed hands (the official client persists before it stops consuming).
                    boolean handoverRepeat = seq == prevSeq && !member.equals(prevMember);
                    if (seq < prevSeq || (seq == prevSeq && !handoverRepeat)) {
                        throw new IllegalStateException("key " + key + " out of order at " + s + ": " + seen);
                    }
                    if (seq != prevSeq) {
                        firsts.add(body);
                    }
                    prevSeq = seq;
                    prevMember = member;
                }
                List<String> want = new ArrayList<>();
                for (int seq = 0; seq < perKey; seq++) {
                    want.add(String.format("%d-%03d", key, seq));
                }
                if (!firsts.equals(want)) {
                    throw new IllegalStateException("key " + key + " consumed as " + seen + ", want " + want);
                }
                distinct += firsts.size();
            }
            if (!bConsumed) {
                throw new IllegalStateException("the member that joined consumed nothing");
            }
            return distinct;
        } finally {
            p.shutdown();
            if (b != null) {
                b.shutdown();
            }
            a.shutdown();
        }
    }
}
