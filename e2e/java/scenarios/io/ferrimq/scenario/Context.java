package io.ferrimq.scenario;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
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
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.MessageExt;

/** What a scenario runs against, and the client plumbing every scenario shares. */
final class Context {
    /** How long a scenario waits for an expected set before failing. */
    static final long TIMEOUT_MS = 60_000;

    final String namesrv;
    final String topic;
    final String group;
    final Path dir;

    Context(String namesrv, String topic, String group, String dir) {
        this.namesrv = namesrv;
        this.topic = topic;
        this.group = group;
        this.dir = Paths.get(dir);
    }

    DefaultMQProducer producer(String instance) throws Exception {
        DefaultMQProducer p = new DefaultMQProducer(group + "_producer");
        p.setNamesrvAddr(namesrv);
        p.setInstanceName(instance);
        p.start();
        return p;
    }

    DefaultLitePullConsumer litePull(String group, String instance) {
        DefaultLitePullConsumer c = new DefaultLitePullConsumer(group);
        c.setNamesrvAddr(namesrv);
        c.setInstanceName(instance);
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        return c;
    }

    /** A concurrently-consuming push consumer that records (msgId, body) into {@code into}. */
    DefaultMQPushConsumer push(String instance, boolean broadcasting, String expression,
        ConcurrentMap<String, String> into) throws Exception {
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(group);
        c.setNamesrvAddr(namesrv);
        c.setInstanceName(instance);
        if (broadcasting) {
            setBroadcasting(c);
        }
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(topic, expression);
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) -> {
            for (MessageExt m : msgs) {
                into.put(m.getMsgId(), body(m));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        return c;
    }

    /**
     * MessageModel moved packages between 4.9 and 5.x (common.protocol vs remoting.protocol), so the
     * model is set through the setter's own parameter type to compile against both clients.
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void setBroadcasting(DefaultMQPushConsumer c) throws Exception {
        for (java.lang.reflect.Method m : DefaultMQPushConsumer.class.getMethods()) {
            if (m.getName().equals("setMessageModel")) {
                m.invoke(c, Enum.valueOf((Class) m.getParameterTypes()[0], "BROADCASTING"));
                return;
            }
        }
        throw new IllegalStateException("no setMessageModel");
    }

    static String body(MessageExt m) {
        return new String(m.getBody(), StandardCharsets.UTF_8);
    }

    /** Polls {@code c} until {@code want} distinct messages were seen (or the timeout). */
    static Map<String, String> pollUntil(DefaultLitePullConsumer c, int want) {
        Map<String, String> got = new TreeMap<>();
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        while (got.size() < want && System.currentTimeMillis() < deadline) {
            for (MessageExt m : c.poll(500)) {
                got.put(m.getMsgId(), body(m));
            }
        }
        return got;
    }

    /** Waits until {@code got} holds at least {@code want} entries, then {@code settleMs} more. */
    static void awaitSize(ConcurrentMap<String, String> got, int want, long settleMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        while (got.size() < want && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(settleMs);
    }

    static ConcurrentMap<String, String> concurrentMap() {
        return new ConcurrentHashMap<>();
    }

    /** Fails with the missing and unexpected entries unless {@code got} equals {@code want}. */
    static void check(String what, Map<String, String> want, Map<String, String> got) {
        if (!new TreeMap<>(want).equals(new TreeMap<>(got))) {
            Map<String, String> missing = new TreeMap<>(want);
            missing.keySet().removeAll(got.keySet());
            Map<String, String> extra = new TreeMap<>(got);
            extra.keySet().removeAll(want.keySet());
            throw new IllegalStateException(what + ": got " + got.size() + " of " + want.size()
                + "; missing " + missing + "; unexpected " + extra);
        }
    }

    void save(String name, Map<String, String> set) throws Exception {
        List<String> lines = new ArrayList<>();
        set.forEach((k, v) -> lines.add(k + "\t" + v));
        Files.write(dir.resolve(name), lines, StandardCharsets.UTF_8);
    }

    Map<String, String> load(String name) throws Exception {
        Map<String, String> out = new TreeMap<>();
        for (String line : Files.readAllLines(dir.resolve(name), StandardCharsets.UTF_8)) {
            String[] kv = line.split("\t", 2);
            out.put(kv[0], kv[1]);
        }
        return out;
    }
}
