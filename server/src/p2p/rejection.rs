//! Why something from a peer was refused: one reason per rule, a short name
//! to count it by, and whether it is a lie (which costs the sender its
//! gossip score) or only something this node will not take.

use crate::p2p::wire::WIRE_VERSION;

/// How far in the future a peer's `stored_at` may be (clock skew).
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// Why an entry or a message from a peer was not stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("undecodable message: {0}")]
    Malformed(String),
    #[error("message of wire version {0}; this node speaks {WIRE_VERSION}")]
    UnknownVersion(u16),
    #[error("bad key: {0}")]
    BadKey(String),
    #[error("body does not match its CID {0}")]
    CidMismatch(String),
    #[error("announced size {announced} but body has {actual} bytes")]
    SizeMismatch { announced: u64, actual: u64 },
    #[error("body is not JSON")]
    NotJson,
    #[error("entry already expired")]
    Expired,
    #[error("entry stored in the future ({0} ms ahead)")]
    FromTheFuture(u64),
    #[error("the publisher's signature does not hold")]
    BadSignature,
    #[error("a GitHub answer published by {0}, which this node does not trust")]
    Untrusted(String),
    #[error("asked for {asked:?}, answered {answered:?}")]
    WrongKey { asked: String, answered: String },
    #[error("this peer sends more than its share of messages")]
    RateLimited,
    #[error("this peer added more than its share of the cache this minute")]
    OverBudget,
    #[error("the disk queue is full")]
    QueueFull,
    #[error("a sealed body that does not open under its key, time and TTL")]
    SealMismatch,
    #[error("an invalidation of {0:?}: wider than one repository")]
    TooWide(String),
    #[error("this node's own entry, handed back by another")]
    OwnEntry,
    #[error("a piece of a download that does not match its piece list")]
    BadPiece,
    #[error("a download's piece list whose signature does not hold, or that does not cover what its holder says")]
    BadPieceList,
}

impl Rejection {
    /// A short name, for counting rejections by reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::TooLarge(_) | Rejection::SizeMismatch { .. } => "too_large",
            Rejection::Malformed(_) | Rejection::BadKey(_) | Rejection::NotJson => "malformed",
            Rejection::UnknownVersion(_) => "unknown_version",
            Rejection::CidMismatch(_) => "cid_mismatch",
            Rejection::Expired | Rejection::FromTheFuture(_) => "bad_time",
            Rejection::BadSignature => "bad_signature",
            Rejection::Untrusted(_) => "untrusted_publisher",
            Rejection::WrongKey { .. } => "wrong_key",
            Rejection::RateLimited => "rate_limited",
            Rejection::OverBudget => "over_budget",
            Rejection::QueueFull => "queue_full",
            Rejection::SealMismatch => "seal_mismatch",
            Rejection::TooWide(_) => "too_wide",
            Rejection::OwnEntry => "own_entry",
            Rejection::BadPiece => "bad_piece",
            Rejection::BadPieceList => "bad_piece_list",
        }
    }

    /// Whether the message itself is a lie or garbage, so its sender's
    /// gossip score should fall. Another version, an untrusted publisher (an
    /// honest node may trust whom we do not) and our own limits are not.
    pub fn is_forgery(&self) -> bool {
        !matches!(
            self,
            Rejection::UnknownVersion(_)
                | Rejection::Untrusted(_)
                | Rejection::RateLimited
                | Rejection::OverBudget
                | Rejection::QueueFull
                | Rejection::Expired
                | Rejection::OwnEntry
        )
    }
}
