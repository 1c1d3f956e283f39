//! The six allocation strategies against results printed by the Java client's own strategies
//! (rocketmq-client 5.3.3, `AllocateMessageQueue*` classes run on the same inputs), plus the edge
//! cases: more consumers than queues, a consumer not in the list, unsorted input, bad input.

use std::collections::BTreeSet;
use std::sync::Arc;

use ferrimq_client::allocate::{
    AllocateError, AllocateStrategy, Averagely, AveragelyByCircle, ByConfig, ByMachineRoom,
    ConsistentHash, MachineRoomNearby, MachineRoomResolver, allocate_sorted, ring_hash,
};
use ferrimq_remoting::body::MessageQueue;

fn queues(topic: &str, brokers: &[&str], per_broker: i32) -> Vec<MessageQueue> {
    brokers
        .iter()
        .flat_map(|b| {
            (0..per_broker).map(move |id| MessageQueue {
                broker_name: (*b).to_owned(),
                queue_id: id,
                topic: topic.to_owned(),
            })
        })
        .collect()
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// "broker/queueId" of each allocated queue, per consumer in `cids` order.
fn table(strategy: &dyn AllocateStrategy, mqs: &[MessageQueue], cids: &[String]) -> Vec<String> {
    cids.iter()
        .map(|cid| {
            let got = strategy.allocate("G", cid, mqs, cids).expect("valid input");
            let names: Vec<String> = got
                .iter()
                .map(|q| format!("{}/{}", q.broker_name, q.queue_id))
                .collect();
            names.join(" ")
        })
        .collect()
}

fn eight_queues() -> Vec<MessageQueue> {
    queues("TopicA", &["broker-a", "broker-b"], 4)
}

fn three_consumers() -> Vec<String> {
    ids(&["10.0.0.1@1", "10.0.0.2@2", "10.0.0.3@3"])
}

#[test]
fn averagely_gives_contiguous_blocks_extra_to_the_first() {
    assert_eq!(
        table(&Averagely, &eight_queues(), &three_consumers()),
        [
            "broker-a/0 broker-a/1 broker-a/2",
            "broker-a/3 broker-b/0 broker-b/1",
            "broker-b/2 broker-b/3"
        ]
    );
    assert_eq!(Averagely.name(), "AVG");
}

#[test]
fn averagely_by_circle_deals_round_robin() {
    assert_eq!(
        table(&AveragelyByCircle, &eight_queues(), &three_consumers()),
        [
            "broker-a/0 broker-a/3 broker-b/2",
            "broker-a/1 broker-b/0 broker-b/3",
            "broker-a/2 broker-b/1"
        ]
    );
    assert_eq!(AveragelyByCircle.name(), "AVG_BY_CIRCLE");
}

#[test]
fn more_consumers_than_queues_leaves_the_last_idle() {
    let two = queues("T", &["b"], 2);
    for strategy in [&Averagely as &dyn AllocateStrategy, &AveragelyByCircle] {
        assert_eq!(
            table(strategy, &two, &three_consumers()),
            ["b/0", "b/1", ""]
        );
    }
}

#[test]
fn every_queue_is_allocated_exactly_once_for_any_group_size() {
    let mqs = queues("T", &["a", "b", "c"], 5);
    let strategies: [&dyn AllocateStrategy; 3] =
        [&Averagely, &AveragelyByCircle, &ConsistentHash::default()];
    for strategy in strategies {
        for members in 1..=20 {
            let cids: Vec<String> = (0..members).map(|i| format!("c{i:02}")).collect();
            let mut seen = Vec::new();
            for cid in &cids {
                seen.extend(strategy.allocate("G", cid, &mqs, &cids).expect("valid"));
            }
            seen.sort();
            let mut all = mqs.clone();
            all.sort();
            assert_eq!(seen, all, "{} with {members} members", strategy.name());
        }
    }
}

#[test]
fn consumer_not_in_the_list_gets_nothing() {
    let mqs = eight_queues();
    let cids = three_consumers();
    let strategies: [&dyn AllocateStrategy; 4] = [
        &Averagely,
        &AveragelyByCircle,
        &ConsistentHash::default(),
        &ByMachineRoom::new(["broker"]),
    ];
    for strategy in strategies {
        assert_eq!(strategy.allocate("G", "stranger", &mqs, &cids), Ok(vec![]));
    }
}

#[test]
fn bad_input_is_refused_like_java() {
    let mqs = eight_queues();
    let cids = three_consumers();
    assert_eq!(
        Averagely.allocate("G", "", &mqs, &cids),
        Err(AllocateError::EmptyConsumerId)
    );
    assert_eq!(
        Averagely.allocate("G", "10.0.0.1@1", &[], &cids),
        Err(AllocateError::NoQueues)
    );
    assert_eq!(
        ConsistentHash::default().allocate("G", "10.0.0.1@1", &mqs, &[]),
        Err(AllocateError::NoConsumers)
    );
}

#[test]
fn unsorted_duplicated_input_is_sorted_before_allocating() {
    let mut shuffled = eight_queues();
    shuffled.reverse();
    shuffled.push(shuffled[0].clone());
    let cids = ids(&["10.0.0.3@3", "10.0.0.1@1", "10.0.0.2@2", "10.0.0.1@1"]);
    let got = allocate_sorted(&Averagely, "G", "10.0.0.2@2", shuffled, cids).expect("valid");
    let sorted = eight_queues();
    assert_eq!(got, sorted[3..6].to_vec());
}

#[test]
fn by_config_answers_the_configured_queues_whatever_the_group() {
    let mine = queues("T", &["x"], 2);
    let strategy = ByConfig::new(mine.clone());
    assert_eq!(
        strategy.allocate("G", "anyone", &eight_queues(), &three_consumers()),
        Ok(mine)
    );
    assert_eq!(strategy.name(), "CONFIG");
}

#[test]
fn by_machine_room_shares_only_the_consumed_rooms() {
    let mqs = queues("T", &["room1@b1", "room2@b2", "room3@b3", "plain"], 3);
    let cids = ids(&["c0", "c1", "c2", "c3"]);
    let strategy = ByMachineRoom::new(["room1", "room2"]);
    assert_eq!(
        table(&strategy, &mqs, &cids),
        [
            "room1@b1/0 room2@b2/1",
            "room1@b1/1 room2@b2/2",
            "room1@b1/2",
            "room2@b2/0"
        ]
    );
    assert_eq!(strategy.name(), "MACHINE_ROOM");
}

/// Room = text before the first '-' of the broker name or client id.
#[derive(Debug)]
struct PrefixRooms;

impl MachineRoomResolver for PrefixRooms {
    fn broker_deploy_in(&self, queue: &MessageQueue) -> Option<String> {
        queue.broker_name.split('-').next().map(str::to_owned)
    }
    fn consumer_deploy_in(&self, client_id: &str) -> Option<String> {
        client_id.split('-').next().map(str::to_owned)
    }
}

#[test]
fn machine_room_nearby_prefers_own_room_and_shares_orphan_rooms() {
    let mqs = queues("T", &["IDC1-b1", "IDC2-b2", "IDC3-b3"], 4);
    let cids = ids(&["IDC1-c1", "IDC1-c2", "IDC2-c3"]);
    let strategy = MachineRoomNearby::new(Arc::new(Averagely), Arc::new(PrefixRooms));
    assert_eq!(
        table(&strategy, &mqs, &cids),
        [
            "IDC1-b1/0 IDC1-b1/1 IDC3-b3/0 IDC3-b3/1",
            "IDC1-b1/2 IDC1-b1/3 IDC3-b3/2",
            "IDC2-b2/0 IDC2-b2/1 IDC2-b2/2 IDC2-b2/3 IDC3-b3/3"
        ]
    );
    assert_eq!(strategy.name(), "MACHINE_ROOM_NEARBY-AVG");
}

#[derive(Debug)]
struct NoRooms;

impl MachineRoomResolver for NoRooms {
    fn broker_deploy_in(&self, _queue: &MessageQueue) -> Option<String> {
        None
    }
    fn consumer_deploy_in(&self, _client_id: &str) -> Option<String> {
        Some("r".to_owned())
    }
}

#[test]
fn machine_room_nearby_refuses_a_queue_without_room() {
    let strategy = MachineRoomNearby::new(Arc::new(Averagely), Arc::new(NoRooms));
    let outcome = strategy.allocate("G", "10.0.0.1@1", &eight_queues(), &three_consumers());
    assert!(matches!(
        outcome,
        Err(AllocateError::UnknownMachineRoom { what }) if what.contains("broker-a")
    ));
}

#[test]
fn ring_hash_is_the_first_four_md5_bytes() {
    // Digests of the RFC 1321 test suite.
    assert_eq!(ring_hash(""), 0xd41d_8cd9);
    assert_eq!(ring_hash("abc"), 0x9001_5098);
}

#[test]
fn consistent_hash_matches_java_ring() {
    let mqs = eight_queues();
    assert_eq!(
        table(&ConsistentHash::default(), &mqs, &three_consumers()),
        [
            "broker-a/0 broker-b/2",
            "broker-a/2 broker-b/1 broker-b/3",
            "broker-a/1 broker-a/3 broker-b/0"
        ]
    );
    assert_eq!(
        table(&ConsistentHash::new(3), &mqs, &three_consumers()),
        [
            "broker-a/1 broker-a/2 broker-b/1",
            "broker-b/0 broker-b/3",
            "broker-a/0 broker-a/3 broker-b/2"
        ]
    );
    let ten = queues("T", &["b"], 10);
    assert_eq!(
        table(
            &ConsistentHash::default(),
            &ten,
            &ids(&["c0", "c1", "c2", "c3"])
        ),
        ["b/3 b/4 b/6", "b/2 b/9", "b/0 b/7 b/8", "b/1 b/5"]
    );
}

#[test]
fn consistent_hash_moves_only_the_leavers_queues() {
    let mqs = eight_queues();
    let before = table(&ConsistentHash::default(), &mqs, &three_consumers());
    let remaining = ids(&["10.0.0.1@1", "10.0.0.3@3"]);
    let after = table(&ConsistentHash::default(), &mqs, &remaining);
    // Java: the leaver's broker-a/2, broker-b/1, broker-b/3 go to 10.0.0.1@1; the rest stay.
    assert_eq!(
        after,
        [
            "broker-a/0 broker-a/2 broker-b/1 broker-b/2 broker-b/3",
            "broker-a/1 broker-a/3 broker-b/0"
        ]
    );
    let kept = |s: &str| s.split(' ').map(str::to_owned).collect::<BTreeSet<_>>();
    assert!(kept(&before[0]).is_subset(&kept(&after[0])));
    assert_eq!(before[2], after[1]);
}
