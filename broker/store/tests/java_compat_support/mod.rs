//! Helpers of `java_compat.rs`: the manifest format written by `e2e/java` (`ManifestRecord.java`),
//! the ferrimq-written store served to the Java broker, and small codecs (base64, a zlib stream of
//! stored deflate blocks) so the test needs no extra crates.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use ferrimq_config::{Perm, TopicConfig};
use ferrimq_store::metadata::TopicTable;
use ferrimq_store::record::{MessageRecord, msg_id};
use ferrimq_store::seam::real_files;
use ferrimq_store::store::{MessageStore, StoreConfig};
use serde::Deserialize;

/// One manifest line (see tests/fixtures/java-5.3-store/README.md for the field meanings).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestEntry {
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: u64,
    pub commit_log_offset: u64,
    pub store_size: usize,
    pub offset_msg_id: String,
    pub msg_id: Option<String>,
    pub tags: Option<String>,
    pub keys: Option<String>,
    pub flag: i32,
    pub sys_flag: i32,
    #[serde(rename = "bodyCRC")]
    pub body_crc: u32,
    pub born_timestamp: i64,
    pub born_host: String,
    pub store_timestamp: i64,
    pub store_host: String,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub properties: BTreeMap<String, String>,
    pub body: String,
    pub stored_body: Option<String>,
}

/// Parses a JSON-lines manifest.
pub fn load_manifest(path: &Path) -> Result<Vec<ManifestEntry>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

/// Standard base64 (with padding) to bytes.
pub fn base64_decode(s: &str) -> Result<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let data = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        ensure!(chunk.len() > 1, "truncated base64");
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let Some(v) = value(*c) else {
                bail!("bad base64 byte {c:#x}")
            };
            acc |= v << (18 - 6 * i);
        }
        out.extend_from_slice(&acc.to_be_bytes()[1..chunk.len()]);
    }
    Ok(out)
}

/// Recursive copy of a directory tree (the committed fixture must stay untouched).
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Java 17 and Maven present? Without them: `Ok(false)` with a notice, or an error when
/// `FERRIMQ_REQUIRE_JAVA=1`.
pub fn java_available() -> Result<bool> {
    let runs = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs("java", "-version") && runs("mvn", "-v") {
        return Ok(true);
    }
    ensure!(
        std::env::var("FERRIMQ_REQUIRE_JAVA").as_deref() != Ok("1"),
        "FERRIMQ_REQUIRE_JAVA=1 but java or mvn is not runnable"
    );
    eprintln!(
        "java_compat: java/mvn not found, not running the Java broker (set FERRIMQ_REQUIRE_JAVA=1 to require it)"
    );
    Ok(false)
}

/// A zlib stream (RFC 1950) of stored deflate blocks: valid input for Java's `Inflater`.
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut chunks = data.chunks(65_535).peekable();
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in data {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// What ferrimq appended, in the served manifest's order (topic, queue, offset).
#[derive(Debug, Clone)]
pub struct Written {
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: u64,
    pub physical_offset: u64,
    pub size: usize,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub properties: BTreeMap<String, String>,
    pub stored_body: Vec<u8>,
    /// The body the application sees (inflated).
    pub body: Vec<u8>,
}

const STORE_HOST: &str = "127.0.0.1:20911";

fn text_body(i: usize, len: usize) -> Vec<u8> {
    let text = format!("ferrimq-written message {i}; ");
    text.bytes().cycle().take(len).collect()
}

/// A message for `topic`/`queue` with deterministic properties; `zipped` stores the body as a
/// zlib stream with sysFlag COMPRESSED | ZLIB (0x301), as a 5.x producer would.
fn record(
    i: usize,
    topic: &str,
    queue: i32,
    plain: Vec<u8>,
    zipped: bool,
) -> Result<(MessageRecord, Vec<u8>)> {
    let stored = if zipped {
        zlib_stored(&plain)
    } else {
        plain.clone()
    };
    let mut b = MessageRecord::builder(topic, stored)
        .queue_id(queue)
        .flag((i % 3) as i32)
        .sys_flag(if zipped { 0x301 } else { 0 })
        .born_timestamp(1_763_000_000_000 + i as i64)
        .born_host(format!("127.0.0.1:{}", 40_000 + i).parse()?)
        .store_host(STORE_HOST.parse()?)
        .property(
            "UNIQ_KEY",
            format!("7F00000100002A9F{:016X}", 0xF3E0_0000 + i),
        )
        .property("WAIT", "true")
        .property(
            "KEYS",
            if i % 4 == 0 {
                format!("k-{i} alt-{i}")
            } else {
                format!("k-{i}")
            },
        )
        .property("seq", i.to_string());
    if i % 5 != 0 {
        b = b.property("TAGS", format!("T{}", i % 4));
    }
    Ok((b.build()?, plain))
}

fn written(r: &MessageRecord, plain: Vec<u8>, at: (u64, usize, u64, i64)) -> Written {
    let properties = ferrimq_store::record::Properties::parse(r.properties_str());
    Written {
        topic: r.topic().to_owned(),
        queue_id: r.queue_id(),
        queue_offset: at.2,
        physical_offset: at.0,
        size: at.1,
        flag: r.flag(),
        sys_flag: r.sys_flag(),
        born_timestamp: r.born_timestamp(),
        born_host: r.born_host(),
        store_timestamp: at.3,
        store_host: r.store_host(),
        properties: properties
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        stored_body: r.body().to_vec(),
        body: plain,
    }
}

/// Writes the store under `config.store_path_root_dir`: 90 messages over 3 queues of `FerriOrders`
/// (bodies up to 3 KB, several CommitLog files), one compressed message in `FerriZipped`, a batch of
/// 5 in `FerriBatch`, and `config/topics.json` declaring the three topics. Shuts the store down
/// cleanly and returns what was written, sorted like the served manifest.
pub fn write_ferrimq_store(config: StoreConfig) -> Result<Vec<Written>> {
    let root = config.store_path_root_dir.clone();
    let store = MessageStore::open(config)?;
    let mut out = Vec::new();
    for i in 0..90 {
        let (r, plain) = record(
            i,
            "FerriOrders",
            (i % 3) as i32,
            text_body(i, 200 + (i * 397) % 2_800),
            false,
        )?;
        let a = store.append(&r)?;
        out.push(written(
            &r,
            plain,
            (
                a.physical_offset,
                a.size,
                a.queue_offset as u64,
                a.store_timestamp,
            ),
        ));
    }
    let (r, plain) = record(90, "FerriZipped", 0, text_body(90, 5_000), true)?;
    let a = store.append(&r)?;
    out.push(written(
        &r,
        plain,
        (
            a.physical_offset,
            a.size,
            a.queue_offset as u64,
            a.store_timestamp,
        ),
    ));
    let batch: Vec<(MessageRecord, Vec<u8>)> = (91..96)
        .map(|i| record(i, "FerriBatch", 0, text_body(i, 64 + i), false))
        .collect::<Result<_>>()?;
    let records: Vec<MessageRecord> = batch.iter().map(|(r, _)| r.clone()).collect();
    let a = store.append_batch(&records)?;
    for (j, ((r, plain), (off, size))) in batch.into_iter().zip(a.records).enumerate() {
        let queue_offset = a.first_queue_offset as u64 + j as u64;
        out.push(written(
            &r,
            plain,
            (off, size, queue_offset, a.store_timestamp),
        ));
    }
    store.shutdown()?;
    drop(store);
    let topics = TopicTable::open(&root.join("config"), real_files())?;
    for (name, queues) in [("FerriOrders", 3), ("FerriZipped", 1), ("FerriBatch", 1)] {
        topics.upsert(TopicConfig::with_queues(name, queues, Perm::READ_WRITE));
    }
    topics.persist()?;
    out.sort_by(|a, b| {
        (&a.topic, a.queue_id, a.queue_offset).cmp(&(&b.topic, b.queue_id, b.queue_offset))
    });
    Ok(out)
}

/// The Java consumer's view of a served message equals what ferrimq appended.
pub fn assert_served(got: &ManifestEntry, want: &Written) -> Result<()> {
    let at = format!("{}/{}@{}", want.topic, want.queue_id, want.queue_offset);
    assert_eq!(got.topic, want.topic, "{at}");
    assert_eq!(got.queue_id, want.queue_id, "{at}");
    assert_eq!(got.queue_offset, want.queue_offset, "{at}");
    assert_eq!(got.commit_log_offset, want.physical_offset, "{at}");
    assert_eq!(got.store_size, want.size, "{at}");
    assert_eq!(got.flag, want.flag, "{at}");
    assert_eq!(got.sys_flag, want.sys_flag, "{at}");
    assert_eq!(
        got.body_crc,
        crc32fast::hash(&want.stored_body) & 0x7FFF_FFFF,
        "{at}"
    );
    assert_eq!(got.born_timestamp, want.born_timestamp, "{at}");
    assert_eq!(got.born_host, want.born_host.to_string(), "{at}");
    assert_eq!(got.store_timestamp, want.store_timestamp, "{at}");
    assert_eq!(got.store_host, want.store_host.to_string(), "{at}");
    assert_eq!(
        got.offset_msg_id,
        msg_id::encode(want.store_host, want.physical_offset as i64),
        "{at}"
    );
    assert_eq!(got.properties, want.properties, "{at}");
    assert_eq!(got.msg_id.as_ref(), want.properties.get("UNIQ_KEY"), "{at}");
    assert_eq!(base64_decode(&got.body)?, want.body, "{at}: body");
    Ok(())
}
