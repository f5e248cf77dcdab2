//! What the fleet holds for one request, offered to GitHub in one
//! conditional request: the requester's own stored answer (revalidated with
//! the ETag GitHub gave its scope) and bodies other scopes hold for the same
//! request (confirmed with the ETag GitHub would give this requester for
//! them). Which of them GitHub's 304 names decides what is served.

use std::sync::Arc;

use axum::http::StatusCode;

use crate::cache::entry::{Entry, Origin};
use crate::github::confirm::{github_etag, same_etag, Candidate, ConfirmMode};
use crate::github::key::{scopes_prefix, split_scope};
use crate::github::proxy::GithubProxy;
use crate::github::request::Call;
use crate::github::stored::Decoded;

/// Bodies of other scopes offered at most in one request (distinct bodies,
/// newest first): a request carries a few tags, not the whole fleet's.
const MAX_DONORS: usize = 4;

impl GithubProxy {
    /// Whether the requester's own stored answer must be confirmed by GitHub
    /// before it is served: one an untrusted publisher sent (taken only as a
    /// body to confirm), and in `always` mode anything this node did not
    /// itself have from GitHub (or confirm) for the scope.
    pub(super) fn needs_confirming(&self, entry: &Entry) -> bool {
        let from_peer = matches!(entry.origin, Origin::Peer(_));
        let untrusted = from_peer && self.peers.as_ref().is_some_and(|node| !node.trusts_publisher(entry));
        untrusted || (self.confirm == ConfirmMode::Always && from_peer)
    }

    /// The requester's own stored answer as a candidate: revalidated with
    /// its ETag when the node may trust it, else confirmed like another
    /// scope's body (its ETag computed from its bytes, never taken from the
    /// peer that sent it).
    pub(super) fn own_candidate(&self, call: &Call<'_>, entry: Arc<Entry>, decoded: Arc<Decoded>) -> Option<Candidate> {
        if self.needs_confirming(&entry) {
            let etag = github_etag(&self.sent_headers(call), &decoded.body);
            return (decoded.status == StatusCode::OK).then_some(Candidate { entry, decoded, etag, own: false });
        }
        let etag = entry.etag.clone()?;
        Some(Candidate { entry, decoded, etag, own: true })
    }

    /// Another scope's stored answer to the same request as a candidate.
    pub(super) fn donor_candidate(&self, call: &Call<'_>, entry: Arc<Entry>) -> Option<Candidate> {
        let (_, scope) = split_scope(&entry.key)?;
        if entry.upstream_status != Some(200) || !self.confirm.shares() || call.graphql.is_some() {
            return None;
        }
        let decoded = self.decoded(&entry, &self.scopes.reader(scope))?;
        let etag = github_etag(&self.sent_headers(call), &decoded.body);
        Some(Candidate { entry, decoded, etag, own: false })
    }

    /// Bodies other scopes hold for `call`'s request, fresh or not (GitHub
    /// decides whether they are still current), newest first, one per body.
    pub(super) fn donors(&self, call: &Call<'_>) -> Vec<Candidate> {
        if !self.confirm.shares() || call.graphql.is_some() {
            return Vec::new();
        }
        let mut entries = self.cache.with_prefix(&scopes_prefix(&call.request.identity()));
        entries.retain(|entry| entry.key != call.key);
        entries.sort_by(|a, b| b.stored_at_ms.cmp(&a.stored_at_ms));
        let mut donors: Vec<Candidate> = Vec::new();
        for entry in entries {
            if donors.len() == MAX_DONORS {
                break;
            }
            if let Some(candidate) = self.donor_candidate(call, entry) {
                if !donors.iter().any(|d| same_etag(&d.etag, &candidate.etag)) {
                    donors.push(candidate);
                }
            }
        }
        donors
    }

    /// The request headers GitHub computes this requester's ETag from: what
    /// is sent to it.
    fn sent_headers(&self, call: &Call<'_>) -> axum::http::HeaderMap {
        crate::github::request::forwarded(&call.parts.headers)
    }
}
