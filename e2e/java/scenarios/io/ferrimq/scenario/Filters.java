package io.ferrimq.scenario;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.IntPredicate;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.MessageSelector;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Broker-side filters with the official clients: SQL92 selectors ({@code MessageSelector.bySql}) on a
 * push and on a lite pull consumer, a {@code TagA || TagC} tag subscription on a lite pull consumer,
 * each asserting exactly the matching (msgId, body) set, and a broker without enablePropertyFilter
 * refusing a SQL92 push consumer at start (CHECK_CLIENT_CONFIG).
 *
 * <p>Message i (0..39) carries tag TagA/TagB/TagC by i % 3, key k{i}, user properties {@code a = i},
 * {@code color} red/green/blue by i % 3 shifted, and {@code vip = yes} only when i % 5 == 0.
 */
final class Filters {
    private static final int COUNT = 40;
    private static final String[] TAGS = {"TagA", "TagB", "TagC"};
    private static final String[] COLORS = {"red", "green", "blue"};

    /** The selector of the push scenario and the same predicate in Java. */
    static final String PUSH_SQL =
        "(a BETWEEN 5 AND 24 AND color IN ('red', 'blue')) OR (TAGS = 'TagC' AND a > 33)";
    static final IntPredicate PUSH_WANT =
        i -> (i >= 5 && i <= 24 && (color(i).equals("red") || color(i).equals("blue")))
            || (tag(i).equals("TagC") && i > 33);

    /** The selector of the lite pull scenario and the same predicate in Java. */
    static final String LITE_SQL =
        "vip IS NOT NULL AND a NOT BETWEEN 10 AND 20 OR KEYS = 'k13' OR color = 'green' AND a >= 36";
    static final IntPredicate LITE_WANT =
        i -> (i % 5 == 0 && (i < 10 || i > 20)) || i == 13 || (color(i).equals("green") && i >= 36);

    private Filters() {
    }

    static String tag(int i) {
        return TAGS[i % 3];
    }

    static String color(int i) {
        return COLORS[(i / 3) % 3];
    }

    /** Sends the 40 messages; returns msgId -> body for those {@code want} selects. */
    static Map<String, String> produce(Context ctx, IntPredicate want) throws Exception {
        DefaultMQProducer p = ctx.producer("filters");
        // Generous: the first send of a new topic fetches its route on a busy test machine.
        p.setSendMsgTimeout(15_000);
        Map<String, String> wanted = new TreeMap<>();
        try {
            for (int i = 0; i < COUNT; i++) {
                String body = "filter-" + i;
                Message m = new Message(ctx.topic, tag(i), "k" + i, body.getBytes(StandardCharsets.UTF_8));
                m.putUserProperty("a", Integer.toString(i));
                m.putUserProperty("color", color(i));
                if (i % 5 == 0) {
                    m.putUserProperty("vip", "yes");
                }
                SendResult r = p.send(m);
                if (r.getSendStatus() != SendStatus.SEND_OK) {
                    throw new IllegalStateException("send " + i + ": " + r);
                }
                if (want.test(i)) {
                    wanted.put(r.getMsgId(), body);
                }
            }
        } finally {
            p.shutdown();
        }
        return wanted;
    }

    /** A push consumer with {@link #PUSH_SQL}. */
    static int sqlPush(Context ctx) throws Exception {
        Map<String, String> wanted = produce(ctx, PUSH_WANT);
        ConcurrentMap<String, String> got = Context.concurrentMap();
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName("sql_push");
        c.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        c.subscribe(ctx.topic, MessageSelector.bySql(PUSH_SQL));
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) -> {
            for (MessageExt m : msgs) {
                got.put(m.getMsgId(), Context.body(m));
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        c.start();
        try {
            Context.awaitSize(got, wanted.size(), 2000);
        } finally {
            c.shutdown();
        }
        Context.check(PUSH_SQL, wanted, got);
        return wanted.size();
    }

    /** A lite pull consumer with {@link #LITE_SQL}. */
    static int sqlLite(Context ctx) throws Exception {
        Map<String, String> wanted = produce(ctx, LITE_WANT);
        return litePull(ctx, "sql_lite", MessageSelector.bySql(LITE_SQL), LITE_SQL, wanted);
    }

    /** A lite pull consumer subscribing {@code TagA || TagC}. */
    static int tagsLite(Context ctx) throws Exception {
        Map<String, String> wanted = produce(ctx, i -> !tag(i).equals("TagB"));
        return litePull(ctx, "tags_lite", MessageSelector.byTag("TagA || TagC"), "TagA || TagC", wanted);
    }

    private static int litePull(Context ctx, String instance, MessageSelector selector, String what,
        Map<String, String> wanted) throws Exception {
        DefaultLitePullConsumer c = ctx.litePull(ctx.group, instance);
        c.subscribe(ctx.topic, selector);
        c.start();
        Map<String, String> got;
        try {
            got = Context.pollUntil(c, wanted.size());
            // Anything beyond the wanted set would show up within a few more polls.
            for (int i = 0; i < 4; i++) {
                for (MessageExt m : c.poll(500)) {
                    got.put(m.getMsgId(), Context.body(m));
                }
            }
        } finally {
            c.shutdown();
        }
        Context.check(what, wanted, got);
        return wanted.size();
    }

    /**
     * Against a broker with enablePropertyFilter=false: the push consumer's start fails with the
     * broker's CHECK_CLIENT_CONFIG answer (SYSTEM_ERROR and its remark). Returns the response code.
     */
    static int sqlDisabled(Context ctx) throws Exception {
        produce(ctx, i -> false);
        DefaultMQPushConsumer c = new DefaultMQPushConsumer(ctx.group);
        c.setNamesrvAddr(ctx.namesrv);
        c.setInstanceName("sql_disabled");
        c.subscribe(ctx.topic, MessageSelector.bySql("a > 1"));
        c.registerMessageListener((MessageListenerConcurrently) (msgs, cc) ->
            ConsumeConcurrentlyStatus.CONSUME_SUCCESS);
        try {
            c.start();
        } catch (MQClientException e) {
            String expected = "The broker does not support consumer to filter message by SQL92";
            if (e.getResponseCode() != 1 || !expected.equals(e.getErrorMessage())) {
                throw new IllegalStateException("unexpected refusal: code " + e.getResponseCode()
                    + ", message " + e.getErrorMessage(), e);
            }
            return e.getResponseCode();
        } finally {
            c.shutdown();
        }
        throw new IllegalStateException("a SQL92 push consumer started on a broker without enablePropertyFilter");
    }
}
