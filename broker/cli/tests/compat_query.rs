//! Message queries after a broker restart, with the official RocketMQ Java clients 4.9.8 and 5.3.3:
//! the `query-send` scenario sends 6 keyed messages per client version to `ferrimq standalone`, the
//! process is stopped (SIGTERM) or killed (SIGKILL, right after the sends, so the index has to be
//! recovered from the CommitLog), started again on the same data dir, and then
//!
//! - the `query-check` scenario finds every message by offset msg id (VIEW_MESSAGE_BY_ID), by unique
//!   key and by key (QUERY_MESSAGE), with exact bodies, keys and tags;
//! - `ferrimq admin message by-id | by-unique-key | by-key` return the same exact (id, body) sets;
//! - the official mqadmin `queryMsgByKey` lists exactly the sent ids and `queryMsgById` prints the
//!   message's topic, tags and keys.

mod compat_harness;
mod ports;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use compat_harness::{Java, Process, Result, Standalone, VERSIONS, mqadmin, tools_home, topic};
use serde_json::Value;

/// Messages `query-send` sends per client version (Query.COUNT).
const COUNT: usize = 6;

/// One message as `query-send` recorded it in query-sent.tsv.
struct Sent {
    uniq: String,
    offset_id: String,
    own_key: String,
    body: String,
}

fn load_sent(dir: &Path) -> Result<Vec<Sent>> {
    let text = std::fs::read_to_string(dir.join("query-sent.tsv"))?;
    let sent: Vec<Sent> = text
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            Sent {
                uniq: cols[0].to_owned(),
                offset_id: cols[1].to_owned(),
                own_key: cols[2].to_owned(),
                body: cols[3].to_owned(),
            }
        })
        .collect();
    assert_eq!(sent.len(), COUNT, "query-sent.tsv:\n{text}");
    Ok(sent)
}

/// `ferrimq admin -n <namesrv> message <args> --json`, asserting success.
fn admin_json(namesrv: &str, args: &[&str]) -> Result<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrimq"))
        .args(["admin", "-n", namesrv, "message"])
        .args(args)
        .arg("--json")
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "ferrimq admin message {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn id_body(m: &Value) -> (String, String) {
    let field = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
    (field("msgId"), field("body"))
}

fn id_bodies(v: &Value) -> BTreeSet<(String, String)> {
    v.as_array()
        .map_or_else(BTreeSet::new, |a| a.iter().map(id_body).collect())
}

/// The `ferrimq admin message` lookups of every recorded message.
fn check_cli(namesrv: &str, topic: &str, sent: &[Sent]) -> Result<()> {
    for m in sent {
        let want = (m.uniq.clone(), m.body.clone());
        let by_id = admin_json(namesrv, &["by-id", "--topic", topic, "--id", &m.offset_id])?;
        assert_eq!(id_body(&by_id), want, "by-id {}", m.offset_id);
        let by_uniq = admin_json(
            namesrv,
            &["by-unique-key", "--topic", topic, "--key", &m.uniq],
        )?;
        assert_eq!(
            id_bodies(&by_uniq),
            BTreeSet::from([want.clone()]),
            "{by_uniq}"
        );
        let by_key = admin_json(namesrv, &["by-key", "--topic", topic, "--key", &m.own_key])?;
        assert_eq!(id_bodies(&by_key), BTreeSet::from([want]), "{by_key}");
    }
    let shared = format!("{topic}-shared");
    let all = admin_json(namesrv, &["by-key", "--topic", topic, "--key", &shared])?;
    let want: BTreeSet<_> = sent
        .iter()
        .map(|m| (m.uniq.clone(), m.body.clone()))
        .collect();
    assert_eq!(id_bodies(&all), want, "by-key {shared}");
    Ok(())
}

/// mqadmin queryMsgByKey (the table of ids) and queryMsgById (the printed message).
fn check_mqadmin(java: &Java, node: &Standalone, topic: &str, sent: &[Sent]) -> Result<()> {
    let home = tools_home(node.dir.path())?;
    let namesrv = node.namesrv();
    let shared = format!("{topic}-shared");
    let listed = mqadmin(
        java,
        &home,
        &namesrv,
        &["queryMsgByKey", "-t", topic, "-k", &shared],
    )?;
    let ids: BTreeSet<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| sent.iter().any(|m| m.uniq == *id))
        .collect();
    assert_eq!(ids.len(), COUNT, "queryMsgByKey:\n{listed}");
    let m = &sent[0];
    // 5.x queryMsgById requires the topic, 4.9 has no such option.
    let mut by_id = vec!["queryMsgById", "-i", m.offset_id.as_str()];
    if java.version != "4.9" {
        by_id.extend(["-t", topic]);
    }
    let shown = mqadmin(java, &home, &namesrv, &by_id)?;
    let field = |name: &str| {
        shown.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    };
    assert_eq!(
        field("Topic").as_deref(),
        Some(topic),
        "queryMsgById:\n{shown}"
    );
    assert_eq!(
        field("Tags").as_deref(),
        Some("[TagQ]"),
        "queryMsgById:\n{shown}"
    );
    let keys = format!("[{} {shared}]", m.own_key);
    assert_eq!(
        field("Keys").as_deref(),
        Some(keys.as_str()),
        "queryMsgById:\n{shown}"
    );
    Ok(())
}

/// How the broker goes down between the sends and the queries.
#[derive(Clone, Copy)]
enum Restart {
    Stop,
    Kill,
}

fn queries_survive(restart: Restart) -> Result<()> {
    let node = Standalone::new()?;
    let mut process = node.start()?;
    let namesrv = node.namesrv();
    let mut runs = Vec::new();
    for version in VERSIONS {
        let Some(java) = Java::new(version, node.dir.path())? else {
            return Ok(());
        };
        let kind = match restart {
            Restart::Stop => "querystop",
            Restart::Kill => "querykill",
        };
        let topic = topic(kind, version);
        let dir = node.dir.path().join(&topic);
        std::fs::create_dir_all(&dir)?;
        java.scenario("query-send", &namesrv, &topic, &dir, COUNT)?;
        runs.push((java, topic, dir));
    }
    process = match restart {
        Restart::Stop => process.stop().and_then(|()| node.start())?,
        Restart::Kill => process.kill().and_then(|()| node.start())?,
    };
    for (java, topic, dir) in &runs {
        let checked = java
            .scenario("query-check", &namesrv, topic, dir, COUNT)
            .and_then(|()| load_sent(dir))
            .and_then(|sent| {
                check_cli(&namesrv, topic, &sent)?;
                check_mqadmin(java, &node, topic, &sent)
            });
        if let Err(e) = checked {
            return Err(with_log(e, &process));
        }
    }
    process.stop()
}

fn with_log(e: Box<dyn std::error::Error>, process: &Process) -> Box<dyn std::error::Error> {
    format!("{e}\nbroker log:\n{}", process.log()).into()
}

#[test]
fn queries_find_messages_after_a_sigterm_restart() -> Result<()> {
    queries_survive(Restart::Stop)
}

#[test]
fn queries_find_messages_after_a_sigkill_restart() -> Result<()> {
    queries_survive(Restart::Kill)
}
