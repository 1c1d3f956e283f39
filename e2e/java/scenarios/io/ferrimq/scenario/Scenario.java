package io.ferrimq.scenario;

import java.util.HashMap;
import java.util.Map;

/**
 * Entry point of the client scenarios run by broker/cli/tests/compat_*.rs against ferrimq. The same
 * sources are compiled against the RocketMQ 4.9.8 client (e2e/java/client-4.9) and the 5.3.3 client
 * (e2e/java/client-5.3), so every scenario runs unchanged with both remoting clients.
 *
 * <p>{@code Scenario <name> --namesrv HOST:PORT --topic T --group G [--dir D]}; prints
 * {@code SCENARIO <name> OK <count>} and exits 0 when the exact message set was seen, exits 1 with the
 * difference on stderr otherwise.
 */
public final class Scenario {
    private Scenario() {
    }

    /** Dispatches to the named scenario. */
    public static void main(String[] args) {
        try {
            if (args.length < 1) {
                throw new IllegalArgumentException("usage: Scenario <name> --namesrv H:P --topic T --group G");
            }
            Map<String, String> opts = parse(args);
            Context ctx = new Context(opts.get("namesrv"), opts.get("topic"), opts.get("group"),
                opts.getOrDefault("dir", "."));
            int n = run(args[0], ctx);
            System.out.println("SCENARIO " + args[0] + " OK " + n);
            System.exit(0);
        } catch (Throwable e) {
            System.err.println("SCENARIO " + (args.length > 0 ? args[0] : "?") + " FAILED: " + e);
            e.printStackTrace();
            System.exit(1);
        }
    }

    private static int run(String name, Context ctx) throws Exception {
        switch (name) {
            case "sends": return SendModes.run(ctx);
            case "rebalance": return Clustering.rebalance(ctx);
            case "broadcast": return Clustering.broadcast(ctx);
            case "tags": return Clustering.tags(ctx);
            case "offsets-before": return Offsets.before(ctx);
            case "offsets-after": return Offsets.after(ctx);
            case "namesrv-down": return NamesrvDown.run(ctx);
            case "master-slave": return MasterSlave.run(ctx);
            case "master-slave-live": return MasterSlave.live(ctx);
            case "shrink-consume": return ShrinkConsume.run(ctx);
            case "transactions": return Transactions.run(ctx);
            case "sql-push": return Filters.sqlPush(ctx);
            case "sql-lite": return Filters.sqlLite(ctx);
            case "tags-lite": return Filters.tagsLite(ctx);
            case "sql-disabled": return Filters.sqlDisabled(ctx);
            case "delays": return Delays.run(ctx);
            case "retries": return Retries.run(ctx);
            case "orderly": return Orderly.run(ctx);
            case "batches": return Batches.run(ctx);
            case "vip": return Batches.vip(ctx);
            case "query-send": return Query.send(ctx);
            case "query-check": return Query.check(ctx);
            case "retry-restart-before": return RetryRestart.before(ctx);
            case "retry-restart-after": return RetryRestart.after(ctx);
            case "consumer-status": return ConsumerStatus.run(ctx);
            default: throw new IllegalArgumentException("unknown scenario " + name);
        }
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> out = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("bad argument " + args[i]);
            }
            out.put(args[i].substring(2), args[i + 1]);
        }
        for (String k : new String[] {"namesrv", "topic", "group"}) {
            if (!out.containsKey(k)) {
                throw new IllegalArgumentException("missing --" + k);
            }
        }
        return out;
    }
}
