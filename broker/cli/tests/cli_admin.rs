//! `ferrimq admin` against a real `ferrimq standalone`: cluster list, topic create / update /
//! list / status / route / delete, group create / delete, broker runtime, and clear failures for
//! bad input (unknown topic, unreachable or malformed name server, bad perm, duplicate create).

mod cli_harness;
mod compat_harness;
mod ports;

use cli_harness::{admin, client, eventually};
use compat_harness::{Result, Standalone};
use ferrimq_client::{ConsumerConfig, PullConsumer, Session, SessionConfig};
use serde_json::Value;

/// Each output line split on whitespace.
fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// Asserts `table` is `rows` under `header`, every column starting at the same character.
fn assert_table(table: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut want = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    want.extend(rows.iter().cloned());
    assert_eq!(cells(table), want, "table:\n{table}");
    let starts = |line: &str| -> Vec<usize> {
        let mut at = Vec::new();
        let mut prev = ' ';
        for (i, c) in line.chars().enumerate() {
            if c != ' ' && prev == ' ' {
                at.push(i);
            }
            prev = c;
        }
        at
    };
    let first = starts(table.lines().next().unwrap_or_default());
    for line in table.lines() {
        assert_eq!(starts(line), first, "misaligned line {line:?} in:\n{table}");
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn cluster_and_topic_lifecycle() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    let addr = format!("127.0.0.1:{}", node.broker_port);

    let clusters = admin(&ns, &["cluster", "list"]).success("cluster list");
    assert_table(
        &clusters,
        &["CLUSTER", "BROKER", "ID", "ADDRESS"],
        &[strings(&["DefaultCluster", "DEFAULT_BROKER", "0", &addr])],
    );

    let created = admin(
        &ns,
        &[
            "topic",
            "create",
            "--topic",
            "CliTopic",
            "--cluster",
            "DefaultCluster",
            "--read-queues",
            "4",
            "--write-queues",
            "4",
        ],
    )
    .success("topic create");
    let header = [
        "BROKER",
        "ADDRESS",
        "TOPIC",
        "READ_QUEUES",
        "WRITE_QUEUES",
        "PERM",
        "ORDER",
    ];
    assert_table(
        &created,
        &header,
        &[strings(&[
            "DEFAULT_BROKER",
            &addr,
            "CliTopic",
            "4",
            "4",
            "RW-",
            "false",
        ])],
    );
    let again = admin(
        &ns,
        &[
            "topic",
            "create",
            "--topic",
            "CliTopic",
            "--cluster",
            "DefaultCluster",
        ],
    )
    .failure("second create");
    assert!(
        again.contains("topic CliTopic already exists on broker DEFAULT_BROKER"),
        "{again}"
    );

    // Six messages, then the status shows each queue's max offset = messages sent to it.
    let sent = client(
        "produce",
        &ns,
        &[
            "--topic", "CliTopic", "--count", "6", "--size", "10", "--json",
        ],
    )
    .json("produce");
    let mut per_queue = [0i64; 4];
    for r in sent.as_array().expect("array") {
        per_queue[r["queueId"].as_u64().expect("queueId") as usize] += 1;
    }
    // Dispatch to the ConsumeQueues is asynchronous: wait until all six are counted.
    let want: Vec<(i64, i64, i64)> = (0..4).map(|q| (q, 0, per_queue[q as usize])).collect();
    let mut got = Vec::new();
    eventually("six messages in the status", || {
        let status =
            admin(&ns, &["topic", "status", "--topic", "CliTopic", "--json"]).json("status");
        got = status
            .as_array()
            .expect("array")
            .iter()
            .map(|q| {
                (
                    q["queueId"].as_i64().unwrap(),
                    q["minOffset"].as_i64().unwrap(),
                    q["maxOffset"].as_i64().unwrap(),
                )
            })
            .collect();
        (got.iter().map(|q| q.2).sum::<i64>() >= 6).then_some(())
    });
    assert_eq!(got, want);
    let text = admin(&ns, &["topic", "status", "--topic", "CliTopic"]).success("status");
    let rows: Vec<Vec<String>> = cells(&text)
        .into_iter()
        .skip(1)
        .map(|r| r[..4].to_vec())
        .collect();
    let want: Vec<Vec<String>> = (0..4)
        .map(|q| {
            strings(&[
                "DEFAULT_BROKER",
                &q.to_string(),
                "0",
                &per_queue[q].to_string(),
            ])
        })
        .collect();
    assert_eq!(rows, want, "{text}");
    assert_eq!(
        text.lines().next(),
        Some("BROKER          QID  MIN_OFFSET  MAX_OFFSET  LAST_UPDATED")
    );

    let updated = admin(
        &ns,
        &[
            "topic",
            "update",
            "--topic",
            "CliTopic",
            "--broker",
            &addr,
            "--write-queues",
            "2",
            "--perm",
            "4",
        ],
    )
    .success("topic update");
    assert_table(
        &updated,
        &header,
        &[strings(&[
            "DEFAULT_BROKER",
            &addr,
            "CliTopic",
            "4",
            "2",
            "R--",
            "false",
        ])],
    );
    let route = eventually("route with 2 write queues", || {
        let out = admin(&ns, &["topic", "route", "--topic", "CliTopic"]).success("route");
        out.contains(" 2 ").then_some(out)
    });
    assert_table(
        &route,
        &[
            "BROKER",
            "READ_QUEUES",
            "WRITE_QUEUES",
            "PERM",
            "BROKER_ID",
            "ADDRESS",
        ],
        &[strings(&["DEFAULT_BROKER", "4", "2", "R--", "0", &addr])],
    );

    let listed = admin(&ns, &["topic", "list", "--json"]).json("topic list");
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        names.contains(&"CliTopic") && names.contains(&"TBW102"),
        "{names:?}"
    );
    let text = admin(&ns, &["topic", "list"]).success("topic list");
    assert_eq!(text.lines().next(), Some("TOPIC"));
    assert!(text.lines().any(|l| l == "CliTopic"), "{text}");

    let deleted = admin(
        &ns,
        &[
            "topic",
            "delete",
            "--topic",
            "CliTopic",
            "--cluster",
            "DefaultCluster",
        ],
    )
    .success("delete");
    assert_eq!(
        deleted,
        "deleted topic CliTopic from cluster DefaultCluster\n"
    );
    let gone =
        admin(&ns, &["topic", "route", "--topic", "CliTopic"]).failure("route of a deleted topic");
    assert!(
        gone.contains("reading the route of topic CliTopic"),
        "{gone}"
    );
    let listed = admin(&ns, &["topic", "list", "--json"]).json("topic list");
    assert!(
        !listed
            .as_array()
            .expect("array")
            .iter()
            .any(|t| t == "CliTopic"),
        "{listed}"
    );
    process.stop()
}

#[test]
fn bad_input_fails_clearly() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();

    let err = admin(&ns, &["topic", "status", "--topic", "NoSuchTopic"]).failure("unknown topic");
    assert!(
        err.contains("reading the status of topic NoSuchTopic"),
        "{err}"
    );
    assert!(err.contains("no route for topic NoSuchTopic"), "{err}");

    let err = admin(
        &ns,
        &[
            "topic",
            "create",
            "--topic",
            "PermTopic",
            "--cluster",
            "DefaultCluster",
            "--perm",
            "9",
        ],
    )
    .failure("bad perm");
    assert!(
        err.contains("invalid --perm 9: use 2 (write only), 4 (read only) or 6 (read and write)"),
        "{err}"
    );
    let err = admin(
        &ns,
        &[
            "topic",
            "update",
            "--topic",
            "NotThere",
            "--cluster",
            "DefaultCluster",
        ],
    )
    .failure("update of a missing topic");
    assert!(
        err.contains("topic NotThere does not exist on broker DEFAULT_BROKER"),
        "{err}"
    );
    let err = admin(
        &ns,
        &[
            "topic",
            "create",
            "--topic",
            "bad topic",
            "--cluster",
            "DefaultCluster",
        ],
    )
    .failure("bad topic name");
    assert!(err.contains("bad --topic"), "{err}");
    let err = admin(
        &ns,
        &["topic", "create", "--topic", "T", "--cluster", "NoCluster"],
    )
    .failure("unknown cluster");
    assert!(
        err.contains("finding the masters of cluster NoCluster"),
        "{err}"
    );

    let dead = format!("127.0.0.1:{}", compat_harness::free_port()?);
    let err = admin(&dead, &["cluster", "list"]).failure("unreachable name server");
    assert!(
        err.contains("reading the cluster info from the name server"),
        "{err}"
    );
    assert!(err.contains(&dead), "error should name {dead}: {err}");
    let err = admin("localhost", &["cluster", "list"]).failure("malformed name server");
    assert!(
        err.contains("bad --namesrv \"localhost\"") && err.contains("is not host:port"),
        "{err}"
    );
    let err = client("produce", &ns, &["--topic", "T"]).failure("produce without a body");
    assert!(
        err.contains("give the body: --body TEXT, --file PATH or --size BYTES"),
        "{err}"
    );
    process.stop()
}

#[test]
fn groups_are_created_and_deleted() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    let addr = format!("127.0.0.1:{}", node.broker_port);
    let groups_file = node
        .dir
        .path()
        .join("data/store/config/subscriptionGroup.json");
    let group_config = |name: &str| -> Option<Value> {
        let text = std::fs::read_to_string(&groups_file).ok()?;
        let doc: Value = serde_json::from_str(&text).ok()?;
        doc["subscriptionGroupTable"].get(name).cloned()
    };

    let created = admin(
        &ns,
        &[
            "group",
            "create",
            "--group",
            "CliGroup",
            "--cluster",
            "DefaultCluster",
            "--retry-max",
            "3",
            "--broadcast",
        ],
    )
    .success("group create");
    assert_table(
        &created,
        &[
            "BROKER",
            "ADDRESS",
            "GROUP",
            "RETRY_MAX",
            "RETRY_QUEUES",
            "BROADCAST",
            "CONSUME",
        ],
        &[strings(&[
            "DEFAULT_BROKER",
            &addr,
            "CliGroup",
            "3",
            "1",
            "true",
            "true",
        ])],
    );
    let stored = group_config("CliGroup").expect("CliGroup persisted");
    assert_eq!(stored["retryMaxTimes"], 3);
    assert_eq!(stored["consumeBroadcastEnable"], true);

    admin(
        &ns,
        &[
            "group",
            "update",
            "--group",
            "CliGroup",
            "--broker",
            &addr,
            "--retry-max",
            "5",
        ],
    )
    .success("group update");
    let stored = group_config("CliGroup").expect("CliGroup persisted");
    assert_eq!(stored["retryMaxTimes"], 5);
    assert_eq!(stored["consumeBroadcastEnable"], false);

    let deleted = admin(
        &ns,
        &[
            "group",
            "delete",
            "--group",
            "CliGroup",
            "--cluster",
            "DefaultCluster",
        ],
    )
    .success("group delete");
    assert_eq!(
        deleted,
        "deleted group CliGroup from DEFAULT_BROKER and topics %RETRY%CliGroup, %DLQ%CliGroup\n"
    );
    assert!(
        group_config("CliGroup").is_none(),
        "CliGroup still in {}",
        groups_file.display()
    );

    let runtime = admin(&ns, &["broker", "runtime", "--broker", &addr, "--json"]).json("runtime");
    assert!(
        runtime.as_object().is_some_and(|t| !t.is_empty()),
        "{runtime}"
    );
    assert_eq!(runtime["brokerVersionDesc"], "V4_9_8", "{runtime}");
    process.stop()
}

#[test]
fn consumer_connections_list_online_clients() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    admin(
        &ns,
        &[
            "topic",
            "create",
            "--topic",
            "CliConn",
            "--cluster",
            "DefaultCluster",
        ],
    )
    .success("topic create");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let session = Session::new(SessionConfig::new([ns.clone()]));
    let consumer = PullConsumer::new(session.clone(), ConsumerConfig::new("CliConnGroup"));
    consumer.subscribe("CliConn", "TagA || TagB");
    runtime.block_on(consumer.heartbeat())?;

    let out =
        admin(&ns, &["consumer", "connections", "--group", "CliConnGroup"]).success("connections");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["CLIENT_ID", "CLIENT_ADDR", "LANGUAGE", "VERSION"],
        "{out}"
    );
    let client: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(client[0], session.client_id(), "{out}");
    assert!(client[1].starts_with("127.0.0.1:"), "{out}");
    assert_eq!(lines[2], "", "{out}");
    let words = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(words(lines[3]), ["TOPIC", "EXPRESSION"], "{out}");
    assert_eq!(words(lines[4]), ["CliConn", "TagA", "||", "TagB"], "{out}");
    assert_eq!(lines[5], "Message model: CLUSTERING", "{out}");
    assert_eq!(lines.len(), 6, "{out}");

    runtime.block_on(consumer.shutdown())?;
    session.shutdown();
    let err = admin(&ns, &["consumer", "connections", "--group", "NobodyGroup"]).failure("offline");
    assert!(
        err.contains("reading the connections of group NobodyGroup"),
        "{err}"
    );
    process.stop()
}
