//! One download into the store: bytes in order, hashed as they come, the
//! file turned into a blob only when they match (see the store's doc).

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::{Blobs, Digest, Growing, Held, Piece, Progress, WriteError, PIECE_BYTES, WRITE_CHUNK};

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
    /// The piece being hashed, and its bytes so far.
    piece: Sha256,
    piece_fill: u64,
    buffer: Vec<u8>,
    written: u64,
    /// Bytes a stopped server left, to be hashed again before the rest.
    resumable: u64,
    done: bool,
}

impl Writer {
    pub(super) fn new(
        blobs: Arc<Blobs>,
        key: Digest,
        expect: Option<Digest>,
        name: String,
        path: PathBuf,
        growing: Arc<Growing>,
    ) -> Writer {
        let buffer = Vec::with_capacity(WRITE_CHUNK);
        let hasher = Sha256::new();
        let (piece, piece_fill) = (Sha256::new(), 0);
        let (written, resumable, done) = (0, 0, false);
        Writer { blobs, key, expect, name, path, growing, hasher, piece, piece_fill, buffer, written, resumable, done }
    }

    /// The same, with `bytes` a stopped server left on disk to take up first
    /// (see [`Writer::resume`]).
    pub(super) fn resuming(mut self, bytes: u64) -> Writer {
        self.resumable = bytes;
        self
    }

    /// Takes up a download a stopped server left part way (whole pieces of
    /// it on disk): its bytes are hashed again, so that the rest follows
    /// where it stopped and the whole is checked as one. Nothing to do for
    /// a download that starts from the beginning.
    pub async fn resume(&mut self) -> Result<(), WriteError> {
        let bytes = std::mem::take(&mut self.resumable);
        if bytes == 0 {
            return Ok(());
        }
        // The partial file was cut to those bytes when the download began.
        let path = self.path.clone();
        let (hasher, pieces) =
            tokio::task::spawn_blocking(move || super::hash_pieces(&path)).await.map_err(std::io::Error::other)??;
        self.hasher = hasher;
        *self.growing.pieces.lock().expect("piece list lock") = Arc::new(pieces);
        self.written = bytes;
        self.growing.progress.send_replace(Progress::Receiving(bytes));
        Ok(())
    }

    /// The digest the bytes must match, learnt after the download began (a
    /// peer's word for what a name's first download hashed to).
    pub fn expect(&mut self, digest: Digest) {
        self.expect.get_or_insert(digest);
    }

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
        self.admit(chunk.len())?;
        self.hasher.update(chunk);
        self.hash_pieces(chunk);
        self.take(chunk).await
    }

    /// A piece checked against the piece list that came ahead of the bytes
    /// written (at `offset`): peers may read it from now on, until it is
    /// written ([`Writer::write_piece`]).
    pub fn offer(&self, offset: u64, piece: Arc<Piece>) {
        self.growing.ahead.lock().expect("ahead lock").insert(offset, piece);
        self.growing.offered.send_modify(|offered| *offered += 1);
    }

    /// Takes the next piece of the download, whole (or the last, short):
    /// its hash joins the piece list as it is, not made again. Bytes that
    /// do not start a piece are taken as [`Writer::write`] takes them.
    pub async fn write_piece(&mut self, piece: &Piece) -> Result<(), WriteError> {
        let (bytes, offset) = (piece.bytes(), self.taken());
        let ends_the_file = self.growing.expected == Some(offset + bytes.len() as u64);
        let written = if self.piece_fill > 0 || !(bytes.len() as u64 == PIECE_BYTES || ends_the_file) {
            self.write(bytes).await
        } else {
            self.admit(bytes.len())?;
            self.hasher.update(bytes);
            self.push(piece.digest());
            self.take(bytes).await
        };
        // Readable as written now (a whole piece fills the write buffer, which goes to disk at once).
        self.growing.ahead.lock().expect("ahead lock").remove(&offset);
        written
    }

    /// Whether `len` more bytes keep the download within its limits.
    fn admit(&self, len: usize) -> Result<(), WriteError> {
        let got = self.taken() + len as u64;
        if got > self.blobs.max_blob {
            return Err(WriteError::TooLarge { got, limit: self.blobs.max_blob });
        }
        if let Some(want) = self.growing.expected.filter(|want| got > *want) {
            return Err(WriteError::WrongSize { want, got });
        }
        Ok(())
    }

    async fn take(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= WRITE_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// Hashes `chunk` into the pieces it falls in; each whole piece joins
    /// the list as it is hashed (a reader also waits for its bytes to be
    /// readable).
    fn hash_pieces(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let take = ((PIECE_BYTES - self.piece_fill) as usize).min(chunk.len());
            self.piece.update(&chunk[..take]);
            self.piece_fill += take as u64;
            chunk = &chunk[take..];
            if self.piece_fill == PIECE_BYTES {
                self.push_piece();
            }
        }
    }

    fn push_piece(&mut self) {
        let digest = Digest(std::mem::take(&mut self.piece).finalize().into());
        self.piece_fill = 0;
        self.push(digest);
    }

    fn push(&mut self, digest: Digest) {
        let mut list = self.growing.pieces.lock().expect("piece list lock");
        Arc::make_mut(&mut list).push(digest);
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
        if self.piece_fill > 0 {
            self.push_piece();
        }
        let got = Digest(std::mem::take(&mut self.hasher).finalize().into());
        if let Some(want) = self.expect.filter(|want| *want != got) {
            let mut state = self.blobs.state.lock().expect("blob store lock");
            // A digest learnt from the name's first download, not GitHub's.
            if state.names.get(&self.name) == Some(&want) {
                state.names.remove(&self.name);
                super::names::note(&self.blobs.dir, &self.name, None);
            }
            return Err(WriteError::Mismatch { want, got });
        }
        if let Some(want) = self.growing.expected.filter(|want| *want != self.written) {
            return Err(WriteError::WrongSize { want, got: self.written });
        }
        // No fsync: a file a crash leaves torn does not hash to its name,
        // and the store checks every blob on its first read after opening.
        (&*self.growing.file).flush()?;
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
            state.growing_digests.remove(&self.key);
            let list = self.growing.pieces.lock().expect("piece list lock").clone();
            state.lists.insert(got, list);
            if self.expect.is_none() && state.names.insert(self.name.clone(), got) != Some(got) {
                super::names::note(&self.blobs.dir, &self.name, Some(&got));
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
        let mut state = self.blobs.state.lock().expect("blob store lock");
        state.growing.remove(&self.key);
        state.growing_digests.remove(&self.key);
        drop(state);
        let _ = std::fs::remove_file(&self.path);
        self.growing.progress.send_replace(Progress::Failed(Arc::from(why)));
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.abandon("the download was abandoned");
    }
}
