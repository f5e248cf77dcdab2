//! The blob store: release assets and source archives on disk, each file
//! named by the SHA-256 of its bytes, apart from the API cache and with a
//! byte budget of its own (the least recently used go first).
//!
//! The one decision that shaped it: a download in progress is already
//! readable. Its bytes go to a partial file that every reader of the same
//! digest follows as it grows — the local waiters of one download, and the
//! peers fetching pieces of it — but the last byte is held back until the
//! whole file hashes to its digest, and only then does the file become a
//! blob. So nothing that does not match is ever served whole: a bad download
//! ends every reader's response short, and is removed.
//!
//! A blob is hashed again the first time it is read after the store opens
//! (a disk can rot, a file can be edited); one that no longer matches is
//! removed and fetched again. A write that fails (a full disk) fails that
//! download only: its partial file is removed and the store goes on.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

/// Bytes read from disk at a time for a reader.
const READ_CHUNK: usize = 256 * 1024;
/// Bytes gathered in memory before a download writes them out.
const WRITE_CHUNK: usize = 256 * 1024;

/// A SHA-256, written as GitHub writes an asset's `digest`: `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// `sha256:<64 hex digits>`, as GitHub's release assets carry it.
    pub fn parse(text: &str) -> Option<Digest> {
        let hex = text.strip_prefix("sha256:")?;
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Digest(bytes))
    }

    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}…", &self.hex()[..12])
    }
}

/// How far a download has come, as its readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// This many bytes are on disk (the last of them not yet readable).
    Receiving(u64),
    /// Every byte is there and matches the digest: the file is a blob.
    Complete(u64),
    /// The download failed, and why: its readers end short.
    Failed(Arc<str>),
}

/// A download in progress: its partial file, open, and how far it is.
pub struct Growing {
    file: Arc<std::fs::File>,
    /// The size GitHub gave, when it gave one.
    pub expected: Option<u64>,
    progress: watch::Sender<Progress>,
}

impl Growing {
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Hears of each step of the download.
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }
}

/// A blob held whole.
struct Held {
    size: u64,
    last_used: u64,
    /// Hashed since the store opened.
    checked: bool,
}

#[derive(Default)]
struct State {
    held: HashMap<Digest, Held>,
    /// Downloads in progress, by digest (or, while it is unknown, by a
    /// stand-in made from the name).
    growing: HashMap<Digest, Arc<Growing>>,
    /// What each name's first complete download from GitHub hashed to (the
    /// archives and assets GitHub gives no digest for).
    names: HashMap<String, Digest>,
    used: u64,
    clock: u64,
}

/// What a download is for: the name it is known by (an asset's id, an
/// archive's repository and commit), its digest when GitHub gave one, and
/// its size when GitHub said it.
#[derive(Clone, Debug)]
pub struct Want {
    pub name: String,
    pub digest: Option<Digest>,
    pub size: Option<u64>,
}

impl Want {
    /// Where a download is found while its digest is unknown.
    fn stand_in(&self) -> Digest {
        Digest::of(format!("peercache/blob-name\0{}", self.name).as_bytes())
    }
}

/// What asking for a download found.
pub enum Begun {
    /// Nobody has it or is fetching it: this caller fetches, through the writer.
    Write(Writer),
    /// Another caller's download is under way: follow it.
    Follow(Arc<Growing>),
    /// Held whole: its digest and size.
    Held(Digest, u64),
}

/// Why a download did not become a blob.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the download's bytes hash to {got}, not to the digest {want} GitHub gave")]
    Mismatch { want: Digest, got: Digest },
    #[error("the download is {got} bytes, larger than the {limit} byte limit for one asset")]
    TooLarge { got: u64, limit: u64 },
    #[error("the download is {got} bytes, not the {want} GitHub said")]
    WrongSize { want: u64, got: u64 },
    #[error("writing the download to disk: {0}")]
    Disk(#[from] std::io::Error),
}

pub struct Blobs {
    dir: PathBuf,
    budget: u64,
    /// The largest one blob may be.
    pub max_blob: u64,
    state: Mutex<State>,
}

impl Blobs {
    /// Opens (or creates) the store under `dir`: the blobs there are known
    /// again (to be hashed on their first read), partial files of downloads
    /// a stopped server left are removed.
    pub fn open(dir: &Path, budget: u64, max_blob: u64) -> std::io::Result<Blobs> {
        crate::private::private_dir(dir)?;
        let partial = dir.join("partial");
        if partial.exists() {
            std::fs::remove_dir_all(&partial)?;
        }
        crate::private::private_dir(&partial)?;
        crate::private::private_dir(&dir.join("sha256"))?;
        let mut state = State::default();
        for file in std::fs::read_dir(dir.join("sha256"))? {
            let file = file?;
            let name = file.file_name();
            let Some(digest) = name.to_str().and_then(|hex| Digest::parse(&format!("sha256:{hex}"))) else { continue };
            let size = file.metadata()?.len();
            state.used += size;
            state.held.insert(digest, Held { size, last_used: 0, checked: false });
        }
        let blobs = Blobs { dir: dir.to_owned(), budget, max_blob, state: Mutex::new(state) };
        blobs.evict(None);
        Ok(blobs)
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("sha256").join(digest.hex())
    }

    /// Blobs held whole, and their bytes.
    pub fn usage(&self) -> (usize, u64) {
        let state = self.state.lock().expect("blob store lock");
        (state.held.len(), state.used)
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Downloads in progress: each digest, its bytes so far and its size when known.
    pub fn transfers(&self) -> Vec<(Digest, u64, Option<u64>)> {
        let state = self.state.lock().expect("blob store lock");
        let mut out: Vec<_> = state
            .growing
            .iter()
            .map(|(digest, growing)| match growing.progress() {
                Progress::Receiving(n) | Progress::Complete(n) => (*digest, n, growing.expected),
                Progress::Failed(_) => (*digest, 0, growing.expected),
            })
            .collect();
        out.sort();
        out
    }

    /// The size of `digest` when it is held whole.
    pub fn holds(&self, digest: &Digest) -> Option<u64> {
        self.state.lock().expect("blob store lock").held.get(digest).map(|held| held.size)
    }

    /// The digest `want` is known by: GitHub's, or what its name's first
    /// download hashed to.
    pub fn digest_of(&self, want: &Want) -> Option<Digest> {
        want.digest.or_else(|| self.state.lock().expect("blob store lock").names.get(&want.name).copied())
    }

    /// Whether `want` is held whole, or being fetched (to follow); else the
    /// writer that fetches it.
    pub fn begin(self: &Arc<Self>, want: &Want) -> std::io::Result<Begun> {
        let mut state = self.state.lock().expect("blob store lock");
        let digest = want.digest.or_else(|| state.names.get(&want.name).copied());
        if let Some(digest) = digest {
            if let Some(held) = state.held.get(&digest) {
                return Ok(Begun::Held(digest, held.size));
            }
        }
        let key = digest.unwrap_or_else(|| want.stand_in());
        if let Some(growing) = state.growing.get(&key) {
            return Ok(Begun::Follow(growing.clone()));
        }
        let path = self.dir.join("partial").join(key.hex());
        let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        let (progress, _) = watch::channel(Progress::Receiving(0));
        let growing = Arc::new(Growing { file: Arc::new(file), expected: want.size, progress });
        state.growing.insert(key, growing.clone());
        Ok(Begun::Write(Writer {
            blobs: self.clone(),
            key,
            expect: digest,
            name: want.name.clone(),
            path,
            growing,
            hasher: Sha256::new(),
            buffer: Vec::with_capacity(WRITE_CHUNK),
            written: 0,
            done: false,
        }))
    }

    /// A held blob's file, hashed first when it has not been since the store
    /// opened (one that no longer matches is removed: `None`).
    async fn open_held(self: &Arc<Self>, digest: Digest) -> Option<(std::fs::File, u64)> {
        let (size, checked) = {
            let mut state = self.state.lock().expect("blob store lock");
            state.clock += 1;
            let clock = state.clock;
            let held = state.held.get_mut(&digest)?;
            held.last_used = clock;
            (held.size, held.checked)
        };
        let path = self.path(&digest);
        let file = std::fs::File::open(&path).ok()?;
        if !checked {
            let blobs = self.clone();
            let matches = tokio::task::spawn_blocking(move || hash_file(&path).is_ok_and(|got| got == digest))
                .await
                .unwrap_or(false);
            if !matches {
                tracing::warn!(%digest, "a stored blob no longer matches its digest; removed");
                blobs.remove(&digest);
                return None;
            }
            if let Some(held) = self.state.lock().expect("blob store lock").held.get_mut(&digest) {
                held.checked = true;
            }
        }
        Some((file, size))
    }

    fn remove(&self, digest: &Digest) {
        let mut state = self.state.lock().expect("blob store lock");
        if let Some(held) = state.held.remove(digest) {
            state.used -= held.size;
            let _ = std::fs::remove_file(self.path(digest));
        }
    }

    /// Removes the least recently used blobs until the store is within its
    /// budget, never `keep` (just stored). Open readers keep their file.
    fn evict(&self, keep: Option<&Digest>) {
        let mut state = self.state.lock().expect("blob store lock");
        while state.used > self.budget {
            let Some(oldest) = state
                .held
                .iter()
                .filter(|(digest, _)| Some(*digest) != keep)
                .min_by_key(|(_, held)| held.last_used)
                .map(|(digest, _)| *digest)
            else {
                break;
            };
            let held = state.held.remove(&oldest).expect("just found");
            state.used -= held.size;
            let _ = std::fs::remove_file(self.path(&oldest));
            tracing::debug!(digest = %oldest, size = held.size, "blob evicted (over the store's budget)");
        }
    }

    /// The bytes `start..end` of `digest` (`end` past the size means to its
    /// end), held whole or as its download goes: `None` when it is neither.
    pub async fn read(self: &Arc<Self>, digest: Digest, start: u64, end: u64) -> Option<ByteStream> {
        let growing = self.state.lock().expect("blob store lock").growing.get(&digest).cloned();
        match growing {
            Some(growing) => Some(follow(&growing, start, end)),
            None => {
                let (file, size) = self.open_held(digest).await?;
                Some(stream(Source::Whole(Arc::new(file), size), start, end))
            }
        }
    }
}

/// The bytes `start..end` of a download as it goes.
pub fn follow(growing: &Growing, start: u64, end: u64) -> ByteStream {
    stream(Source::Growing(growing.file.clone(), growing.progress.subscribe()), start, end)
}

fn stream(source: Source, start: u64, end: u64) -> ByteStream {
    Box::pin(futures::stream::unfold((source, start, end), |(source, pos, end)| async move {
        match next_chunk(&source, pos, end).await {
            Ok(Some(chunk)) => {
                let next = pos + chunk.len() as u64;
                Some((Ok(chunk), (source, next, end)))
            }
            Ok(None) => None,
            Err(error) => Some((Err(error), (source, u64::MAX, 0))),
        }
    }))
}

/// The bytes of a blob, as they can be read.
pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

enum Source {
    Whole(Arc<std::fs::File>, u64),
    Growing(Arc<std::fs::File>, watch::Receiver<Progress>),
}

/// The next bytes from `pos` (before `end`), waiting for a download to
/// bring them; `None` at the end.
async fn next_chunk(source: &Source, pos: u64, end: u64) -> std::io::Result<Option<Bytes>> {
    if pos == u64::MAX {
        return Ok(None); // after an error
    }
    let (file, until) = match source {
        Source::Whole(file, size) => (file, end.min(*size)),
        Source::Growing(file, progress) => {
            let mut progress = progress.clone();
            loop {
                let now = progress.borrow_and_update().clone();
                // The last byte is readable only once the whole file matches.
                let readable = match &now {
                    Progress::Receiving(n) => n.saturating_sub(1),
                    Progress::Complete(n) => *n,
                    Progress::Failed(why) => return Err(std::io::Error::other(why.to_string())),
                };
                if pos < end.min(readable) || matches!(now, Progress::Complete(_)) || pos >= end {
                    break (file, end.min(readable));
                }
                if progress.changed().await.is_err() {
                    return Err(std::io::Error::other("the download stopped"));
                }
            }
        }
    };
    if pos >= until {
        return Ok(None);
    }
    let len = (until - pos).min(READ_CHUNK as u64) as usize;
    let file = file.clone();
    tokio::task::spawn_blocking(move || {
        let mut buffer = vec![0u8; len];
        file.read_exact_at(&mut buffer, pos)?;
        Ok(Some(Bytes::from(buffer)))
    })
    .await
    .map_err(std::io::Error::other)?
}

fn hash_file(path: &Path) -> std::io::Result<Digest> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(Digest(hasher.finalize().into()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// Writes one download; dropped without [`Writer::finish`] it fails, and its
/// readers end short.
pub struct Writer {
    blobs: Arc<Blobs>,
    /// Where the download is found while it goes.
    key: Digest,
    /// GitHub's digest, when it gave one: the bytes must hash to it.
    expect: Option<Digest>,
    name: String,
    path: PathBuf,
    growing: Arc<Growing>,
    hasher: Sha256,
    buffer: Vec<u8>,
    written: u64,
    done: bool,
}

impl Writer {
    /// The download as it goes, for its readers.
    pub fn growing(&self) -> &Arc<Growing> {
        &self.growing
    }

    /// Bytes taken so far.
    pub fn taken(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    /// Takes the next bytes of the download.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), WriteError> {
        let got = self.taken() + chunk.len() as u64;
        if got > self.blobs.max_blob {
            return Err(WriteError::TooLarge { got, limit: self.blobs.max_blob });
        }
        if let Some(want) = self.growing.expected.filter(|want| got > *want) {
            return Err(WriteError::WrongSize { want, got });
        }
        self.hasher.update(chunk);
        self.buffer.extend_from_slice(chunk);
        if self.buffer.len() >= WRITE_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), WriteError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let buffer = std::mem::replace(&mut self.buffer, Vec::with_capacity(WRITE_CHUNK));
        let file = self.growing.file.clone();
        let offset = self.written;
        let len = buffer.len() as u64;
        tokio::task::spawn_blocking(move || file.write_all_at(&buffer, offset))
            .await
            .map_err(std::io::Error::other)??;
        self.written += len;
        self.growing.progress.send_replace(Progress::Receiving(self.written));
        Ok(())
    }

    /// The download is over: when its bytes hash to the digest (and have
    /// the size GitHub gave) the file becomes a blob and its readers read
    /// the rest; otherwise it is removed and they end short. A name without
    /// a digest is known by what its bytes hash to from now on.
    pub async fn finish(mut self) -> Result<(Digest, u64), WriteError> {
        let finished = self.complete().await;
        if let Err(error) = &finished {
            self.abandon(&error.to_string());
        }
        finished
    }

    async fn complete(&mut self) -> Result<(Digest, u64), WriteError> {
        self.flush().await?;
        let got = Digest(std::mem::take(&mut self.hasher).finalize().into());
        if let Some(want) = self.expect.filter(|want| *want != got) {
            return Err(WriteError::Mismatch { want, got });
        }
        if let Some(want) = self.growing.expected.filter(|want| *want != self.written) {
            return Err(WriteError::WrongSize { want, got: self.written });
        }
        (&*self.growing.file).flush()?;
        self.growing.file.sync_data()?;
        let size = self.written;
        {
            let mut state = self.blobs.state.lock().expect("blob store lock");
            if state.held.contains_key(&got) {
                let _ = std::fs::remove_file(&self.path);
            } else {
                std::fs::rename(&self.path, self.blobs.path(&got))?;
                state.clock += 1;
                let clock = state.clock;
                state.used += size;
                state.held.insert(got, Held { size, last_used: clock, checked: true });
            }
            state.growing.remove(&self.key);
            if self.expect.is_none() {
                state.names.insert(self.name.clone(), got);
            }
        }
        self.done = true;
        self.growing.progress.send_replace(Progress::Complete(size));
        self.blobs.evict(Some(&got));
        Ok((got, size))
    }

    /// Ends the download as failed, saying why to its readers.
    pub fn fail(mut self, why: &str) {
        self.abandon(why);
    }

    fn abandon(&mut self, why: &str) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.blobs.state.lock().expect("blob store lock").growing.remove(&self.key);
        let _ = std::fs::remove_file(&self.path);
        self.growing.progress.send_replace(Progress::Failed(Arc::from(why)));
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.abandon("the download was abandoned");
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    async fn all(stream: ByteStream) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut stream = stream;
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn want(name: &str, digest: Option<Digest>, size: Option<u64>) -> Want {
        Want { name: name.to_owned(), digest, size }
    }

    fn store(dir: &Path, budget: u64, max_blob: u64) -> Arc<Blobs> {
        Arc::new(Blobs::open(dir, budget, max_blob).unwrap())
    }

    async fn put(blobs: &Arc<Blobs>, name: &str, body: &[u8]) -> Digest {
        let Begun::Write(mut writer) = blobs.begin(&want(name, Some(Digest::of(body)), None)).unwrap() else {
            panic!("{name} is new")
        };
        writer.write(body).await.unwrap();
        writer.finish().await.unwrap().0
    }

    #[test]
    fn digests_read_as_github_writes_them() {
        let digest = Digest::of(b"abc");
        assert_eq!(digest.to_string(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(Digest::parse(&digest.to_string()), Some(digest));
        for bad in ["ba7816bf", "sha256:xyz", "sha1:ba7816bf8f01cfea414140de5dae2223b00361a3", "sha256:"] {
            assert_eq!(Digest::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_download_is_followed_as_it_grows_and_its_last_byte_waits_for_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path(), 1 << 30, 1 << 30);
        let body = bytes(600 * 1024);
        let digest = Digest::of(&body);
        let asked = want("a", Some(digest), Some(body.len() as u64));
        let Begun::Write(mut writer) = blobs.begin(&asked).unwrap() else { panic!() };
        let Begun::Follow(growing) = blobs.begin(&asked).unwrap() else { panic!("a second asker follows") };
        assert_eq!(growing.expected, Some(body.len() as u64));
        let reading = tokio::spawn(all(follow(&growing, 0, u64::MAX)));
        writer.write(&body[..300 * 1024]).await.unwrap();
        assert_eq!(growing.progress(), Progress::Receiving(300 * 1024));
        writer.write(&body[300 * 1024..]).await.unwrap();
        tokio::task::yield_now().await;
        assert!(!reading.is_finished(), "the last byte is held back until the digest matches");
        assert_eq!(writer.finish().await.unwrap(), (digest, body.len() as u64));
        assert_eq!(reading.await.unwrap().unwrap(), body);
        assert_eq!(blobs.holds(&digest), Some(body.len() as u64));
        assert!(matches!(blobs.begin(&asked).unwrap(), Begun::Held(d, _) if d == digest));
        let middle = all(blobs.read(digest, 1000, 2000).await.unwrap()).await.unwrap();
        assert_eq!(middle, &body[1000..2000]);
    }

    #[tokio::test]
    async fn a_download_that_does_not_match_is_never_read_whole_nor_kept() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path(), 1 << 30, 1 << 30);
        let body = bytes(1000);
        let digest = Digest::of(b"what GitHub said");
        let asked = want("a", Some(digest), None);
        let Begun::Write(mut writer) = blobs.begin(&asked).unwrap() else { panic!() };
        let reading = tokio::spawn(all(blobs.read(digest, 0, u64::MAX).await.unwrap()));
        writer.write(&body).await.unwrap();
        let error = writer.finish().await.unwrap_err();
        assert!(matches!(error, WriteError::Mismatch { .. }), "{error}");
        assert!(reading.await.unwrap().is_err(), "the reader ends short, with an error");
        assert_eq!(blobs.holds(&digest), None);
        assert!(blobs.read(digest, 0, u64::MAX).await.is_none());
        assert_eq!(std::fs::read_dir(dir.path().join("partial")).unwrap().count(), 0, "its partial file is gone");
        assert!(matches!(blobs.begin(&asked).unwrap(), Begun::Write(_)), "the next asker fetches again");
    }

    #[tokio::test]
    async fn a_name_without_a_digest_is_known_by_its_first_download() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path(), 1 << 30, 1 << 30);
        let asked = want("tarball:o/r@abc", None, None);
        let Begun::Write(mut writer) = blobs.begin(&asked).unwrap() else { panic!() };
        let Begun::Follow(growing) = blobs.begin(&asked).unwrap() else { panic!("followed by name") };
        let reading = tokio::spawn(all(follow(&growing, 0, u64::MAX)));
        writer.write(b"archive bytes").await.unwrap();
        let (digest, _) = writer.finish().await.unwrap();
        assert_eq!(digest, Digest::of(b"archive bytes"));
        assert_eq!(reading.await.unwrap().unwrap(), b"archive bytes");
        assert_eq!(blobs.digest_of(&asked), Some(digest));
        assert!(matches!(blobs.begin(&asked).unwrap(), Begun::Held(d, 13) if d == digest));
    }

    #[tokio::test]
    async fn size_limits_and_the_size_github_gave_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path(), 1 << 30, 100);
        let Begun::Write(mut writer) = blobs.begin(&want("x", None, None)).unwrap() else { panic!() };
        assert!(matches!(writer.write(&bytes(101)).await, Err(WriteError::TooLarge { got: 101, limit: 100 })));
        drop(writer);
        let body = bytes(50);
        let Begun::Write(mut writer) = blobs.begin(&want("y", Some(Digest::of(&body)), Some(60))).unwrap() else {
            panic!()
        };
        writer.write(&body).await.unwrap();
        assert!(matches!(writer.finish().await, Err(WriteError::WrongSize { want: 60, got: 50 })));
    }

    #[tokio::test]
    async fn the_budget_evicts_the_least_recently_used_and_a_rotten_blob_is_refused_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = store(dir.path(), 2500, 1 << 20);
        let first = put(&blobs, "0", &[0u8; 1000]).await;
        let second = put(&blobs, "1", &[1u8; 1000]).await;
        // The first is read again: the second becomes the oldest.
        all(blobs.read(first, 0, u64::MAX).await.unwrap()).await.unwrap();
        let third = put(&blobs, "2", &[2u8; 1000]).await;
        assert_eq!(blobs.usage(), (2, 2000));
        assert_eq!(blobs.holds(&second), None, "the least recently used went");
        assert!(blobs.holds(&first).is_some() && blobs.holds(&third).is_some());
        drop(blobs);
        std::fs::write(dir.path().join("sha256").join(third.hex()), [9u8; 1000]).unwrap();
        let blobs = store(dir.path(), 2500, 1 << 20);
        assert_eq!(blobs.usage(), (2, 2000), "known again after a restart");
        assert!(blobs.read(third, 0, u64::MAX).await.is_none(), "a blob that rotted is not served");
        assert_eq!(blobs.usage(), (1, 1000));
        assert_eq!(all(blobs.read(first, 0, u64::MAX).await.unwrap()).await.unwrap(), vec![0u8; 1000]);
    }
}
