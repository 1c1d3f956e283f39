package io.ferrimq.compat;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.rocketmq.client.consumer.DefaultLitePullConsumer;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;

/**
 * Reads every message of some topics back through the broker with the official
 * {@link DefaultLitePullConsumer} (assign + seek to the queue's minimum offset), stopping when each
 * queue's max offset (asked through the client admin API) has been reached.
 */
final class QueueDrain implements AutoCloseable {
    private final DefaultLitePullConsumer consumer;
    private final DefaultMQProducer admin;

    QueueDrain(String namesrv, String group) throws MQClientException {
        consumer = new DefaultLitePullConsumer(group);
        consumer.setNamesrvAddr(namesrv);
        consumer.setAutoCommit(false);
        consumer.setPullBatchSize(32);
        consumer.setInstanceName(group);
        consumer.start();
        // A producer is the public client that exposes minOffset/maxOffset for a queue.
        admin = new DefaultMQProducer(group + "_ADMIN");
        admin.setNamesrvAddr(namesrv);
        admin.setInstanceName(group + "_ADMIN");
        admin.start();
    }

    /**
     * All queues of the topics according to the name server route, sorted. Waits up to
     * {@code timeoutMillis} for each route, since a freshly started broker registers its topics with
     * the name server shortly after it starts listening.
     */
    List<MessageQueue> queuesOf(Collection<String> topics, long timeoutMillis)
        throws MQClientException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        List<MessageQueue> queues = new ArrayList<>();
        for (String topic : topics) {
            while (true) {
                try {
                    queues.addAll(consumer.fetchMessageQueues(topic));
                    break;
                } catch (MQClientException e) {
                    if (System.currentTimeMillis() > deadline) {
                        throw e;
                    }
                    Thread.sleep(300);
                }
            }
        }
        queues.sort(Comparator.comparing(MessageQueue::getTopic).thenComparingInt(MessageQueue::getQueueId));
        return queues;
    }

    /**
     * Reads queues from their min offset to their max offset.
     *
     * @param commitPositions when true the reached offsets are committed to the broker (so the store's
     *     consumerOffset.json gets an entry), otherwise nothing is written to the broker
     * @return messages sorted by topic, queue id, queue offset
     * @throws IllegalStateException if the queues are not fully read before the deadline
     */
    // minOffset/maxOffset are deprecated on the producer but are the public client's only way to ask
    // a broker for queue bounds without pulling in rocketmq-tools.
    @SuppressWarnings("deprecation")
    List<MessageExt> drain(List<MessageQueue> queues, long timeoutMillis, boolean commitPositions)
        throws MQClientException, InterruptedException {
        Map<String, Long> next = new HashMap<>();
        Map<String, Long> end = new HashMap<>();
        consumer.assign(queues);
        for (MessageQueue mq : queues) {
            long min = admin.minOffset(mq);
            end.put(key(mq.getTopic(), mq.getQueueId()), admin.maxOffset(mq));
            next.put(key(mq.getTopic(), mq.getQueueId()), min);
            consumer.seek(mq, min);
        }
        List<MessageExt> all = new ArrayList<>();
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (!complete(next, end)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("timed out reading queues; reached " + describe(next, end));
            }
            for (MessageExt msg : consumer.poll(1000)) {
                String mq = key(msg.getTopic(), msg.getQueueId());
                long expected = next.getOrDefault(mq, -1L);
                if (msg.getQueueOffset() != expected) {
                    throw new IllegalStateException("queue " + mq + " delivered offset "
                        + msg.getQueueOffset()
                        + " but offset " + expected + " was expected");
                }
                next.put(mq, expected + 1);
                all.add(msg);
            }
        }
        if (commitPositions) {
            Map<MessageQueue, Long> positions = new HashMap<>();
            for (MessageQueue mq : queues) {
                positions.put(mq, next.get(key(mq.getTopic(), mq.getQueueId())));
            }
            consumer.commit(positions, true);
        }
        all.sort(Comparator.comparing(MessageExt::getTopic).thenComparingInt(MessageExt::getQueueId)
            .thenComparingLong(MessageExt::getQueueOffset));
        return all;
    }

    private static String key(String topic, int queueId) {
        return topic + "/" + queueId;
    }

    private static boolean complete(Map<String, Long> next, Map<String, Long> end) {
        return end.entrySet().stream().allMatch(e -> next.get(e.getKey()) >= e.getValue());
    }

    private static String describe(Map<String, Long> next, Map<String, Long> end) {
        Map<String, String> view = new TreeMap<>();
        end.forEach((mq, max) -> view.put(mq, next.get(mq) + " of " + max));
        return view.toString();
    }

    @Override
    public void close() {
        consumer.shutdown();
        admin.shutdown();
    }
}
