package io.ferrimq.compat;

import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;

/**
 * A load generator on the official RocketMQ 5.3 Java client, the second opinion next to
 * {@code ferrimq bench produce} in scripts/perf-compare.sh. It works like RocketMQ's own example
 * benchmark producer (not published to Maven Central, so not usable from here): N threads, each
 * doing synchronous sends of a fixed-size body in a loop, on one client instance. A warm-up is not
 * counted. Prints one JSON line: {@code {"tool":"java-client","msgs_per_s":..,"mb_per_s":..,
 * "p50_us":..,"p99_us":..,"p999_us":..,"max_us":..,"sent":..,"errors":..}}.
 */
public final class BenchProducer {
    private static final String USAGE = "BenchProducer --namesrv H:P --topic T [--threads 64] "
        + "[--size 1024] [--seconds 30] [--warmup 5] [--topics 1]";
    /** Per-thread histogram: one bucket per microsecond up to 200 ms, the last one for longer sends. */
    private static final int BUCKETS = 200_001;

    private BenchProducer() {
    }

    public static void main(String[] args) throws Exception {
        Options o = new Options(args, USAGE);
        int threads = Integer.parseInt(o.optional("threads", "64"));
        int size = Integer.parseInt(o.optional("size", "1024"));
        long seconds = Long.parseLong(o.optional("seconds", "30"));
        long warmup = Long.parseLong(o.optional("warmup", "5"));
        int topics = Integer.parseInt(o.optional("topics", "1"));
        String topic = o.required("topic");

        DefaultMQProducer producer = new DefaultMQProducer("ferrimq_java_bench");
        producer.setNamesrvAddr(o.required("namesrv"));
        producer.setInstanceName("java_bench_" + System.nanoTime());
        producer.setCompressMsgBodyOverHowmuch(Integer.MAX_VALUE);
        producer.setSendMsgTimeout(10_000);
        producer.start();
        byte[] body = new byte[size];
        Arrays.fill(body, (byte) 'x');

        AtomicBoolean measuring = new AtomicBoolean(false);
        AtomicBoolean stop = new AtomicBoolean(false);
        AtomicLong errors = new AtomicLong();
        long[][] hist = new long[threads][];
        long[] maxUs = new long[threads];
        CountDownLatch done = new CountDownLatch(threads);
        for (int t = 0; t < threads; t++) {
            final int id = t;
            hist[id] = new long[BUCKETS];
            Thread worker = new Thread(() -> {
                try {
                    long n = 0;
                    while (!stop.get()) {
                        String target = topics == 1 ? topic : topic + "-" + ((id + n++) % topics);
                        long start = System.nanoTime();
                        boolean ok = send(producer, new Message(target, body));
                        long us = (System.nanoTime() - start) / 1000;
                        if (!ok) {
                            errors.incrementAndGet();
                        } else if (measuring.get()) {
                            hist[id][(int) Math.min(us, BUCKETS - 1)]++;
                            maxUs[id] = Math.max(maxUs[id], us);
                        }
                    }
                } finally {
                    done.countDown();
                }
            }, "bench-" + t);
            worker.setDaemon(true);
            worker.start();
        }
        Thread.sleep(warmup * 1000);
        errors.set(0);
        long begin = System.nanoTime();
        measuring.set(true);
        Thread.sleep(seconds * 1000);
        measuring.set(false);
        double elapsed = (System.nanoTime() - begin) / 1e9;
        stop.set(true);
        done.await();
        producer.shutdown();
        report(hist, maxUs, elapsed, size, errors.get());
    }

    private static boolean send(DefaultMQProducer producer, Message msg) {
        try {
            SendResult r = producer.send(msg);
            return r.getSendStatus() == SendStatus.SEND_OK;
        } catch (Exception e) {
            return false;
        }
    }

    private static void report(long[][] hist, long[] maxUs, double elapsed, int size, long errors) {
        long[] merged = new long[BUCKETS];
        long total = 0;
        long max = 0;
        for (int t = 0; t < hist.length; t++) {
            for (int b = 0; b < BUCKETS; b++) {
                merged[b] += hist[t][b];
                total += hist[t][b];
            }
            max = Math.max(max, maxUs[t]);
        }
        double rate = total / elapsed;
        String json = String.format(java.util.Locale.ROOT,
            "{\"tool\":\"java-client\",\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,\"p50_us\":%d,"
                + "\"p99_us\":%d,\"p999_us\":%d,\"max_us\":%d,\"sent\":%d,\"errors\":%d}",
            rate, rate * size / 1e6, pct(merged, total, 0.50), pct(merged, total, 0.99),
            pct(merged, total, 0.999), max, total, errors);
        System.out.println(json);
    }

    /** The smallest latency (us) at or below which a fraction {@code q} of the sends fall. */
    private static long pct(long[] hist, long total, double q) {
        long want = (long) Math.ceil(q * total);
        long seen = 0;
        for (int b = 0; b < hist.length; b++) {
            seen += hist[b];
            if (seen >= want && want > 0) {
                return b;
            }
        }
        return 0;
    }
}
