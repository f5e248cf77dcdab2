//! Reading a blob, or a download as it grows: the last byte of a download
//! only once the whole file matches its digest (see the store's doc).

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use tokio::sync::watch;

use super::{Growing, Progress, READ_CHUNK};

/// The bytes `start..end` of a download as it goes.
pub fn follow(growing: &Growing, start: u64, end: u64) -> ByteStream {
    stream(Source::Growing(growing.file.clone(), growing.progress.subscribe(), growing.expected), start, end)
}

pub(super) fn stream(source: Source, start: u64, end: u64) -> ByteStream {
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

pub(super) enum Source {
    Whole(Arc<std::fs::File>, u64),
    /// A download in progress, and the size GitHub gave.
    Growing(Arc<std::fs::File>, watch::Receiver<Progress>, Option<u64>),
}

/// The next bytes from `pos` (before `end`), waiting for a download to
/// bring them; `None` at the end.
async fn next_chunk(source: &Source, pos: u64, end: u64) -> std::io::Result<Option<Bytes>> {
    if pos == u64::MAX {
        return Ok(None); // after an error
    }
    let (file, until) = match source {
        Source::Whole(file, size) => (file, end.min(*size)),
        Source::Growing(file, progress, expected) => {
            let mut progress = progress.clone();
            loop {
                let now = progress.borrow_and_update().clone();
                if let Progress::Failed(why) = &now {
                    return Err(std::io::Error::other(why.to_string()));
                }
                let readable = now.readable(*expected);
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
