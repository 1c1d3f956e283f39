//! The official `mqadmin` (org.apache.rocketmq.tools.command.MQAdminStartup from rocketmq-tools,
//! 4.9.8 and 5.3.3) against `ferrimq standalone`, asserting on the printed output: clusterList,
//! topicList, updateTopic (create, then change the queue counts), topicStatus and consumerProgress
//! (of a group that committed part of a topic with the official consumer), updateSubGroup and
//! deleteSubGroup.

mod compat_harness;
mod ports;

use std::path::Path;

use compat_harness::{Java, Result, Standalone, mqadmin, tools_home, topic};

/// The whitespace-separated columns of each output line whose first column is `first`.
fn rows<'a>(output: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    output
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.first() == Some(&first))
        .collect()
}

fn check_cluster_and_topics(
    java: &Java,
    home: &Path,
    node: &Standalone,
    topic: &str,
) -> Result<()> {
    let namesrv = node.namesrv();
    let clusters = mqadmin(java, home, &namesrv, &["clusterList"])?;
    let broker_addr = format!("127.0.0.1:{}", node.broker_port);
    let row = rows(&clusters, "DefaultCluster");
    assert_eq!(row.len(), 1, "clusterList:\n{clusters}");
    assert_eq!(
        row[0][1..4],
        ["DEFAULT_BROKER", "0", broker_addr.as_str()],
        "{clusters}"
    );

    let created = mqadmin(
        java,
        home,
        &namesrv,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            topic,
            "-r",
            "4",
            "-w",
            "4",
        ],
    )?;
    assert!(
        created.contains(&format!("create topic to {broker_addr} success.")),
        "{created}"
    );
    let want =
        format!("TopicConfig [topicName={topic}, readQueueNums=4, writeQueueNums=4, perm=RW-");
    assert!(created.contains(&want), "updateTopic create:\n{created}");
    assert_stored_queues(node, topic, (4, 4));
    let updated = mqadmin(
        java,
        home,
        &namesrv,
        &[
            "updateTopic",
            "-c",
            "DefaultCluster",
            "-t",
            topic,
            "-r",
            "8",
            "-w",
            "6",
        ],
    )?;
    let want =
        format!("TopicConfig [topicName={topic}, readQueueNums=8, writeQueueNums=6, perm=RW-");
    assert!(updated.contains(&want), "updateTopic update:\n{updated}");
    assert_stored_queues(node, topic, (8, 6));

    let topics = mqadmin(java, home, &namesrv, &["topicList"])?;
    let listed: Vec<&str> = topics.lines().map(str::trim).collect();
    assert!(
        listed.contains(&topic) && listed.contains(&"TBW102"),
        "topicList:\n{topics}"
    );
    Ok(())
}

/// The broker applied (and persisted) the queue counts, not just echoed the request: its
/// topics.json holds (readQueueNums, writeQueueNums) for `topic`, with perm RW (6).
fn assert_stored_queues(node: &Standalone, topic: &str, queues: (u64, u64)) {
    let path = node.dir.path().join("data/store/config/topics.json");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let config = &doc["topicConfigTable"][topic];
    let stored = (
        config["readQueueNums"].as_u64(),
        config["writeQueueNums"].as_u64(),
        config["perm"].as_u64(),
    );
    assert_eq!(
        stored,
        (Some(queues.0), Some(queues.1), Some(6)),
        "{}:\n{text}",
        path.display()
    );
}

/// topicStatus of the 6-write-queue empty topic and consumerProgress of the offsets group.
fn check_status_and_progress(
    java: &Java,
    home: &Path,
    node: &Standalone,
    admin_topic: &str,
) -> Result<()> {
    let namesrv = node.namesrv();
    let status = mqadmin(java, home, &namesrv, &["topicStatus", "-t", admin_topic])?;
    let queues: Vec<Vec<&str>> = rows(&status, "DEFAULT_BROKER");
    let ids: Vec<&str> = queues.iter().map(|r| r[1]).collect();
    assert_eq!(
        ids,
        ["0", "1", "2", "3", "4", "5"],
        "topicStatus:\n{status}"
    );
    assert!(
        queues.iter().all(|r| r[2..4] == ["0", "0"]),
        "topicStatus:\n{status}"
    );

    let progress_topic = topic("mqadmin_progress", java.version);
    let dir = node.dir.path().join(&progress_topic);
    std::fs::create_dir_all(&dir)?;
    let consumed = java.scenario_count("offsets-before", &namesrv, &progress_topic, &dir)?;
    let group = format!("{progress_topic}_group");
    let progress = mqadmin(java, home, &namesrv, &["consumerProgress", "-g", &group])?;
    let queues = rows(&progress, &progress_topic);
    assert_eq!(queues.len(), 4, "consumerProgress:\n{progress}");
    let committed: usize = queues
        .iter()
        .map(|r| r[4].parse::<usize>().unwrap_or(usize::MAX))
        .sum();
    assert_eq!(committed, consumed, "consumerProgress:\n{progress}");
    assert!(
        queues
            .iter()
            .all(|r| r[1] == "DEFAULT_BROKER" && r[3] == "10"),
        "{progress}"
    );
    // 4.9 prints "Diff Total: N", 5.3 "Consume Diff Total: N" and "Consume Inflight Total: 0".
    let diff = format!("Diff Total: {}", 40 - consumed);
    assert!(
        progress.lines().any(|l| l.trim().ends_with(&diff)),
        "consumerProgress:\n{progress}"
    );
    if java.version == "5.3" {
        assert!(
            progress
                .lines()
                .any(|l| l.trim() == "Consume Inflight Total: 0"),
            "{progress}"
        );
    }
    Ok(())
}

/// The group's entry in the broker's persisted subscriptionGroup.json, if any.
fn stored_group(node: &Standalone, group: &str) -> Option<serde_json::Value> {
    let path = node
        .dir
        .path()
        .join("data/store/config/subscriptionGroup.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    doc["subscriptionGroupTable"].get(group).cloned()
}

/// updateSubGroup creates then changes a group; deleteSubGroup removes it (DELETE_SUBSCRIPTIONGROUP).
fn check_sub_groups(java: &Java, home: &Path, node: &Standalone) -> Result<()> {
    let namesrv = node.namesrv();
    let group = format!("{}_group", topic("mqadmin_subgroup", java.version));
    let broker_addr = format!("127.0.0.1:{}", node.broker_port);
    let create = [
        "updateSubGroup",
        "-c",
        "DefaultCluster",
        "-g",
        &group,
        "-r",
        "3",
    ];
    let created = mqadmin(java, home, &namesrv, &create)?;
    assert!(
        created.contains(&format!(
            "create subscription group to {broker_addr} success."
        )),
        "{created}"
    );
    let stored = stored_group(node, &group).ok_or("group not persisted")?;
    assert_eq!(stored["retryMaxTimes"], 3, "{stored}");
    let update = [
        "updateSubGroup",
        "-b",
        &broker_addr,
        "-g",
        &group,
        "-r",
        "7",
        "-d",
        "true",
    ];
    mqadmin(java, home, &namesrv, &update)?;
    let stored = stored_group(node, &group).ok_or("group not persisted")?;
    assert_eq!(stored["retryMaxTimes"], 7, "{stored}");
    assert_eq!(stored["consumeBroadcastEnable"], true, "{stored}");
    let deleted = mqadmin(
        java,
        home,
        &namesrv,
        &["deleteSubGroup", "-c", "DefaultCluster", "-g", &group],
    )?;
    assert!(
        deleted.contains(&format!("delete subscription group [{group}] from broker [{broker_addr}] in cluster [DefaultCluster] success.")),
        "{deleted}"
    );
    // 4.9 also deletes the group's retry and DLQ topics (5.3 does not).
    if java.version == "4.9" {
        for prefix in ["%RETRY%", "%DLQ%"] {
            let line =
                format!("delete topic [{prefix}{group}] from cluster [DefaultCluster] success.");
            assert!(deleted.contains(&line), "{deleted}");
        }
    }
    assert!(
        stored_group(node, &group).is_none(),
        "group still stored after deleteSubGroup"
    );
    Ok(())
}

fn admin_commands(version: &'static str) -> Result<()> {
    let node = Standalone::new()?;
    let Some(java) = Java::new(version, node.dir.path())? else {
        return Ok(());
    };
    let process = node.start()?;
    let home = tools_home(node.dir.path())?;
    let topic = topic("mqadmin", version);
    let checked = check_cluster_and_topics(&java, &home, &node, &topic)
        .and_then(|()| check_status_and_progress(&java, &home, &node, &topic))
        .and_then(|()| check_sub_groups(&java, &home, &node));
    if let Err(e) = checked {
        return Err(format!("{e}\nbroker log:\n{}", process.log()).into());
    }
    process.stop()
}

#[test]
fn mqadmin_4_9_lists_creates_updates_and_reports() -> Result<()> {
    admin_commands("4.9")
}

#[test]
fn mqadmin_5_3_lists_creates_updates_and_reports() -> Result<()> {
    admin_commands("5.3")
}
