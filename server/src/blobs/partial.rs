//! Downloads a stopped server left part way, kept to be resumed: a node
//! restarted in the middle of a large download goes on from where it
//! stopped (from its peers, or from GitHub with a `Range` request) instead
//! of starting over. Only a download whose digest is known is resumed (the
//! whole file is checked against it at the end, old bytes and new); one
//! known by a stand-in for its name starts over. Whole pieces are kept, the
//! rest cut off, and a partial file not touched for a day is removed when
//! the store opens.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::Duration;

use super::{Digest, PIECE_BYTES};

/// How long a download left part way is kept to be resumed.
const KEPT: Duration = Duration::from_secs(24 * 3600);

/// When the store opens: removes the partial files in `dir` that are stale
/// or not named by a digest.
pub(super) fn sweep(dir: &Path) -> std::io::Result<()> {
    for file in std::fs::read_dir(dir)? {
        let file = file?;
        let named = file.file_name().to_str().and_then(|hex| Digest::parse(&format!("sha256:{hex}"))).is_some();
        let fresh = file.metadata()?.modified().ok().and_then(|at| at.elapsed().ok()).is_some_and(|age| age < KEPT);
        if !(named && fresh) {
            let _ = std::fs::remove_file(file.path());
        }
    }
    Ok(())
}

/// The partial file at `path` for a new download, and how many of its bytes
/// are kept to resume from: whole pieces, below `size` when GitHub gave it;
/// none unless `resumable`.
pub(super) fn open(path: &Path, resumable: bool, size: Option<u64>) -> std::io::Result<(File, u64)> {
    let left = match std::fs::metadata(path) {
        Ok(meta) if resumable => meta.len(),
        _ => 0,
    };
    let below = size.map_or(u64::MAX, |size| size.saturating_sub(1));
    let keep = left.min(below) / PIECE_BYTES * PIECE_BYTES;
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
    file.set_len(keep)?;
    Ok((file, keep))
}
