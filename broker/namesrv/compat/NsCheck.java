// Manual compatibility check of the ferrimq name server against the official Apache RocketMQ
// 5.3.3 Java code: the broker's own BrokerOuterAPI registers a master (plain body) and a slave
// (compressed body, which 5.x flags as compressed=false), then DefaultMQAdminExt (what mqadmin
// uses) reads routes, cluster info and topic lists, wipes/adds write perm, edits KV config,
// reads the namesrv config, deletes a topic and unregisters. Exits 0 and prints "ALL OK" on
// success. Run (classpath from e2e/java: `mvn -q dependency:build-classpath`):
//   cargo run -p ferrimq-namesrv --example namesrv -- 19876 /tmp/kvConfig.json &
//   java -cp "$(cat e2e/java/target/classpath.txt)" broker/namesrv/compat/NsCheck.java 127.0.0.1:19876
import java.util.*;
import java.util.concurrent.*;
import org.apache.rocketmq.auth.config.AuthConfig;
import org.apache.rocketmq.broker.out.BrokerOuterAPI;
import org.apache.rocketmq.common.BrokerIdentity;
import org.apache.rocketmq.common.TopicConfig;
import org.apache.rocketmq.remoting.netty.NettyClientConfig;
import org.apache.rocketmq.remoting.protocol.DataVersion;
import org.apache.rocketmq.remoting.protocol.body.*;
import org.apache.rocketmq.remoting.protocol.namesrv.RegisterBrokerResult;
import org.apache.rocketmq.remoting.protocol.route.*;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;
import org.apache.rocketmq.client.exception.MQClientException;

public class NsCheck {
    static void check(boolean ok, String what) {
        if (!ok) { System.out.println("FAIL " + what); System.exit(1); }
        System.out.println("ok   " + what);
    }
    static TopicConfigSerializeWrapper wrapper(String... topics) {
        TopicConfigSerializeWrapper w = new TopicConfigSerializeWrapper();
        ConcurrentMap<String, TopicConfig> table = new ConcurrentHashMap<>();
        for (String t : topics) table.put(t, new TopicConfig(t, 4, 4, 6));
        w.setTopicConfigTable(table);
        DataVersion dv = new DataVersion();
        dv.nextVersion();
        w.setDataVersion(dv);
        return w;
    }
    public static void main(String[] args) throws Exception {
        String ns = args[0];
        BrokerOuterAPI api = new BrokerOuterAPI(new NettyClientConfig(), new AuthConfig());
        api.start();
        api.updateNameServerAddressList(ns);
        for (int i = 0; i < 100 && api.getNameServerAddressList().isEmpty(); i++) Thread.sleep(50);
        Thread.sleep(4000);
        List<RegisterBrokerResult> master = api.registerBrokerAll("DefaultCluster", "127.0.0.1:10911", "broker-a", 0,
            "127.0.0.1:10912", wrapper("TopicTest", "TBW102"), new ArrayList<>(), false, 3000, false, false, new BrokerIdentity());
        check(master.size() == 1 && master.get(0).getMasterAddr() == null, "master registers (plain body)");
        List<RegisterBrokerResult> slave = api.registerBrokerAll("DefaultCluster", "127.0.0.2:10911", "broker-a", 1,
            "127.0.0.2:10912", wrapper(), new ArrayList<>(), false, 3000, false, true, new BrokerIdentity());
        check(slave.size() == 1 && "127.0.0.1:10911".equals(slave.get(0).getMasterAddr())
            && "127.0.0.1:10912".equals(slave.get(0).getHaServerAddr()), "slave registers (compressed body), learns master " + slave.get(0).getMasterAddr() + " " + slave.get(0).getHaServerAddr());

        DefaultMQAdminExt admin = new DefaultMQAdminExt();
        admin.setNamesrvAddr(ns);
        admin.setInstanceName("nscheck");
        admin.start();
        TopicRouteData route = admin.examineTopicRouteInfo("TopicTest");
        System.out.println("     route " + route);
        check(route.getBrokerDatas().size() == 1 && route.getBrokerDatas().get(0).getBrokerAddrs().get(0L).equals("127.0.0.1:10911")
            && route.getBrokerDatas().get(0).getBrokerAddrs().get(1L).equals("127.0.0.2:10911"), "route brokerAddrs with Long keys");
        check(route.getQueueDatas().get(0).getWriteQueueNums() == 4 && route.getQueueDatas().get(0).getPerm() == 6, "route queue data");
        try {
            admin.examineTopicRouteInfo("NoSuchTopic");
            check(false, "unknown topic throws");
        } catch (MQClientException e) {
            check(e.getResponseCode() == 17, "unknown topic -> 17: " + e.getErrorMessage());
        }
        ClusterInfo info = admin.examineBrokerClusterInfo();
        check(info.getClusterAddrTable().get("DefaultCluster").contains("broker-a")
            && info.getBrokerAddrTable().get("broker-a").getBrokerAddrs().size() == 2, "cluster info");
        check(admin.fetchAllTopicList().getTopicList().equals(new HashSet<>(List.of("TopicTest", "TBW102"))), "all topics");
        check(admin.fetchTopicsByCLuster("DefaultCluster").getTopicList().size() == 2, "topics by cluster");
        check(admin.wipeWritePermOfBroker(ns, "broker-a") == 2, "wipe write perm count");
        check(admin.examineTopicRouteInfo("TopicTest").getQueueDatas().get(0).getPerm() == 4, "perm wiped in route");
        check(admin.addWritePermOfBroker(ns, "broker-a") == 2, "add write perm count");
        check(admin.examineTopicRouteInfo("TopicTest").getQueueDatas().get(0).getPerm() == 6, "perm restored");
        admin.createAndUpdateKvConfig("ORDER_TOPIC_CONFIG", "TopicTest", "broker-a:4");
        check("broker-a:4".equals(admin.getKVConfig("ORDER_TOPIC_CONFIG", "TopicTest")), "kv get");
        check(admin.getKVListByNamespace("ORDER_TOPIC_CONFIG").getTable().size() == 1, "kv list");
        check("broker-a:4".equals(admin.examineTopicRouteInfo("TopicTest").getOrderTopicConf()), "orderTopicConf in route");
        admin.deleteKvConfig("ORDER_TOPIC_CONFIG", "TopicTest");
        try {
            admin.getKVConfig("ORDER_TOPIC_CONFIG", "TopicTest");
            check(false, "deleted kv throws");
        } catch (MQClientException e) {
            check(e.getResponseCode() == 22, "deleted kv -> 22");
        }
        Map<String, Properties> conf = admin.getNameServerConfig(List.of(ns));
        String port = ns.substring(ns.lastIndexOf(':') + 1);
        check(port.equals(conf.get(ns).getProperty("listenPort")), "namesrv config listenPort=" + port);
        admin.deleteTopicInNameServer(new HashSet<>(List.of(ns)), "DefaultCluster", "TopicTest");
        try {
            admin.examineTopicRouteInfo("TopicTest");
            check(false, "deleted topic gone");
        } catch (MQClientException e) {
            check(e.getResponseCode() == 17, "deleted topic -> 17");
        }
        api.unregisterBrokerAll("DefaultCluster", "127.0.0.1:10911", "broker-a", 0);
        api.unregisterBrokerAll("DefaultCluster", "127.0.0.2:10911", "broker-a", 1);
        check(admin.examineBrokerClusterInfo().getBrokerAddrTable().isEmpty(), "unregistered");
        admin.shutdown();
        api.shutdown();
        System.out.println("ALL OK");
        System.exit(0);
    }
}
