//! KV config: namespaced string pairs set by admin tools (PUT/GET/DELETE_KV_CONFIG), the
//! best-known being ORDER_TOPIC_CONFIG (topic -> "brokerName:queueNum;...").
//!
//! Persisted to `kvConfigPath` as `{"configTable":{ns:{k:v}}}`, the file Java's
//! `KVConfigManager` writes, so a ferrimq name server can take over a Java one's file. Every
//! change rewrites the file atomically (temporary file, fsync, rename, fsync of the directory)
//! while holding the write lock, so the file always holds a complete, in-order snapshot.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::error::{NamesrvError, Result};

/// Namespace of ordered-topic configuration (`NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG`).
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

/// Namespace -> key -> value.
type ConfigTable = BTreeMap<String, BTreeMap<String, String>>;

/// On-disk form (`KVConfigSerializeWrapper`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvFile {
    config_table: ConfigTable,
}

/// The KV config store of a name server.
#[derive(Debug)]
pub struct KvConfig {
    path: PathBuf,
    table: RwLock<ConfigTable>,
}

impl KvConfig {
    /// Loads `path`; a missing file gives an empty store.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let table = match fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => ConfigTable::new(),
            Ok(bytes) => {
                let file: KvFile =
                    ferrimq_fastjson::from_slice(&bytes).map_err(|e| NamesrvError::KvParse {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                file.config_table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigTable::new(),
            Err(source) => return Err(NamesrvError::KvRead { path, source }),
        };
        Ok(KvConfig {
            path,
            table: RwLock::new(table),
        })
    }

    /// The file this store persists to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets `namespace`/`key` to `value` and persists. On a persistence error the value stays
    /// set in memory.
    pub fn put(&self, namespace: &str, key: &str, value: &str) -> Result<()> {
        let mut table = self.write();
        table
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        tracing::info!(namespace, key, value, "KV config put");
        persist(&self.path, &table)
    }

    /// The value of `namespace`/`key`.
    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.get(namespace)?.get(key).cloned()
    }

    /// Removes `namespace`/`key` and persists when it existed. Returns whether it existed.
    /// An emptied namespace stays (empty), as in Java.
    pub fn delete(&self, namespace: &str, key: &str) -> Result<bool> {
        let mut table = self.write();
        let removed = table
            .get_mut(namespace)
            .and_then(|pairs| pairs.remove(key))
            .is_some();
        if removed {
            tracing::info!(namespace, key, "KV config deleted");
            persist(&self.path, &table)?;
        }
        Ok(removed)
    }

    /// Every pair of `namespace`, or `None` when the namespace was never used.
    pub fn namespace(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.get(namespace).cloned()
    }

    fn write(&self) -> RwLockWriteGuard<'_, ConfigTable> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes `table` to `path` atomically: temporary sibling, fsync, rename, directory fsync.
fn persist(path: &Path, table: &ConfigTable) -> Result<()> {
    let file = KvFile {
        config_table: table.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| NamesrvError::KvWrite {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| NamesrvError::KvWrite { path, source }
    };
    fs::create_dir_all(&parent).map_err(write_err(&parent))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut out = File::create(&tmp).map_err(write_err(&tmp))?;
    out.write_all(&json).map_err(write_err(&tmp))?;
    out.sync_all().map_err(write_err(&tmp))?;
    drop(out);
    fs::rename(&tmp, path).map_err(write_err(path))?;
    File::open(&parent)
        .and_then(|dir| dir.sync_all())
        .map_err(write_err(&parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("namesrv").join("kvConfig.json");
        let kv = KvConfig::load(&path).expect("missing file is empty");
        assert_eq!(kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG), None);
        kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "T1", "broker-a:4")
            .expect("put");
        kv.put(NAMESPACE_ORDER_TOPIC_CONFIG, "T2", "broker-b:2")
            .expect("put");
        kv.put("other", "k", "v").expect("put");
        assert!(
            kv.delete(NAMESPACE_ORDER_TOPIC_CONFIG, "T2")
                .expect("delete")
        );
        assert!(!kv.delete("other", "missing").expect("delete"));

        let written: serde_json::Value =
            serde_json::from_slice(&fs::read(&path).expect("file written")).expect("json");
        assert_eq!(
            written,
            serde_json::json!({"configTable": {
                "ORDER_TOPIC_CONFIG": {"T1": "broker-a:4"},
                "other": {"k": "v"}
            }})
        );
        assert!(!dir.path().join("namesrv/kvConfig.json.tmp").exists());

        let reloaded = KvConfig::load(&path).expect("reload");
        assert_eq!(
            reloaded.get(NAMESPACE_ORDER_TOPIC_CONFIG, "T1").as_deref(),
            Some("broker-a:4")
        );
        assert_eq!(reloaded.get(NAMESPACE_ORDER_TOPIC_CONFIG, "T2"), None);
        assert_eq!(
            reloaded.namespace("other"),
            Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]))
        );
    }

    #[test]
    fn reads_a_java_written_file_and_rejects_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kvConfig.json");
        fs::write(
            &path,
            r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"b:8"}}}"#,
        )
        .expect("write");
        let kv = KvConfig::load(&path).expect("java file");
        assert_eq!(kv.get("ORDER_TOPIC_CONFIG", "T").as_deref(), Some("b:8"));

        fs::write(&path, "{not json").expect("write");
        match KvConfig::load(&path) {
            Err(NamesrvError::KvParse { path: p, .. }) => assert_eq!(p, path),
            other => panic!("expected KvParse, got {other:?}"),
        }
    }
}
