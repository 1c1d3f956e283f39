package io.ferrimq.scenario;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.producer.LocalTransactionState;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.SendStatus;
import org.apache.rocketmq.client.producer.TransactionListener;
import org.apache.rocketmq.client.producer.TransactionMQProducer;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageExt;

/**
 * Transactional messages with {@code TransactionMQProducer}: for each of four kinds, {@link #EACH}
 * messages whose local transaction commits, rolls back, or answers UNKNOW and is then resolved by the
 * broker's check-back (commit or rollback). A lite pull consumer must see exactly the committed and
 * check-committed messages (ids and bodies), nothing rolled back, and the check-backs must have
 * asked about exactly the UNKNOW messages. Needs a broker with short transactionCheckInterval /
 * transactionTimeOut (broker/cli/tests/compat_transactions.rs).
 */
final class Transactions {
    static final int EACH = 4;
    static final String[] KINDS = {"commit", "rollback", "unknown-commit", "unknown-rollback"};

    private Transactions() {
    }

    /** Decides by the body's kind; the check-back resolves the UNKNOW kinds and records the ids asked about. */
    static final class Listener implements TransactionListener {
        final Set<String> checked = ConcurrentHashMap.newKeySet();

        @Override
        public LocalTransactionState executeLocalTransaction(Message msg, Object arg) {
            String body = new String(msg.getBody(), StandardCharsets.UTF_8);
            if (body.startsWith("commit-")) {
                return LocalTransactionState.COMMIT_MESSAGE;
            }
            if (body.startsWith("rollback-")) {
                return LocalTransactionState.ROLLBACK_MESSAGE;
            }
            return LocalTransactionState.UNKNOW;
        }

        @Override
        public LocalTransactionState checkLocalTransaction(MessageExt msg) {
            String body = Context.body(msg);
            checked.add(msg.getTransactionId() != null ? msg.getTransactionId() : msg.getMsgId());
            if (body.startsWith("unknown-commit-")) {
                return LocalTransactionState.COMMIT_MESSAGE;
            }
            if (body.startsWith("unknown-rollback-")) {
                return LocalTransactionState.ROLLBACK_MESSAGE;
            }
            return LocalTransactionState.UNKNOW;
        }
    }

    static int run(Context ctx) throws Exception {
        Listener listener = new Listener();
        TransactionMQProducer p = new TransactionMQProducer(ctx.group + "_tx");
        p.setNamesrvAddr(ctx.namesrv);
        p.setInstanceName("transactions");
        p.setHeartbeatBrokerInterval(1000);
        p.setTransactionListener(listener);
        p.start();
        Map<String, String> committed = new TreeMap<>();
        Set<String> unknown = new TreeSet<>();
        try {
            for (int i = 0; i < EACH; i++) {
                for (String kind : KINDS) {
                    String body = kind + "-" + i;
                    Message m = SendModes.message(ctx.topic, "TagTx", body);
                    SendResult r = p.sendMessageInTransaction(m, null);
                    if (r.getSendStatus() != SendStatus.SEND_OK) {
                        throw new IllegalStateException("half send of " + body + ": " + r);
                    }
                    if (kind.endsWith("commit")) {
                        committed.put(r.getMsgId(), body);
                    }
                    if (kind.startsWith("unknown")) {
                        unknown.add(r.getMsgId());
                    }
                }
            }
            Map<String, String> got = consume(ctx, committed.size());
            Context.check("transactions committed", committed, got);
            long deadline = System.currentTimeMillis() + Context.TIMEOUT_MS;
            while (!listener.checked.containsAll(unknown) && System.currentTimeMillis() < deadline) {
                Thread.sleep(100);
            }
            Set<String> asked = new TreeSet<>(listener.checked);
            if (!asked.equals(unknown)) {
                throw new IllegalStateException("check-backs asked about " + asked + ", expected " + unknown);
            }
        } finally {
            p.shutdown();
        }
        return committed.size();
    }

    /** Everything the topic shows within the timeout, then 3 s more (a late rolled-back one would show). */
    private static Map<String, String> consume(Context ctx, int want) throws Exception {
        DefaultLitePullConsumer c = ctx.litePull(ctx.group, "tx-reader");
        c.subscribe(ctx.topic, "*");
        c.start();
        try {
            Map<String, String> got = Context.pollUntil(c, want);
            long settle = System.currentTimeMillis() + 3000;
            while (System.currentTimeMillis() < settle) {
                for (MessageExt m : c.poll(500)) {
                    got.put(m.getMsgId(), Context.body(m));
                }
            }
            return got;
        } finally {
            c.shutdown();
        }
    }
}
