//! What the store names files and pieces by: their SHA-256.

use std::fmt;

use sha2::{Digest as _, Sha256};

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

/// A piece's bytes with their SHA-256, hashed once: what a reader checks it
/// by is also what its writer lists it by
/// ([`Writer::write_piece`](super::Writer::write_piece)).
pub struct Piece {
    bytes: Vec<u8>,
    digest: Digest,
}

impl Piece {
    pub fn new(bytes: Vec<u8>) -> Piece {
        let digest = Digest::of(&bytes);
        Piece { bytes, digest }
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}
