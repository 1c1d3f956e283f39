//! Bad input on disk gives a typed error naming the file (and offset), and loses nothing that
//! was acknowledged: corruption in the middle of the CommitLog, a CommitLog file of the wrong
//! size, a full disk, a missing directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferrimq_store::StoreError;
use ferrimq_store::read::{AcceptAll, GetMessageStatus};
use ferrimq_store::record::{MessageRecord, MessageView};
use ferrimq_store::store::{MessageStore, StoreConfig};

const FILE: usize = 32 * 1024;

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.mapped_file_size_commit_log = FILE;
    c.max_message_size = 4 * 1024;
    c.mapped_file_size_consume_queue = 64 * 20;
    c.max_hash_slot_num = 32;
    c.max_index_num = 64;
    c.preallocate_commit_log = false;
    c
}

fn message(i: usize) -> MessageRecord {
    MessageRecord::builder("Bad", format!("payload-{i}-").repeat(40).into_bytes())
        .queue_id(0)
        .build()
        .unwrap()
}

/// Appends `n` messages; returns their physical offsets.
fn fill(store: &MessageStore, n: usize) -> Vec<u64> {
    let offsets: Vec<u64> = (0..n)
        .map(|i| store.append(&message(i)).unwrap().physical_offset)
        .collect();
    let last = *offsets.last().unwrap();
    assert!(store.wait_dispatched(last + 1, Duration::from_secs(10)));
    offsets
}

fn commit_log_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("commitlog"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Opens a store whose previous instance was just dropped. Another test of this binary forks
/// `mount`; a child forked in that instant shares the lock file's descriptor until it execs, so
/// `Locked` can be seen for a moment. Anything else is returned at once.
fn open_after_drop(root: &Path) -> Result<MessageStore, StoreError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match MessageStore::open(config(root)) {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn count_readable(store: &MessageStore) -> usize {
    let mut offset = 0;
    let mut n = 0;
    loop {
        let got = store.get_message("Bad", 0, offset, 32, None, &AcceptAll);
        if got.status != GetMessageStatus::Found {
            return n;
        }
        for m in &got.messages {
            MessageView::new(m).expect("every served record decodes");
            n += 1;
        }
        offset = got.next_begin_offset;
    }
}

#[test]
fn corruption_in_the_middle_is_refused_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let offsets = {
        let store = MessageStore::open(config(dir.path())).unwrap();
        let offsets = fill(&store, 200); // ~4 files of 32 KiB
        drop(store); // no shutdown: the next open is a crash recovery from the first file
        offsets
    };
    let files = commit_log_files(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    // Flip a body byte of a record in the first file: its CRC no longer matches.
    let victim = offsets[3];
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[victim as usize + 200] ^= 0xFF;
    std::fs::write(&files[0], &bytes).unwrap();
    // Make recovery start from the first file (no checkpoint yet covers later files).
    let _ = std::fs::remove_file(dir.path().join("checkpoint"));

    let err = open_after_drop(dir.path()).unwrap_err();
    match &err {
        StoreError::Corrupt {
            path,
            offset,
            reason,
        } => {
            assert_eq!(path, &files[0], "{err}");
            assert_eq!(*offset, victim, "{err}");
            assert!(reason.contains("refusing to truncate"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other}"),
    }
    assert_eq!(commit_log_files(dir.path()), files, "no file was deleted");
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        bytes,
        "nothing was truncated"
    );
}

#[test]
fn a_commit_log_file_of_the_wrong_size_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = MessageStore::open(config(dir.path())).unwrap();
        fill(&store, 10);
        store.shutdown().unwrap();
    }
    let first = commit_log_files(dir.path())[0].clone();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap();
    f.set_len((FILE / 2) as u64).unwrap();
    drop(f);
    let err = open_after_drop(dir.path()).unwrap_err();
    match err {
        StoreError::WrongFileSize {
            path,
            actual,
            expected,
        } => {
            assert_eq!(path, first);
            assert_eq!((actual, expected), ((FILE / 2) as u64, FILE as u64));
        }
        other => panic!("expected WrongFileSize, got {other}"),
    }
}

#[test]
fn a_store_root_that_cannot_be_created_is_a_typed_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    // A regular file where the store root's parent directory should be.
    let err = MessageStore::open(config(&file.path().join("store"))).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Io { .. } | StoreError::MissingDirectory { .. }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&file.path().display().to_string()),
        "{err}"
    );
}

/// A real full disk: a 1 MiB tmpfs (needs root, as CI has).
#[test]
fn a_full_disk_refuses_new_files_and_keeps_what_was_acknowledged() {
    let mount = tempfile::tempdir().unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mounting a tmpfs needs root (CI runs as root)");
    let guard = Unmount(mount.path().to_path_buf());
    let root = guard.0.join("store");
    let mut acked = 0;
    let err = {
        let store = MessageStore::open(config(&root)).unwrap();
        let err = loop {
            match store.append(&message(acked)) {
                Ok(_) => acked += 1,
                Err(e) => break e,
            }
            assert!(acked < 10_000, "a 1 MiB disk cannot take 10,000 messages");
        };
        store
            .shutdown()
            .unwrap_or_else(|e| panic!("shutdown after disk full: {e}"));
        err
    };
    match &err {
        StoreError::DiskFull { path, .. } => assert!(path.starts_with(&root), "{err}"),
        other => panic!("expected DiskFull, got {other}"),
    }
    assert!(acked > 0);
    // Opening on the still-full disk may fail (re-dispatch needs a ConsumeQueue file), but
    // only with the same typed error and without touching the CommitLog.
    if let Err(e) = open_after_drop(&root) {
        assert!(matches!(e, StoreError::DiskFull { .. }), "{e}");
    }
    // Free space (grow the filesystem), as an operator would, and everything is there.
    let grown = Command::new("mount")
        .args(["-o", "remount,size=4m"])
        .arg(&guard.0)
        .status()
        .is_ok_and(|s| s.success());
    assert!(grown, "remount with more space");
    let store = open_after_drop(&root).unwrap();
    assert_eq!(
        count_readable(&store),
        acked,
        "every acknowledged message survives"
    );
    store.shutdown().unwrap();
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_short_all_zero_file_from_an_interrupted_creation_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = MessageStore::open(config(dir.path())).unwrap();
        fill(&store, 10);
        store.shutdown().unwrap();
    }
    let files = commit_log_files(dir.path());
    let next = dir
        .path()
        .join("commitlog")
        .join(format!("{:020}", FILE * files.len()));
    std::fs::write(&next, vec![0u8; 100]).unwrap();
    let store = open_after_drop(dir.path()).unwrap();
    assert!(
        !next.exists(),
        "the stub of an interrupted creation is removed"
    );
    assert_eq!(count_readable(&store), 10);
    store.shutdown().unwrap();
}
