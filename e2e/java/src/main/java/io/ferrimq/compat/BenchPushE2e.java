package io.ferrimq.compat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Send-to-consume latency seen by the official RocketMQ 5.3 push consumer
 * ({@code DefaultMQPushConsumer}, concurrently, clustering) at a fixed, light rate: N producer
 * threads send synchronously on a schedule, each body stamped with the run id, a sequence number
 * and the send's slot time ({@code System.nanoTime()} of the scheduled send: a sender running
 * behind schedule does not hide the delay); the listener records receipt minus slot time. Producer
 * and consumer share this JVM, so one clock measures both ends. Sends of the warm-up are counted
 * but not measured. Messages without this run's id (an earlier load on the topic) are ignored.
 *
 * <p>Counting is exact: after the senders stop, the consumer gets up to --drain seconds to receive
 * everything acknowledged. Prints one JSON line: {@code {"tool":"java-push-consumer",
 * "e2e_p50_us":..,"e2e_p99_us":..,"e2e_p999_us":..,"e2e_max_us":..,"measured":..,"sent":..,
 * "acknowledged":..,"received":..,"failed":..,"duplicates":..,"missing":..}}.
 */
public final class BenchPushE2e {
    private static final String USAGE = "BenchPushE2e --namesrv H:P --topic T [--rate 1000] "
        + "[--producers 8] [--size 1024] [--seconds 20] [--warmup 5] [--drain 10]";
    /** One bucket per microsecond up to 2 s; the last one holds longer latencies. */
    private static final int BUCKETS = 2_000_001;
    /** Run id (8) + sequence (8) + slot time (8). */
    private static final int STAMP = 24;

    private final long runId = ThreadLocalRandom.current().nextLong();
    private final AtomicLongArray hist = new AtomicLongArray(BUCKETS);
    private final AtomicLong maxUs = new AtomicLong();
    private final AtomicLong duplicates = new AtomicLong();
    private final BitSet acknowledged = new BitSet();
    private final BitSet received = new BitSet();
    private final AtomicLong sent = new AtomicLong();
    private volatile long measureFrom = Long.MAX_VALUE;

    private BenchPushE2e() {
    }

    public static void main(String[] args) throws Exception {
        Options o = new Options(args, USAGE);
        new BenchPushE2e().run(o);
    }

    private void run(Options o) throws Exception {
        String namesrv = o.required("namesrv");
        String topic = o.required("topic");
        double rate = Double.parseDouble(o.optional("rate", "1000"));
        int producers = Integer.parseInt(o.optional("producers", "8"));
        int size = Math.max(STAMP, Integer.parseInt(o.optional("size", "1024")));
        long seconds = Long.parseLong(o.optional("seconds", "20"));
        long warmup = Long.parseLong(o.optional("warmup", "5"));
        long drain = Long.parseLong(o.optional("drain", "10"));

        DefaultMQPushConsumer consumer = consumer(namesrv, topic);
        DefaultMQProducer producer = new DefaultMQProducer("ferrimq_push_e2e_producer");
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName("push_e2e_" + System.nanoTime());
        producer.setCompressMsgBodyOverHowmuch(Integer.MAX_VALUE);
        producer.setSendMsgTimeout(10_000);
        producer.start();

        long start = System.nanoTime() + 200_000_000L;
        measureFrom = start + warmup * 1_000_000_000L;
        long end = measureFrom + seconds * 1_000_000_000L;
        long period = (long) (1e9 * producers / rate);
        AtomicLong failed = new AtomicLong();
        List<Thread> senders = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            long first = start + p * period / producers;
            Thread t = new Thread(() -> send(producer, topic, size, first, period, end, failed),
                "push-e2e-sender-" + p);
            t.setDaemon(true);
            t.start();
            senders.add(t);
        }
        for (Thread t : senders) {
            t.join();
        }
        long deadline = System.nanoTime() + drain * 1_000_000_000L;
        while (System.nanoTime() < deadline && missing() > 0) {
            Thread.sleep(50);
        }
        producer.shutdown();
        consumer.shutdown();
        report(failed.get());
    }

    private DefaultMQPushConsumer consumer(String namesrv, String topic) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer("ferrimq_push_e2e_" + (runId & 0xffffff));
        c.setNamesrvAddr(namesrv);
        c.setInstanceName("push_e2e_consumer_" + System.nanoTime());
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET);
        c.subscribe(topic, "*");
        c.registerMessageListener((MessageListenerConcurrently) (msgs, ctx) -> {
            long now = System.nanoTime();
            for (MessageExt m : msgs) {
                receive(m.getBody(), now);
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        awaitAssignment(c, topic);
        announceSubscription(c);
        return c;
    }

    /**
     * After its rebalance the client raises the subscription's version and sends a heartbeat, but
     * only if its heartbeat lock is free: when the periodic heartbeat (first one 1 s after start)
     * holds it, the new version is never sent, and every pull is answered SUBSCRIPTION_NOT_LATEST
     * (the Java broker's check, and ours) until the next periodic heartbeat, 30 s later. That is a
     * start-up race of the client against any broker; one heartbeat here keeps it out of the figure.
     */
    private static void announceSubscription(DefaultMQPushConsumer c) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!c.getDefaultMQPushConsumerImpl().getmQClientFactory().sendHeartbeatToAllBrokerWithLock()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("push consumer heartbeat not sent within 10 s");
            }
            Thread.sleep(20);
        }
    }

    /** Waits (30 s at most) until the consumer owns every queue of the topic and computed where to pull. */
    private static void awaitAssignment(DefaultMQPushConsumer c, String topic) throws Exception {
        int queues = c.fetchSubscribeMessageQueues(topic).size();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().size() < queues) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("push consumer not assigned the " + queues + " queues of " + topic);
            }
            Thread.sleep(20);
        }
    }

    /** One sender: a synchronous send every {@code period} ns from {@code first} until {@code end}. */
    private void send(DefaultMQProducer producer, String topic, int size, long first, long period, long end,
        AtomicLong failed) {
        for (long slot = first; slot < end; slot += period) {
            long wait = slot - System.nanoTime();
            if (wait > 0) {
                LockSupport.parkNanos(wait);
            }
            long n = sent.getAndIncrement();
            ByteBuffer body = ByteBuffer.allocate(size);
            body.putLong(runId).putLong(n).putLong(slot);
            try {
                if (producer.send(new Message(topic, body.array())).getSendStatus() == SendStatus.SEND_OK) {
                    synchronized (acknowledged) {
                        acknowledged.set((int) n);
                    }
                }
            } catch (Exception e) {
                failed.incrementAndGet();
            }
        }
    }

    private void receive(byte[] body, long now) {
        if (body == null || body.length < STAMP) {
            return;
        }
        ByteBuffer b = ByteBuffer.wrap(body);
        if (b.getLong() != runId) {
            return;
        }
        int seq = (int) b.getLong();
        long slot = b.getLong();
        synchronized (received) {
            if (received.get(seq)) {
                duplicates.incrementAndGet();
                return;
            }
            received.set(seq);
        }
        if (slot >= measureFrom) {
            long us = Math.max(0, (now - slot) / 1000);
            hist.incrementAndGet((int) Math.min(us, BUCKETS - 1));
            maxUs.accumulateAndGet(us, Math::max);
        }
    }

    private int missing() {
        BitSet gap;
        synchronized (acknowledged) {
            gap = (BitSet) acknowledged.clone();
        }
        synchronized (received) {
            gap.andNot(received);
        }
        return gap.cardinality();
    }

    private void report(long failed) {
        long total = 0;
        for (int i = 0; i < BUCKETS; i++) {
            total += hist.get(i);
        }
        int acked;
        int got;
        synchronized (acknowledged) {
            acked = acknowledged.cardinality();
        }
        synchronized (received) {
            got = received.cardinality();
        }
        System.out.println(String.format(java.util.Locale.ROOT,
            "{\"tool\":\"java-push-consumer\",\"e2e_p50_us\":%d,\"e2e_p99_us\":%d,\"e2e_p999_us\":%d,"
                + "\"e2e_max_us\":%d,\"measured\":%d,\"sent\":%d,\"acknowledged\":%d,\"received\":%d,"
                + "\"failed\":%d,\"duplicates\":%d,\"missing\":%d}",
            pct(total, 0.50), pct(total, 0.99), pct(total, 0.999), maxUs.get(), total, sent.get(), acked, got,
            failed, duplicates.get(), missing()));
    }

    /** The smallest latency (us) at or below which a fraction {@code q} of the receipts fall. */
    private long pct(long total, double q) {
        long want = (long) Math.ceil(q * total);
        long seen = 0;
        for (int b = 0; b < BUCKETS && want > 0; b++) {
            seen += hist.get(b);
            if (seen >= want) {
                return b;
            }
        }
        return 0;
    }
}
