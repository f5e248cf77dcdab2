//! A download in progress as its readers and peers see it: how far it has
//! come, and the pieces taken ahead of the bytes written.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::{Digest, Piece};

/// How far a download has come, as its readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// This many bytes are on disk (the file's last byte, when among them,
    /// not yet readable: see [`Progress::readable`]).
    Receiving(u64),
    /// Every byte is there and matches the digest: the file is a blob.
    Complete(u64),
    /// The download failed, and why: its readers end short.
    Failed(Arc<str>),
}

/// A download in progress: its partial file, open, and how far it is.
pub struct Growing {
    pub(super) file: Arc<std::fs::File>,
    /// The hashes of the pieces written so far (see [`super::Have::pieces`]).
    pub(super) pieces: Mutex<Arc<Vec<Digest>>>,
    /// The size GitHub gave, when it gave one.
    pub expected: Option<u64>,
    pub(super) progress: watch::Sender<Progress>,
    /// The peers it takes pieces from or follows with, as its download
    /// from the fleet last counted them (0 for a download from GitHub).
    pub peers: std::sync::atomic::AtomicUsize,
    /// Pieces checked against the piece list and taken ahead of the bytes
    /// written (by offset), readable by peers before the bytes before them
    /// are here; each goes once it is written ([`super::Writer::offer`]). Counts
    /// them as they come, for peers waiting on one.
    pub(super) ahead: Mutex<HashMap<u64, Arc<Piece>>>,
    pub(super) offered: watch::Sender<u64>,
}

impl Progress {
    /// The bytes that may be read now, from the start: all of them once the
    /// file is whole, else all but the file's last byte, which is read only
    /// once the whole file matches its digest. With no size given, any byte
    /// may be the last: the last one written waits.
    pub fn readable(&self, expected: Option<u64>) -> u64 {
        match *self {
            Progress::Receiving(n) if expected.is_some_and(|size| n < size) => n,
            Progress::Receiving(n) => n.saturating_sub(1),
            Progress::Complete(n) => n,
            Progress::Failed(_) => 0,
        }
    }
}

impl Growing {
    pub fn progress(&self) -> Progress {
        self.progress.borrow().clone()
    }

    /// Hears of each step of the download.
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// The bytes of the piece at `offset`, `len` long, when it was taken
    /// ahead of the bytes written.
    pub(super) fn ahead(&self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let piece = self.ahead.lock().expect("ahead lock").get(&offset).cloned()?;
        (piece.bytes().len() as u64 == len).then(|| piece.bytes().to_vec())
    }

    /// Waits, at most `wait`, until the bytes from `offset` up to `end` can
    /// be read — written, or that piece taken ahead — or the download is over.
    pub(super) async fn until_readable(&self, offset: u64, end: u64, wait: std::time::Duration) {
        let (mut progress, mut offered) = (self.subscribe(), self.offered.subscribe());
        let there = || {
            let now = self.progress();
            !matches!(now, Progress::Receiving(_))
                || now.readable(self.expected) >= end
                || self.ahead.lock().expect("ahead lock").contains_key(&offset)
        };
        let _ = tokio::time::timeout(wait, async {
            while !there() {
                tokio::select! {
                    changed = progress.changed() => if changed.is_err() { break },
                    changed = offered.changed() => if changed.is_err() { break },
                }
            }
        })
        .await;
    }
}
