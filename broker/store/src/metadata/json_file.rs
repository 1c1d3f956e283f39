//! One JSON metadata file persisted crash-safely, compatible with RocketMQ's `ConfigManager`.
//!
//! Writing `<name>`: write `<name>.tmp` and fsync it; make the current `<name>` also reachable
//! as `<name>.bak` (a hard link, or a synced copy where links are unsupported); rename
//! `<name>.tmp` over `<name>`; fsync the directory. At every instant `<name>` is a complete
//! version, old or new, and `<name>.bak` is the previous good one, which is what RocketMQ's own
//! `.bak` convention promises (Java writes in place, so its files can be torn; ours cannot).
//!
//! Loading: `<name>` if it decodes; otherwise (missing, empty or unparsable) `<name>.bak`;
//! neither present means a fresh store; both bad is [`MetadataError::Unreadable`].

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::metadata::error::{MetadataError, Result};
use crate::seam::{SharedSeam, real_files};

/// Which copy a table was loaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The main file.
    Main,
    /// The `.bak` file (the main one was missing or unreadable).
    Backup,
}

/// A decoded file and where it came from.
#[derive(Debug)]
pub struct LoadedFile<T> {
    /// The decoded content.
    pub value: T,
    /// Main file or backup.
    pub source: Source,
}

/// A metadata file at a fixed path.
#[derive(Debug, Clone)]
pub struct JsonFile {
    path: PathBuf,
    seam: SharedSeam,
}

impl JsonFile {
    /// A file at `path` using the production seam.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_seam(path, real_files())
    }

    /// A file at `path` reporting syncs to `seam` (tests inject failures there).
    pub fn with_seam(path: impl Into<PathBuf>, seam: SharedSeam) -> Self {
        Self {
            path: path.into(),
            seam,
        }
    }

    /// The main file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<name>.bak`.
    pub fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".bak")
    }

    /// `<name>.tmp`.
    pub fn temp_path(&self) -> PathBuf {
        sibling(&self.path, ".tmp")
    }

    /// Loads and decodes the file, falling back to the backup. `Ok(None)` when neither exists.
    pub fn load<T>(
        &self,
        decode: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<Option<LoadedFile<T>>> {
        let main_reason = match read_text(&self.path)? {
            Some(text) => match decode(&text) {
                Ok(value) => {
                    return Ok(Some(LoadedFile {
                        value,
                        source: Source::Main,
                    }));
                }
                Err(reason) => Some(reason),
            },
            None => None,
        };
        let backup = self.backup_path();
        let backup_reason = match read_text(&backup)? {
            Some(text) => match decode(&text) {
                Ok(value) => {
                    let why = main_reason.as_deref().unwrap_or("missing or empty");
                    tracing::warn!(path = %self.path.display(), reason = why, "loaded metadata from backup");
                    return Ok(Some(LoadedFile {
                        value,
                        source: Source::Backup,
                    }));
                }
                Err(reason) => reason,
            },
            None if main_reason.is_none() => return Ok(None),
            None => "missing or empty".to_owned(),
        };
        Err(MetadataError::Unreadable {
            path: self.path.clone(),
            reason: main_reason.unwrap_or_else(|| "missing or empty".to_owned()),
            backup,
            backup_reason,
        })
    }

    /// Replaces the file's content atomically, keeping the previous version as `.bak`.
    pub fn store(&self, text: &str) -> Result<()> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        ensure_dir(dir, &self.seam)?;
        let temp = self.temp_path();
        self.write_synced(&temp, text.as_bytes())?;
        self.keep_backup()?;
        fs::rename(&temp, &self.path).map_err(|e| MetadataError::io(&temp, e))?;
        self.sync_dir(dir)
    }

    fn write_synced(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| MetadataError::io(path, e))?;
        file.write_all(bytes)
            .map_err(|e| MetadataError::io(path, e))?;
        self.seam
            .before_sync(path)
            .map_err(|e| MetadataError::io(path, e))?;
        file.sync_all().map_err(|e| MetadataError::io(path, e))?;
        self.seam.synced(path, bytes.len() as u64);
        Ok(())
    }

    /// Points `.bak` at the current main file. A crash here leaves the main file intact.
    fn keep_backup(&self) -> Result<()> {
        if !self.path.exists() {
            return Ok(());
        }
        let backup = self.backup_path();
        match fs::remove_file(&backup) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(MetadataError::io(&backup, e)),
        }
        if fs::hard_link(&self.path, &backup).is_ok() {
            return Ok(());
        }
        let previous = fs::read(&self.path).map_err(|e| MetadataError::io(&self.path, e))?;
        self.write_synced(&backup, &previous)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.seam
            .before_sync(dir)
            .map_err(|e| MetadataError::io(dir, e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| MetadataError::io(dir, e))?;
        self.seam.synced(dir, 0);
        Ok(())
    }
}

/// Creates `dir` (and parents) if needed, syncing the parent so the new entry survives a crash.
fn ensure_dir(dir: &Path, seam: &SharedSeam) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| MetadataError::io(dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| MetadataError::io(parent, e))?;
    }
    seam.created(dir);
    Ok(())
}

/// The file's text; `None` when it is missing or blank (Java treats a blank file as absent).
fn read_text(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Ok((!text.trim().is_empty()).then_some(text))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MetadataError::io(path, e)),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> std::result::Result<String, String> {
        if text.starts_with('{') {
            Ok(text.to_owned())
        } else {
            Err(format!("not an object: {text}"))
        }
    }

    #[test]
    fn store_then_load_keeps_previous_as_backup() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonFile::new(dir.path().join("config/topics.json"));
        assert!(file.load(decode).unwrap().is_none());
        file.store("{1}").unwrap();
        assert!(!file.backup_path().exists());
        file.store("{2}").unwrap();
        assert_eq!(fs::read_to_string(file.backup_path()).unwrap(), "{1}");
        file.store("{3}").unwrap();
        assert_eq!(fs::read_to_string(file.backup_path()).unwrap(), "{2}");
        let loaded = file.load(decode).unwrap().unwrap();
        assert_eq!(
            (loaded.value.as_str(), loaded.source),
            ("{3}", Source::Main)
        );
        assert!(!file.temp_path().exists());
    }

    #[test]
    fn corrupt_main_falls_back_to_backup() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonFile::new(dir.path().join("t.json"));
        fs::write(file.path(), "garbage").unwrap();
        fs::write(file.backup_path(), "{ok}").unwrap();
        let loaded = file.load(decode).unwrap().unwrap();
        assert_eq!(
            (loaded.value.as_str(), loaded.source),
            ("{ok}", Source::Backup)
        );
    }

    #[test]
    fn both_bad_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonFile::new(dir.path().join("t.json"));
        fs::write(file.path(), "garbage").unwrap();
        let err = file.load(decode).unwrap_err();
        let MetadataError::Unreadable {
            path,
            reason,
            backup,
            backup_reason,
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!((path, backup), (file.path().to_owned(), file.backup_path()));
        assert_eq!(
            (reason.as_str(), backup_reason.as_str()),
            ("not an object: garbage", "missing or empty")
        );
    }

    #[test]
    fn blank_main_counts_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let file = JsonFile::new(dir.path().join("t.json"));
        fs::write(file.path(), "  \n").unwrap();
        assert!(file.load(decode).unwrap().is_none());
    }
}
