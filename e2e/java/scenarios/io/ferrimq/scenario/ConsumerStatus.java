package io.ferrimq.scenario;

import java.util.Map;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

/**
 * The admin API's getConsumeStatus (INVOKE_BROKER_TO_GET_CONSUMER_STATUS, which the broker answers by
 * asking each online consumer with GET_CONSUMER_STATUS_FROM_CLIENT) for {@code --group} on
 * {@code --topic}; mqadmin has the command class but does not register it, so the scenario calls
 * the API. Prints one {@code STATUS <clientId> <brokerName> <queueId> <offset>} line per queue of each
 * client and counts the lines; the Rust test asserts the exact lines.
 */
final class ConsumerStatus {
    private ConsumerStatus() {
    }

    static int run(Context ctx) throws Exception {
        DefaultMQAdminExt admin = new DefaultMQAdminExt();
        admin.setNamesrvAddr(ctx.namesrv);
        admin.setInstanceName("consumer_status");
        admin.start();
        int lines = 0;
        try {
            Map<String, Map<MessageQueue, Long>> table = admin.getConsumeStatus(ctx.topic, ctx.group, "");
            for (Map.Entry<String, Map<MessageQueue, Long>> client : table.entrySet()) {
                for (Map.Entry<MessageQueue, Long> q : client.getValue().entrySet()) {
                    System.out.println("STATUS " + client.getKey() + " " + q.getKey().getBrokerName() + " "
                        + q.getKey().getQueueId() + " " + q.getValue());
                    lines++;
                }
            }
        } finally {
            admin.shutdown();
        }
        return lines;
    }
}
