package io.ferrimq.compat;

import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.common.topic.TopicValidator;

/**
 * Declares topics on the broker through the public client API (UPDATE_AND_CREATE_TOPIC sent to the
 * broker that serves TBW102), waiting until the name server route shows every queue.
 */
final class TopicCreation {
    private TopicCreation() {
    }

    /** Creates each {@code topic:queues} entry of a comma-separated list. */
    static void create(String namesrv, String spec) throws Exception {
        DefaultMQProducer producer = new DefaultMQProducer("ferrimq_compat_topic_creator");
        producer.setNamesrvAddr(namesrv);
        producer.setInstanceName("ferrimq_compat_topic_creator");
        producer.start();
        try {
            for (String entry : spec.split(",")) {
                String[] parts = entry.trim().split(":");
                if (parts.length != 2) {
                    throw new IllegalArgumentException(
                        "bad topic spec '" + entry + "', expected TOPIC:QUEUES");
                }
                create(producer, parts[0], Integer.parseInt(parts[1]));
            }
        } finally {
            producer.shutdown();
        }
    }

    /**
     * Creates one topic, retrying while a freshly started broker has not registered with the name
     * server yet (60 s at most).
     */
    // createTopic is deprecated on the producer but is the public client's way to declare a topic
    // without pulling in rocketmq-tools.
    @SuppressWarnings("deprecation")
    static void create(DefaultMQProducer producer, String topic, int queues) throws Exception {
        long deadline = System.currentTimeMillis() + 60_000;
        while (true) {
            try {
                producer.createTopic(TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC, topic, queues, null);
                if (producer.fetchPublishMessageQueues(topic).size() == queues) {
                    return;
                }
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("could not create topic " + topic, e);
                }
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException(
                    "topic " + topic + " never showed " + queues + " queues in its route");
            }
            Thread.sleep(300);
        }
    }
}
