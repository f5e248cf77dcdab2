//! How a request to the proxy ended: one [`Answer`], the value its
//! response and every counter are made from (`respond`), and what the
//! waiters of a shared fetch get of it.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;

use crate::github::error::ProxyError;
use crate::github::stats::Mode;
use crate::github::stored::Decoded;

/// How a request ended: the one value its response and every counter are
/// made from.
pub(super) enum Answer {
    /// A body to send as it is (stored, from a peer, or just fetched), with
    /// when it was stored (for `Age`); the waiters of a coalesced fetch get it too.
    Body(Mode, Arc<Decoded>, Option<u64>),
    /// Forwarded or streamed through: this caller's only.
    Passed(Response),
    /// The proxy itself could not answer.
    Failed(Mode, ProxyError),
    /// Another node of the fleet fetched it (holding the lease); this node
    /// waited for its entry.
    Fleet { decoded: Arc<Decoded>, stored_at: u64, holder: String },
    /// GitHub's own answer just now (MISS), and whether it was stored.
    Fetched { decoded: Arc<Decoded>, stored: bool },
}

impl Answer {
    /// The status GitHub (or the proxy) answered with, when known.
    pub(super) fn status(&self) -> Option<StatusCode> {
        match self {
            Answer::Body(_, decoded, _) => Some(decoded.status),
            Answer::Passed(response) => Some(response.status()),
            Answer::Failed(_, error) => Some(error.status),
            Answer::Fleet { .. } => Some(StatusCode::OK),
            Answer::Fetched { decoded, .. } => Some(decoded.status),
        }
    }

    pub(super) fn mode(&self) -> Mode {
        match self {
            Answer::Body(mode, ..) | Answer::Failed(mode, _) => *mode,
            Answer::Passed(_) => Mode::Pass,
            Answer::Fleet { .. } => Mode::Coalesced,
            Answer::Fetched { .. } => Mode::Miss,
        }
    }

    /// What the waiters of a shared fetch get: `None` for a stream, which
    /// cannot be shared (each waiter then asks on its own).
    pub(super) fn shared(&self) -> Option<Shared> {
        match self {
            Answer::Body(_, decoded, stored_at) => Some(Shared::Body(decoded.clone(), *stored_at)),
            Answer::Failed(_, error) => Some(Shared::Failed(error.clone())),
            Answer::Fleet { decoded, stored_at, .. } => Some(Shared::Body(decoded.clone(), Some(*stored_at))),
            Answer::Fetched { decoded, .. } => Some(Shared::Body(decoded.clone(), None)),
            Answer::Passed(_) => None,
        }
    }
}

/// A shared fetch's answer, as its waiters get it.
#[derive(Clone)]
pub(super) enum Shared {
    Body(Arc<Decoded>, Option<u64>),
    Failed(ProxyError),
}
