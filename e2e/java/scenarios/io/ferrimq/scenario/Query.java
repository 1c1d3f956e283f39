package io.ferrimq.scenario;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Message queries across a broker restart. {@code query-send} sends {@link #COUNT} messages, each with
 * its own key {@code <topic>-key-<i>} plus the key {@code <topic>-shared} carried by all of them, and
 * saves {@code uniqKey -> offsetMsgId, own key, body} to {@code query-sent.tsv} under {@code --dir}; the
 * test restarts (or kills and restarts) ferrimq; {@code query-check} then asks the broker through the
 * client's MQAdmin API and must find every message with its exact body and keys:
 * viewMessage(topic, offsetMsgId) (VIEW_MESSAGE_BY_ID), queryMessageByUniqKey(topic, uniqKey) (the
 * unique-key index query; the 5.x producer no longer exposes a one-argument viewMessage),
 * queryMessage(topic, ownKey) (exactly one) and queryMessage(topic, sharedKey) (exactly all).
 */
final class Query {
    static final int COUNT = 6;
    private static final String FILE = "query-sent.tsv";

    private Query() {
    }

    static int send(Context ctx) throws Exception {
        DefaultMQProducer p = ctx.producer("query_send");
        Map<String, String> sent = new TreeMap<>();
        try {
            for (int i = 0; i < COUNT; i++) {
                String body = "query-body-" + i;
                Message m = new Message(ctx.topic, "TagQ", body.getBytes("UTF-8"));
                m.setKeys(Arrays.asList(ownKey(ctx, i), sharedKey(ctx)));
                SendResult r = p.send(m, 10_000);
                if (r.getSendStatus() != SendStatus.SEND_OK || r.getOffsetMsgId() == null) {
                    throw new IllegalStateException("send: " + r);
                }
                sent.put(r.getMsgId(), r.getOffsetMsgId() + "\t" + ownKey(ctx, i) + "\t" + body);
            }
        } finally {
            p.shutdown();
        }
        ctx.save(FILE, sent);
        return sent.size();
    }

    static int check(Context ctx) throws Exception {
        Map<String, String> sent = ctx.load(FILE);
        DefaultMQProducer p = ctx.producer("query_check");
        try {
            Map<String, String> byShared = new TreeMap<>();
            for (Map.Entry<String, String> e : sent.entrySet()) {
                String[] rec = e.getValue().split("\t");
                String uniq = e.getKey();
                expect("viewMessage(topic, offsetMsgId)", p.viewMessage(ctx.topic, rec[0]), uniq, rec[2]);
                expect("queryMessageByUniqKey(topic, uniqKey)",
                    p.getDefaultMQProducerImpl().queryMessageByUniqKey(ctx.topic, uniq), uniq, rec[2]);
                List<MessageExt> own = byKey(p, ctx.topic, rec[1]);
                if (own.size() != 1) {
                    throw new IllegalStateException("queryMessage " + rec[1] + " found " + own);
                }
                expect("queryMessage(own key)", own.get(0), uniq, rec[2]);
                byShared.put(uniq, rec[2]);
            }
            Map<String, String> shared = new TreeMap<>();
            for (MessageExt m : byKey(p, ctx.topic, sharedKey(ctx))) {
                if (shared.put(m.getMsgId(), Context.body(m)) != null) {
                    throw new IllegalStateException("queryMessage shared key returned " + m.getMsgId() + " twice");
                }
            }
            Context.check("queryMessage(shared key)", byShared, shared);
            return shared.size();
        } finally {
            p.shutdown();
        }
    }

    /** queryMessage over all time, retried while the index is still being rebuilt. */
    private static List<MessageExt> byKey(DefaultMQProducer p, String topic, String key) throws Exception {
        long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
        while (true) {
            try {
                QueryResult r = p.queryMessage(topic, key, 32, 0, Long.MAX_VALUE);
                return new ArrayList<>(r.getMessageList());
            } catch (Exception notYet) {
                if (System.currentTimeMillis() > deadline) {
                    throw notYet;
                }
                Thread.sleep(500);
            }
        }
    }

    private static void expect(String how, MessageExt m, String uniq, String body) {
        String keys = m == null ? null : m.getKeys();
        if (m == null || !uniq.equals(m.getMsgId()) || !body.equals(Context.body(m)) || keys == null
            || keys.split(" ").length != 2 || !"TagQ".equals(m.getTags())) {
            throw new IllegalStateException(how + " for " + uniq + "/" + body + " returned " + m);
        }
    }

    static String ownKey(Context ctx, int i) {
        return ctx.topic + "-key-" + i;
    }

    static String sharedKey(Context ctx) {
        return ctx.topic + "-shared";
    }
}
