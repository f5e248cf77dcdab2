//! Telling a swarm-key mismatch from a firewall. Under a private swarm's
//! key every byte after the nonces is encrypted, so two nodes with different
//! keys (or one with none) read each other's bytes as noise, and libp2p
//! reports "Maximum frame length exceeded" or a timeout — what a dropped
//! packet looks like. But the first bytes each side reads are always
//! multistream-select's header (`/multistream/1.0.0`, which both the dialer
//! and the listener send first), so [`HeaderCheck`] compares them as they
//! arrive: anything else, or the peer hanging up before the header, is the
//! keys differing, and the error says so on both sides.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::{AsyncRead, AsyncWrite};
use libp2p::pnet::PnetError;

/// What every peer sends first, after the private-swarm handshake if any.
const HEADER: &[u8] = b"\x13/multistream/1.0.0\n";
/// In every error this module makes, so the event loop can find it in
/// libp2p's nested errors (some of which drop sources but keep words).
pub const MARKER: &str = "swarm key mismatch";

/// The words for a failed handshake whose error carries [`MARKER`].
pub fn mismatch_words(this_node_has_a_key: bool) -> &'static str {
    if this_node_has_a_key {
        "swarm key mismatch: the peer's swarm key differs from this node's, or it has none (give every node the same CACHE_SWARM_KEY file)"
    } else {
        "swarm key mismatch: the peer is in a private swarm and this node has no swarm key (set CACHE_SWARM_KEY to the same file as the peer's)"
    }
}

fn mismatch(kind: io::ErrorKind, how: &str) -> io::Error {
    io::Error::new(kind, format!("{MARKER}: {how}"))
}

/// A connection whose first bytes read must be multistream-select's header.
pub struct HeaderCheck<S> {
    inner: S,
    /// Header bytes seen so far.
    seen: usize,
}

impl<S> HeaderCheck<S> {
    pub fn new(inner: S) -> Self {
        HeaderCheck { inner, seen: 0 }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeaderCheck<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let read = match ready!(Pin::new(&mut this.inner).poll_read(cx, buf)) {
            Err(error) if this.seen < HEADER.len() && hung_up(&error) => {
                return Poll::Ready(Err(mismatch(error.kind(), "the peer hung up during the handshake")));
            }
            read => read?,
        };
        if this.seen < HEADER.len() {
            if read == 0 {
                return Poll::Ready(Err(mismatch(
                    io::ErrorKind::UnexpectedEof,
                    "the peer hung up during the handshake",
                )));
            }
            let take = read.min(HEADER.len() - this.seen);
            if buf[..take] != HEADER[this.seen..this.seen + take] {
                return Poll::Ready(Err(mismatch(
                    io::ErrorKind::InvalidData,
                    "the peer's first bytes are not the protocol's",
                )));
            }
            this.seen += take;
        }
        Poll::Ready(Ok(read))
    }
}

impl<S> HeaderCheck<S> {
    /// A write or flush that fails because the peer hung up before it sent
    /// the header: the same mismatch (a reset discards what it had sent).
    fn written<T>(&self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(Err(error)) if self.seen < HEADER.len() && hung_up(&error) => {
                Poll::Ready(Err(mismatch(error.kind(), "the peer hung up during the handshake")))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeaderCheck<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.written(written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        self.written(flushed)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A peer closing the connection (with a reset, when our bytes were still
/// unread: what a node does with noise it cannot read).
fn hung_up(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
}

/// The private-swarm handshake's error: a peer hanging up while the nonces
/// are exchanged is a peer without the key (it read our nonce as noise).
pub fn pnet_failed(error: PnetError) -> io::Error {
    match error {
        PnetError::HandshakeError(io) if hung_up(&io) => {
            mismatch(io.kind(), "the peer hung up during the private-swarm handshake")
        }
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use futures::AsyncReadExt;

    use super::*;

    async fn read_all(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        HeaderCheck::new(Cursor::new(bytes.to_vec())).read_to_end(&mut out).await.map(|_| out)
    }

    #[tokio::test]
    async fn the_header_passes_and_anything_else_is_a_mismatch() {
        let good = [HEADER, b"\x07/noise\n"].concat();
        assert_eq!(read_all(&good).await.unwrap(), good);
        // Noise from another key, a peer that hangs up, a header cut short.
        for bad in [&b"\x8f\x02garbage"[..], b"", &HEADER[..7]] {
            let error = read_all(bad).await.unwrap_err();
            assert!(error.to_string().starts_with(MARKER), "{error}");
        }
        // One wrong byte deep in the header is enough.
        let mut late = good.clone();
        late[12] ^= 1;
        assert!(read_all(&late).await.unwrap_err().to_string().contains(MARKER));
    }
}
