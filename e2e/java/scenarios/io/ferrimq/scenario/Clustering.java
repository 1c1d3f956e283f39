package io.ferrimq.scenario;

import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentMap;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.MessageQueue;

/** Push consumers: clustering with a rebalance when one member leaves, broadcasting, tag filters. */
final class Clustering {
    private static final int PHASE = 40;

    private Clustering() {
    }

    /** Sends {@code n} messages tagged {@code tag} and returns their (msgId, body). */
    static Map<String, String> produce(Context ctx, DefaultMQProducer p, String prefix, String tag, int n)
        throws Exception {
        Map<String, String> sent = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            String body = prefix + "-" + i;
            SendResult r = p.send(SendModes.message(ctx.topic, tag, body), 10_000);
            if (r.getSendStatus() != SendStatus.SEND_OK) {
                throw new IllegalStateException("send " + body + ": " + r);
            }
            sent.put(r.getMsgId(), body);
        }
        return sent;
    }

    /** The queues of the scenario topic (not the group's %RETRY% topic) that {@code c} consumes. */
    private static Set<MessageQueue> owned(DefaultMQPushConsumer c, String topic) {
        Set<MessageQueue> out = new java.util.TreeSet<>();
        for (MessageQueue q : c.getDefaultMQPushConsumerImpl().getRebalanceImpl().getProcessQueueTable().keySet()) {
            if (q.getTopic().equals(topic)) {
                out.add(q);
            }
        }
        return out;
    }

    /** Waits until the members together own {@code queues} queues, each member at least one. */
    private static void awaitBalanced(String topic, int queues, DefaultMQPushConsumer... members) throws Exception {
        long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
        while (System.currentTimeMillis() < deadline) {
            int sum = 0;
            boolean each = true;
            for (DefaultMQPushConsumer m : members) {
                sum += owned(m, topic).size();
                each &= !owned(m, topic).isEmpty();
            }
            if (sum == queues && each) {
                return;
            }
            Thread.sleep(100);
        }
        StringBuilder s = new StringBuilder("no balanced assignment of " + queues + " queues:");
        for (DefaultMQPushConsumer m : members) {
            s.append(' ').append(owned(m, topic));
        }
        throw new IllegalStateException(s.toString());
    }

    static int rebalance(Context ctx) throws Exception {
        DefaultMQProducer p = ctx.producer("rebalance");
        try {
            Map<String, String> first = produce(ctx, p, "before-leave", "TagA", PHASE);
            int queues = p.fetchPublishMessageQueues(ctx.topic).size();
            ConcurrentMap<String, String> a = Context.concurrentMap();
            ConcurrentMap<String, String> b = Context.concurrentMap();
            DefaultMQPushConsumer ca = ctx.push("member_a", false, "*", a);
            DefaultMQPushConsumer cb = ctx.push("member_b", false, "*", b);
            try {
                awaitBalanced(ctx.topic, queues, ca, cb);
                ConcurrentMap<String, String> union = Context.concurrentMap();
                long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
                while (union.size() < PHASE && System.currentTimeMillis() < deadline) {
                    union.putAll(a);
                    union.putAll(b);
                    Thread.sleep(50);
                }
                Context.check("both members before leave", first, union);
                if (b.isEmpty()) {
                    throw new IllegalStateException("member B consumed nothing before leaving: " + a.size());
                }
            } finally {
                cb.shutdown();
            }
            try {
                awaitBalanced(ctx.topic, queues, ca);
                Map<String, String> second = produce(ctx, p, "after-leave", "TagA", PHASE);
                Map<String, String> all = new TreeMap<>(first);
                all.putAll(second);
                long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
                while (!a.keySet().containsAll(second.keySet()) && System.currentTimeMillis() < deadline) {
                    Thread.sleep(50);
                }
                Map<String, String> union = new TreeMap<>(a);
                union.putAll(b);
                Context.check("after member B left", all, union);
                return all.size();
            } finally {
                ca.shutdown();
            }
        } finally {
            p.shutdown();
        }
    }

    static int broadcast(Context ctx) throws Exception {
        DefaultMQProducer p = ctx.producer("broadcast");
        try {
            Map<String, String> sent = produce(ctx, p, "broadcast", "TagA", PHASE);
            ConcurrentMap<String, String> a = Context.concurrentMap();
            ConcurrentMap<String, String> b = Context.concurrentMap();
            DefaultMQPushConsumer ca = ctx.push("broadcast_a", true, "*", a);
            DefaultMQPushConsumer cb = ctx.push("broadcast_b", true, "*", b);
            try {
                Context.awaitSize(a, PHASE, 0);
                Context.awaitSize(b, PHASE, 500);
            } finally {
                ca.shutdown();
                cb.shutdown();
            }
            Context.check("broadcast member A", sent, a);
            Context.check("broadcast member B", sent, b);
            return sent.size();
        } finally {
            p.shutdown();
        }
    }

    static int tags(Context ctx) throws Exception {
        DefaultMQProducer p = ctx.producer("tags");
        Map<String, String> wanted = new TreeMap<>();
        try {
            wanted.putAll(produce(ctx, p, "tag-a", "TagA", 10));
            wanted.putAll(produce(ctx, p, "tag-b", "TagB", 10));
            produce(ctx, p, "tag-c", "TagC", 10);
            wanted.putAll(produce(ctx, p, "tag-a-late", "TagA", 5));
        } finally {
            p.shutdown();
        }
        ConcurrentMap<String, String> got = Context.concurrentMap();
        DefaultMQPushConsumer c = ctx.push("tags", false, "TagA || TagB", got);
        try {
            Context.awaitSize(got, wanted.size(), 1500);
        } finally {
            c.shutdown();
        }
        Context.check("TagA || TagB", wanted, got);
        return wanted.size();
    }
}
