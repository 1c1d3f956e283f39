//! `ferrimq produce`, `ferrimq consume`, `ferrimq admin message ...` and `ferrimq admin dlq
//! redrive` against a real `ferrimq standalone`, asserting exact message sets (ids and bodies).

mod cli_harness;
mod compat_harness;
mod ports;

use std::collections::BTreeSet;

use cli_harness::{admin, client, consumed, create_topic, eventually, generated_body};
use compat_harness::{Result, Standalone};
use ferrimq_client::session::request;
use ferrimq_client::{Session, SessionConfig};
use ferrimq_remoting::header::typed::ConsumerSendMsgBackRequestHeader;
use ferrimq_remoting::{RequestCode, ResponseCode};
use serde_json::Value;

fn id_body(m: &Value) -> (String, String) {
    (
        m["msgId"].as_str().unwrap_or_default().to_owned(),
        m["body"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn produce_then_consume_exactly_those_messages() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    create_topic(&ns, "CliMessages", "4");

    let sent = client(
        "produce",
        &ns,
        &[
            "--topic",
            "CliMessages",
            "--count",
            "25",
            "--size",
            "40",
            "--tag",
            "TagA",
            "--key",
            "k1",
            "--property",
            "origin=cli",
            "--json",
        ],
    )
    .json("produce");
    let sent = sent.as_array().expect("array");
    assert_eq!(sent.len(), 25);
    let want: BTreeSet<(String, String)> = sent
        .iter()
        .map(|r| {
            let index = r["index"].as_u64().expect("index") as usize;
            (
                r["msgId"].as_str().expect("msgId").to_owned(),
                generated_body(index, 40),
            )
        })
        .collect();
    assert_eq!(want.len(), 25, "ids must be distinct");
    assert!(sent.iter().all(|r| r["status"] == "SEND_OK"), "{sent:?}");

    let out = client(
        "consume",
        &ns,
        &[
            "--topic",
            "CliMessages",
            "--group",
            "CliMessagesGroup",
            "--from-beginning",
            "--count",
            "25",
            "--timeout",
            "30",
            "--json",
        ],
    )
    .success("consume");
    let got = consumed(&out);
    assert_eq!(got.len(), 25, "{out}");
    let got_set: BTreeSet<(String, String)> = got.iter().map(id_body).collect();
    assert_eq!(got_set, want);
    for m in &got {
        assert_eq!(m["tags"], "TagA");
        assert_eq!(m["keys"], serde_json::json!(["k1"]));
        assert_eq!(m["properties"]["origin"], "cli");
    }

    // The group's offsets were committed: nothing is left, and the progress shows no lag.
    let err = client(
        "consume",
        &ns,
        &[
            "--topic",
            "CliMessages",
            "--group",
            "CliMessagesGroup",
            "--count",
            "1",
            "--timeout",
            "2",
        ],
    )
    .failure("second consume");
    assert!(
        err.contains("received 0 of 1 message(s) within 2 s"),
        "{err}"
    );
    let progress = admin(
        &ns,
        &[
            "consumer",
            "progress",
            "--group",
            "CliMessagesGroup",
            "--json",
        ],
    )
    .json("progress");
    assert_eq!(progress["diffTotal"], 0, "{progress}");
    let committed: i64 = progress["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .filter(|q| q["topic"] == "CliMessages")
        .map(|q| q["consumerOffset"].as_i64().unwrap_or(-1))
        .sum();
    assert_eq!(committed, 25, "{progress}");
    let text = admin(
        &ns,
        &[
            "consumer",
            "progress",
            "--group",
            "CliMessagesGroup",
            "--topic",
            "CliMessages",
        ],
    )
    .success("progress text");
    assert_eq!(
        text.lines().next(),
        Some("TOPIC        BROKER          QID  BROKER_OFFSET  CONSUMER_OFFSET  DIFF  LAST_TIME"),
        "{text}"
    );
    assert_eq!(text.lines().last(), Some("Diff Total: 0"), "{text}");

    // A tag filter: 3 TagB messages among 2 TagC ones, a new group from the beginning.
    client(
        "produce",
        &ns,
        &[
            "--topic",
            "CliMessages",
            "--count",
            "3",
            "--body",
            "b",
            "--tag",
            "TagB",
        ],
    )
    .success("TagB");
    client(
        "produce",
        &ns,
        &[
            "--topic",
            "CliMessages",
            "--count",
            "2",
            "--body",
            "c",
            "--tag",
            "TagC",
        ],
    )
    .success("TagC");
    let out = client(
        "consume",
        &ns,
        &[
            "--topic",
            "CliMessages",
            "--group",
            "CliTagGroup",
            "--from-beginning",
            "--tag",
            "TagB",
            "--count",
            "3",
            "--timeout",
            "30",
            "--json",
        ],
    )
    .success("tag consume");
    let got = consumed(&out);
    assert_eq!(
        got.iter()
            .map(|m| m["tags"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["TagB"; 3]
    );
    process.stop()
}

#[test]
fn queries_find_messages_after_a_restart() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    create_topic(&ns, "CliQuery", "2");
    let first = client(
        "produce",
        &ns,
        &[
            "--topic", "CliQuery", "--key", "order-1", "--body", "hello-1", "--json",
        ],
    )
    .json("produce 1");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = client(
        "produce",
        &ns,
        &[
            "--topic", "CliQuery", "--key", "order-2", "--body", "hello-2", "--json",
        ],
    )
    .json("produce 2");
    let (id1, offset_id1) = (
        first[0]["msgId"].as_str().unwrap().to_owned(),
        first[0]["offsetMsgId"].as_str().unwrap().to_owned(),
    );
    let id2 = second[0]["msgId"].as_str().unwrap().to_owned();
    // Let the index dispatch happen before the shutdown, then restart.
    eventually("order-2 indexed", || {
        admin(
            &ns,
            &[
                "message", "by-key", "--topic", "CliQuery", "--key", "order-2",
            ],
        )
        .ok
        .then_some(())
    });
    process.stop()?;
    let process = node.start()?;

    let by_offset = admin(
        &ns,
        &[
            "message",
            "by-id",
            "--topic",
            "CliQuery",
            "--id",
            &offset_id1,
            "--json",
        ],
    )
    .json("by-id offset");
    assert_eq!(
        (by_offset["msgId"].as_str(), by_offset["body"].as_str()),
        (Some(id1.as_str()), Some("hello-1"))
    );
    let text = admin(
        &ns,
        &["message", "by-id", "--topic", "CliQuery", "--id", &id1],
    )
    .success("by-id uniq");
    assert!(
        text.lines()
            .any(|l| l == format!("Msg Id:           {id1}")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "Body:             hello-1"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "Keys:             order-1"),
        "{text}"
    );

    let by_key = admin(
        &ns,
        &[
            "message", "by-key", "--topic", "CliQuery", "--key", "order-2", "--json",
        ],
    )
    .json("by-key");
    let found: Vec<(String, String)> = by_key
        .as_array()
        .expect("array")
        .iter()
        .map(id_body)
        .collect();
    assert_eq!(found, [(id2.clone(), "hello-2".to_owned())]);
    let by_uniq = admin(
        &ns,
        &[
            "message",
            "by-unique-key",
            "--topic",
            "CliQuery",
            "--key",
            &id1,
            "--json",
        ],
    )
    .json("by-unique-key");
    let found: Vec<(String, String)> = by_uniq
        .as_array()
        .expect("array")
        .iter()
        .map(id_body)
        .collect();
    assert_eq!(found, [(id1.clone(), "hello-1".to_owned())]);
    let err = admin(
        &ns,
        &[
            "message", "by-key", "--topic", "CliQuery", "--key", "order-3",
        ],
    )
    .failure("missing key");
    assert!(
        err.contains("no message with key order-3 in topic CliQuery"),
        "{err}"
    );

    let ts1 = by_offset["storeTimestamp"].as_i64().expect("ts");
    let ts2 = by_key[0]["storeTimestamp"].as_i64().expect("ts");
    assert!(ts2 > ts1, "{ts1} {ts2}");
    let range = |begin: i64, end: i64| -> Vec<(String, String)> {
        let out = admin(
            &ns,
            &[
                "message",
                "by-time",
                "--topic",
                "CliQuery",
                "--begin",
                &begin.to_string(),
                "--end",
                &end.to_string(),
                "--json",
            ],
        )
        .json("by-time");
        out.as_array().expect("array").iter().map(id_body).collect()
    };
    assert_eq!(
        range(ts1, ts2),
        [
            (id1.clone(), "hello-1".to_owned()),
            (id2.clone(), "hello-2".to_owned())
        ]
    );
    assert_eq!(range(ts1, ts1), [(id1.clone(), "hello-1".to_owned())]);
    assert_eq!(
        range(ts2, ts2 + 60_000),
        [(id2.clone(), "hello-2".to_owned())]
    );
    assert_eq!(range(ts2 + 1, ts2 + 60_000), []);
    process.stop()
}

/// CONSUMER_SEND_MSG_BACK with delay level -1: the broker puts each message in %DLQ%<group>.
fn dead_letter(ns: &str, group: &str, messages: &[Value]) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let session = Session::new(SessionConfig::new([ns.to_owned()]));
        let addr = ferrimq_client::Admin::new(session.clone())
            .cluster_masters("DefaultCluster")
            .await?
            .into_values()
            .next()
            .ok_or("no master")?;
        for m in messages {
            let header = ConsumerSendMsgBackRequestHeader {
                offset: m["commitLogOffset"].as_i64().ok_or("offset")?,
                group: group.to_owned(),
                delay_level: -1,
                origin_msg_id: m["msgId"].as_str().map(str::to_owned),
                origin_topic: m["topic"].as_str().map(str::to_owned),
                unit_mode: None,
                max_reconsume_times: None,
            };
            let req = request(RequestCode::ConsumerSendMsgBack).with_header(&header);
            session
                .invoke_ok(&addr, req, &[ResponseCode::Success], None)
                .await?;
        }
        session.shutdown();
        Ok(())
    })
}

#[test]
fn dlq_redrive_moves_dead_letters_back_exactly_once() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let ns = node.namesrv();
    create_topic(&ns, "CliOrders", "2");
    let group = "CliOrdersGroup";
    let sent = client(
        "produce",
        &ns,
        &[
            "--topic",
            "CliOrders",
            "--count",
            "4",
            "--size",
            "12",
            "--tag",
            "paid",
            "--key",
            "dead",
            "--json",
        ],
    )
    .json("produce");
    let ids: BTreeSet<String> = sent
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["msgId"].as_str().unwrap().to_owned())
        .collect();
    let out = client(
        "consume",
        &ns,
        &[
            "--topic",
            "CliOrders",
            "--group",
            group,
            "--from-beginning",
            "--count",
            "4",
            "--timeout",
            "30",
            "--json",
        ],
    )
    .success("consume");
    let originals = consumed(&out);
    dead_letter(&ns, group, &originals)?;
    let dlq = format!("%DLQ%{group}");
    eventually("four dead letters", || {
        let s = admin(&ns, &["topic", "status", "--topic", &dlq, "--json"]);
        let s: Value = serde_json::from_str(&s.stdout).ok()?;
        (s.as_array()?
            .iter()
            .filter_map(|q| q["maxOffset"].as_i64())
            .sum::<i64>()
            == 4)
            .then_some(())
    });

    // RocketMQ makes DLQs write-only (perm 2): the redrive must grant itself read access.
    admin(
        &ns,
        &[
            "topic",
            "update",
            "--topic",
            &dlq,
            "--cluster",
            "DefaultCluster",
            "--perm",
            "2",
        ],
    )
    .success("make the DLQ write-only");
    let first = admin(
        &ns,
        &["dlq", "redrive", "--group", group, "--max", "3", "--json"],
    );
    let note = format!("note: granted read permission on {dlq} at broker DEFAULT_BROKER");
    assert!(
        first.stderr.contains(&note) && first.stderr.contains("perm 2 -> 6"),
        "{}",
        first.stderr
    );
    let moved = first.json("redrive 3");
    assert_eq!(moved["count"], 3, "{moved}");
    let rest = admin(&ns, &["dlq", "redrive", "--group", group]).success("redrive rest");
    assert_eq!(
        rest.lines().last(),
        Some(format!("moved 1 message(s) from {dlq}").as_str()),
        "{rest}"
    );
    assert_eq!(
        rest.lines().next(),
        Some(
            "MSG_ID                            FROM_QID  FROM_OFFSET  TO_TOPIC               TO_QID  TO_OFFSET  DEAD_SINCE"
        ),
        "{rest}"
    );
    let again = admin(&ns, &["dlq", "redrive", "--group", group, "--json"]).json("redrive again");
    assert_eq!(again["count"], 0, "{again}");
    let mut moved_ids: BTreeSet<String> = moved["moved"]
        .as_array()
        .expect("moved")
        .iter()
        .map(|m| m["msgId"].as_str().unwrap().to_owned())
        .collect();
    moved_ids.insert(
        rest.lines()
            .nth(1)
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_default()
            .to_owned(),
    );
    assert_eq!(moved_ids, ids);
    assert!(
        moved["moved"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["toTopic"] == format!("%RETRY%{group}"))
    );

    // The group reads them from its retry topic: the same ids and bodies, properties kept, once.
    let retry = format!("%RETRY%{group}");
    let out = client(
        "consume",
        &ns,
        &[
            "--topic",
            &retry,
            "--group",
            group,
            "--from-beginning",
            "--count",
            "4",
            "--timeout",
            "30",
            "--json",
        ],
    )
    .success("consume retry");
    let back = consumed(&out);
    let want: BTreeSet<(String, String)> = originals.iter().map(id_body).collect();
    assert_eq!(back.iter().map(id_body).collect::<BTreeSet<_>>(), want);
    for m in &back {
        assert_eq!(m["properties"]["RETRY_TOPIC"], "CliOrders", "{m}");
        assert_eq!(m["properties"]["ORIGIN_MESSAGE_ID"], m["msgId"], "{m}");
        assert_eq!(
            (m["tags"].as_str(), m["keys"][0].as_str()),
            (Some("paid"), Some("dead")),
            "{m}"
        );
        assert_eq!(m["reconsumeTimes"], 0, "{m}");
    }
    let err = client(
        "consume",
        &ns,
        &[
            "--topic",
            &retry,
            "--group",
            group,
            "--count",
            "1",
            "--timeout",
            "2",
        ],
    )
    .failure("nothing more in the retry topic");
    assert!(err.contains("received 0 of 1"), "{err}");

    let err = admin(&ns, &["dlq", "redrive", "--group", "NeverFailed"]).failure("no DLQ");
    assert!(err.contains("%DLQ%NeverFailed not found"), "{err}");
    process.stop()
}
