//! [`ConsistentHash`] (Java `AllocateMessageQueueConsistentHash`): each consumer is placed on a
//! hash ring `virtual_nodes` times (keys `cid-0`, `cid-1`, ...); a queue goes to the first node
//! at or after the hash of its Java string form, wrapping around. The hash is Java's default
//! `MD5Hash`: the first four digest bytes, big-endian, as an unsigned 32-bit value. Members leaving
//! or joining move only the queues next to their nodes.

use std::collections::BTreeMap;

use ferrimq_remoting::body::MessageQueue;

use super::{AllocateError, AllocateStrategy, check, java_queue_string, md5};

/// Consistent hashing over consumer ids (10 virtual nodes per consumer by default).
#[derive(Debug, Clone, Copy)]
pub struct ConsistentHash {
    /// Virtual nodes per consumer.
    pub virtual_nodes: usize,
}

impl Default for ConsistentHash {
    fn default() -> Self {
        ConsistentHash { virtual_nodes: 10 }
    }
}

impl ConsistentHash {
    /// A ring with `virtual_nodes` nodes per consumer.
    pub fn new(virtual_nodes: usize) -> Self {
        ConsistentHash { virtual_nodes }
    }

    /// The ring: hash -> consumer id. A later node with an equal hash replaces the earlier one,
    /// and a repeated consumer id continues its replica numbering, both as Java's `TreeMap` ring.
    fn ring<'a>(&self, cid_all: &'a [String]) -> BTreeMap<u32, &'a str> {
        let mut ring = BTreeMap::new();
        let mut replicas: BTreeMap<&str, usize> = BTreeMap::new();
        for cid in cid_all {
            let existing = replicas.entry(cid.as_str()).or_default();
            for i in 0..self.virtual_nodes {
                ring.insert(ring_hash(&format!("{cid}-{}", i + *existing)), cid.as_str());
            }
            *existing += self.virtual_nodes;
        }
        ring
    }
}

/// Java `ConsistentHashRouter.MD5Hash.hash`: first four MD5 bytes of the UTF-8 key, big-endian.
pub fn ring_hash(key: &str) -> u32 {
    let d = md5::digest(key.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

impl AllocateStrategy for ConsistentHash {
    fn name(&self) -> String {
        "CONSISTENT_HASH".to_owned()
    }

    fn allocate(
        &self,
        _group: &str,
        current_cid: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Result<Vec<MessageQueue>, AllocateError> {
        if !check(current_cid, mq_all, cid_all)? {
            return Ok(Vec::new());
        }
        let ring = self.ring(cid_all);
        let owner = |queue: &MessageQueue| {
            let hash = ring_hash(&java_queue_string(queue));
            ring.range(hash..)
                .next()
                .or_else(|| ring.iter().next())
                .map(|(_, cid)| *cid)
        };
        Ok(mq_all
            .iter()
            .filter(|q| owner(q) == Some(current_cid))
            .cloned()
            .collect())
    }
}
