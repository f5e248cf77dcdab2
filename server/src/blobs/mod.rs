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
//! ends every reader's response short, and is removed. A piece from a peer,
//! checked against the piece list, is readable by other peers as soon as it
//! comes, before the bytes before it are written (see `growing`).
//!
//! A blob is hashed again the first time it is read after the store opens
//! (a disk can rot, a file can be edited); one that no longer matches is
//! removed and fetched again. A write that fails (a full disk) fails that
//! download only: its partial file is removed and the store goes on.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

/// Bytes read from disk at a time for a reader.
const READ_CHUNK: usize = 256 * 1024;
/// Bytes gathered in memory before a download writes them out.
const WRITE_CHUNK: usize = 256 * 1024;

/// What the store holds of a download, as a peer is told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Have {
    /// What its bytes are asked for by.
    pub key: Digest,
    /// Its digest, when known (GitHub's, or its first download's once whole).
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    /// Bytes that can be read now, from the start.
    pub readable: u64,
    pub complete: bool,
    /// The SHA-256 of each whole piece ([`PIECE_BYTES`]) so far, the last
    /// one short once the file is whole: what a reader checks each piece by.
    pub pieces: Arc<Vec<Digest>>,
}

/// The size of the pieces a download is checked and shared in.
pub const PIECE_BYTES: u64 = 1024 * 1024;

/// A blob held whole.
pub(super) struct Held {
    pub(super) size: u64,
    pub(super) last_used: u64,
    /// Hashed since the store opened.
    pub(super) checked: bool,
}

#[derive(Default)]
pub(super) struct State {
    held: HashMap<Digest, Held>,
    /// Downloads in progress, by digest (or, while it is unknown, by a
    /// stand-in made from the name).
    growing: HashMap<Digest, Arc<Growing>>,
    /// What each name's first complete download from GitHub hashed to (the
    /// archives and assets GitHub gives no digest for).
    names: HashMap<String, Digest>,
    /// The digest each download in progress must match, when known.
    growing_digests: HashMap<Digest, Digest>,
    /// The piece lists of held blobs, made when a peer first asks.
    lists: HashMap<Digest, Arc<Vec<Digest>>>,
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
    /// Bytes read out for peers' piece requests ([`Blobs::read_now`]).
    pub read_for_peers: std::sync::atomic::AtomicU64,
}

impl Blobs {
    /// Opens (or creates) the store under `dir`: the blobs there are known
    /// again (to be hashed on their first read), and the names learnt (see
    /// `names`); downloads a stopped server left part way are kept to be
    /// resumed (see `partial`).
    pub fn open(dir: &Path, budget: u64, max_blob: u64) -> std::io::Result<Blobs> {
        crate::private::private_dir(dir)?;
        let partial = dir.join("partial");
        crate::private::private_dir(&partial)?;
        partial::sweep(&partial)?;
        crate::private::private_dir(&dir.join("sha256"))?;
        let mut state = State { names: names::load(dir)?, ..State::default() };
        for file in std::fs::read_dir(dir.join("sha256"))? {
            let file = file?;
            let name = file.file_name();
            let Some(digest) = name.to_str().and_then(|hex| Digest::parse(&format!("sha256:{hex}"))) else { continue };
            let size = file.metadata()?.len();
            state.used += size;
            state.held.insert(digest, Held { size, last_used: 0, checked: false });
        }
        let read_for_peers = Default::default();
        let blobs = Blobs { dir: dir.to_owned(), budget, max_blob, state: Mutex::new(state), read_for_peers };
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
    pub fn transfers(&self) -> Vec<(Digest, u64, Option<u64>, usize)> {
        let state = self.state.lock().expect("blob store lock");
        let mut out: Vec<_> = state
            .growing
            .iter()
            .map(|(digest, growing)| {
                let bytes = match growing.progress() {
                    Progress::Receiving(n) | Progress::Complete(n) => n,
                    Progress::Failed(_) => 0,
                };
                (*digest, bytes, growing.expected, growing.peers.load(std::sync::atomic::Ordering::Relaxed))
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
        let (file, resumed) = partial::open(&path, digest.is_some(), want.size)?;
        let (progress, _) = watch::channel(Progress::Receiving(0));
        let pieces = Mutex::default();
        let (file, expected, peers, ahead) = (Arc::new(file), want.size, Default::default(), Default::default());
        let offered = watch::channel(0).0;
        let growing = Arc::new(Growing { file, pieces, expected, progress, peers, ahead, offered });
        state.growing.insert(key, growing.clone());
        if let Some(digest) = digest {
            state.growing_digests.insert(key, digest);
        }
        Ok(Begun::Write(Writer::new(self.clone(), key, digest, want.name.clone(), path, growing).resuming(resumed)))
    }

    /// What the store can tell a peer about a download, by its key (a
    /// digest, or the stand-in of a name whose digest is not known yet) or
    /// by its name: where to read it, its digest and size when known, the
    /// bytes readable now, and whether it is whole.
    pub fn have(&self, key: Option<Digest>, name: Option<&str>) -> Option<Have> {
        let (key, held) = {
            let state = self.state.lock().expect("blob store lock");
            let by_name = name.map(|name| {
                let want = Want { name: name.to_owned(), digest: None, size: None };
                state.names.get(name).copied().unwrap_or_else(|| want.stand_in())
            });
            let key = key.or(by_name)?;
            match state.held.get(&key) {
                Some(held) => (key, Some(held.size)),
                None => {
                    let growing = state.growing.get(&key)?;
                    let progress = growing.progress();
                    if let Progress::Failed(_) = progress {
                        return None;
                    }
                    let readable = progress.readable(growing.expected);
                    let pieces = growing.pieces.lock().expect("piece list lock").clone();
                    let digest = state.growing_digests.get(&key).copied();
                    return Some(Have { key, digest, size: growing.expected, readable, complete: false, pieces });
                }
            }
        };
        let size = held?;
        let pieces = self.piece_list(key)?;
        Some(Have { key, digest: Some(key), size: Some(size), readable: size, complete: true, pieces })
    }

    /// A held blob's piece list, made (a blocking read of the whole file)
    /// the first time: the file is checked against its digest on the way,
    /// so a list is only ever made of the right bytes; a file that no longer
    /// matches is removed.
    fn piece_list(&self, digest: Digest) -> Option<Arc<Vec<Digest>>> {
        if let Some(list) = self.state.lock().expect("blob store lock").lists.get(&digest) {
            return Some(list.clone());
        }
        let path = self.path(&digest);
        let (whole, list) = hash_pieces(&path).ok()?;
        if Digest(whole.finalize().into()) != digest {
            tracing::warn!(%digest, "a stored blob no longer matches its digest; removed");
            self.remove(&digest);
            return None;
        }
        let list = Arc::new(list);
        let mut state = self.state.lock().expect("blob store lock");
        if let Some(held) = state.held.get_mut(&digest) {
            held.checked = true;
        }
        state.lists.insert(digest, list.clone());
        Some(list)
    }

    /// Waits, at most `wait`, until the download in progress under `key` can
    /// be read from `offset` up to `end` (see [`Growing::until_readable`]);
    /// at once when none is.
    pub async fn until_readable(&self, key: Digest, offset: u64, end: u64, wait: std::time::Duration) {
        let growing = self.state.lock().expect("blob store lock").growing.get(&key).cloned();
        if let Some(growing) = growing {
            growing.until_readable(offset, end, wait).await;
        }
    }

    /// Bytes `offset..offset + len` of the download under `key`, when they
    /// are all readable now, or are a piece taken ahead (a blocking read: call
    /// it off the runtime), for a peer: counted in `read_for_peers`.
    pub fn read_now(&self, key: Digest, offset: u64, len: u64) -> Option<Vec<u8>> {
        let have = self.have(Some(key), None)?;
        let growing = self.state.lock().expect("blob store lock").growing.get(&key).cloned();
        let buffer = if len > 0 && offset.checked_add(len)? <= have.readable {
            let file = match &growing {
                Some(growing) => growing.file.clone(),
                None => Arc::new(std::fs::File::open(self.path(&key)).ok()?),
            };
            let mut buffer = vec![0u8; len as usize];
            file.read_exact_at(&mut buffer, offset).ok()?;
            buffer
        } else {
            growing?.ahead(offset, len)?
        };
        self.read_for_peers.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        Some(buffer)
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
            state.lists.remove(digest);
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
            state.lists.remove(&oldest);
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

/// The SHA-256 of a file, not yet finished (a resumed download goes on
/// with it), and of each of its pieces.
fn hash_pieces(path: &Path) -> std::io::Result<(Sha256, Vec<Digest>)> {
    let mut file = std::fs::File::open(path)?;
    let mut whole = Sha256::new();
    let mut pieces = Vec::new();
    let mut buffer = vec![0u8; PIECE_BYTES as usize];
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            let n = file.read(&mut buffer[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok((whole, pieces));
        }
        whole.update(&buffer[..filled]);
        pieces.push(Digest::of(&buffer[..filled]));
        if filled < buffer.len() {
            return Ok((whole, pieces));
        }
    }
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

mod digest;
mod growing;
mod names;
mod partial;
mod reader;
mod writer;

pub use digest::{Digest, Piece};
pub use growing::{Growing, Progress};
pub use reader::{follow, ByteStream};
use reader::{stream, Source};
pub use writer::Writer;

#[cfg(test)]
mod tests;
