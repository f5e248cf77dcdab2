//! Persistence in redb: one table, key → postcard-encoded `Entry`. Each write
//! is one transaction committed with `Durability::Immediate`, so a commit that
//! returned survives a crash and a crash mid-write leaves the last commit
//! intact. A file redb cannot open is moved aside and a fresh one started.
//! After an I/O error (a full disk) redb refuses every later write until the
//! database is opened again, so the store closes it and opens it anew on the
//! next write: once there is room again, writes work without a restart.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};

use crate::cache::entry::Entry;

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// The store's file inside `CACHE_DIR`.
pub const STORE_FILE: &str = "cache.redb";
/// redb's page cache. Entries live in memory in the cache itself, so the
/// store reads pages only at start and along a write's path down its
/// B-tree: 4 MiB holds that path for every table size a node keeps. (It was
/// 16 MiB, which a node filled with the pages of its writes: 12 MiB of RSS
/// that followed nothing it stored; see BENCHMARKS.md, "What a node costs".)
pub const PAGE_CACHE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create cache directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cache store {path} is in use by another process")]
    InUse { path: PathBuf },
    #[error("cannot open cache store {path}: {source}")]
    Open { path: PathBuf, source: DatabaseError },
    #[error("cannot move the unreadable cache store {path} aside: {source}")]
    MoveAside { path: PathBuf, source: std::io::Error },
    #[error("cache store: {0}")]
    Db(#[from] redb::Error),
}

impl From<redb::TransactionError> for StoreError {
    fn from(e: redb::TransactionError) -> Self {
        StoreError::Db(e.into())
    }
}
impl From<redb::TableError> for StoreError {
    fn from(e: redb::TableError) -> Self {
        StoreError::Db(e.into())
    }
}
impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        StoreError::Db(e.into())
    }
}
impl From<redb::CommitError> for StoreError {
    fn from(e: redb::CommitError) -> Self {
        StoreError::Db(e.into())
    }
}

pub struct Store {
    path: PathBuf,
    /// `None` after an I/O error, until the next write opens it again.
    db: Mutex<Option<Database>>,
}

impl StoreError {
    /// A failure of the disk (not of the data): the database is reopened
    /// before the next write.
    pub fn is_io(&self) -> bool {
        matches!(self, StoreError::Db(redb::Error::Io(_) | redb::Error::PreviousIo))
    }
}

/// What opening found.
pub struct Opened {
    pub store: Store,
    /// Where an unreadable old file was moved, if one was.
    pub moved_aside: Option<PathBuf>,
    /// Records that could not be decoded (skipped and deleted).
    pub undecodable: usize,
    pub entries: Vec<Entry>,
}

impl Store {
    /// Opens (or creates) the store in `dir` and reads every entry.
    pub fn open(dir: &Path) -> Result<Opened, StoreError> {
        crate::private::private_dir(dir).map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
        let path = dir.join(STORE_FILE);
        let (store, moved_aside) = match Self::open_file(&path) {
            Ok(store) => (store, None),
            Err(StoreError::Open { source: DatabaseError::DatabaseAlreadyOpen, .. }) => {
                return Err(StoreError::InUse { path });
            }
            Err(StoreError::Open { source, .. }) => {
                let aside = aside_path(&path);
                tracing::error!(
                    store = %path.display(),
                    moved_to = %aside.display(),
                    error = %source,
                    "cache store unreadable; moved aside, starting with an empty cache"
                );
                std::fs::rename(&path, &aside)
                    .map_err(|source| StoreError::MoveAside { path: path.clone(), source })?;
                (Self::open_file(&path)?, Some(aside))
            }
            Err(other) => return Err(other),
        };
        let (entries, undecodable) = store.read_all()?;
        Ok(Opened { store, moved_aside, undecodable, entries })
    }

    fn open_file(path: &Path) -> Result<Store, StoreError> {
        Ok(Store { path: path.to_owned(), db: Mutex::new(Some(Self::open_db(path)?)) })
    }

    fn open_db(path: &Path) -> Result<Database, StoreError> {
        let db = Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(path)
            .map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        crate::private::private_file(path);
        let txn = db.begin_write()?;
        txn.open_table(ENTRIES)?;
        txn.commit()?;
        Ok(db)
    }

    /// Runs `work` on the database, opening it again first if an I/O error
    /// closed it; an I/O error now closes it for the next time.
    fn with_db<T>(&self, work: impl FnOnce(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut db = self.db.lock().expect("store lock");
        if db.is_none() {
            *db = Some(Self::open_db(&self.path)?);
            tracing::info!(store = %self.path.display(), "cache store opened again after an I/O error");
        }
        let result = work(db.as_ref().expect("opened above"));
        if result.as_ref().is_err_and(StoreError::is_io) {
            *db = None;
        }
        result
    }

    /// Every decodable entry; undecodable records are deleted and counted.
    fn read_all(&self) -> Result<(Vec<Entry>, usize), StoreError> {
        let mut entries = Vec::new();
        let mut broken = Vec::new();
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(ENTRIES)?;
            for row in table.iter()? {
                let (key, value) = row?;
                match postcard::from_bytes::<Entry>(value.value()) {
                    Ok(entry) => entries.push(entry),
                    Err(error) => {
                        tracing::warn!(key = key.value(), %error, "dropping undecodable cache record");
                        broken.push(key.value().to_owned());
                    }
                }
            }
            Ok(())
        })?;
        if !broken.is_empty() {
            self.apply(None, &broken)?;
        }
        Ok((entries, broken.len()))
    }

    /// In one durable transaction: store `put` (if any) and delete `remove`.
    pub fn apply(&self, put: Option<&Entry>, remove: &[String]) -> Result<(), StoreError> {
        self.with_db(|db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(ENTRIES)?;
                for key in remove {
                    table.remove(key.as_str())?;
                }
                if let Some(entry) = put {
                    let bytes = postcard::to_allocvec(entry).expect("an entry always encodes");
                    table.insert(entry.key.as_str(), bytes.as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }
}

fn aside_path(path: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    path.with_extension(format!("redb.corrupt-{stamp}"))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::cache::entry::Origin;

    fn entry(key: &str, value: &'static [u8]) -> Entry {
        let mut entry = Entry::new(key.into(), Bytes::from_static(value), 1, 60, Some("\"abc\"".into()), Some(200));
        entry.origin = Origin::Peer("12D3KooW".into());
        entry
    }

    #[test]
    fn entries_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let opened = Store::open(dir.path()).unwrap();
            assert!(opened.entries.is_empty());
            opened.store.apply(Some(&entry("a", b"1")), &[]).unwrap();
            opened.store.apply(Some(&entry("b", b"2")), &[]).unwrap();
            opened.store.apply(None, &["a".into()]).unwrap();
        }
        let opened = Store::open(dir.path()).unwrap();
        assert_eq!(opened.entries, vec![entry("b", b"2")]);
        assert!(opened.moved_aside.is_none());
    }

    #[test]
    fn a_garbage_file_is_moved_aside_and_a_fresh_store_starts() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = vec![0xAB_u8; 8192];
        std::fs::write(dir.path().join(STORE_FILE), &garbage).unwrap();
        let opened = Store::open(dir.path()).unwrap();
        assert!(opened.entries.is_empty());
        let aside = opened.moved_aside.expect("moved aside");
        assert_eq!(std::fs::read(&aside).unwrap(), garbage, "the old bytes are kept for inspection");
        opened.store.apply(Some(&entry("a", b"1")), &[]).unwrap();
    }

    #[test]
    fn a_second_process_style_open_is_refused_not_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        match Store::open(dir.path()) {
            Err(StoreError::InUse { .. }) => {}
            Err(other) => panic!("expected InUse, got {other}"),
            Ok(_) => panic!("expected InUse, opened twice"),
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing moved aside");
    }
}
