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
use crate::github::scope::Scope;
use crate::github::stored::{Binding, Decoded};
use crate::p2p::protocol::Rejection;

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
        self.donor(&self.sent_headers(call), call, entry)
    }

    /// The same, with the headers sent to GitHub already at hand.
    fn donor(&self, sent: &axum::http::HeaderMap, call: &Call<'_>, entry: Arc<Entry>) -> Option<Candidate> {
        let (_, scope) = split_scope(&entry.key)?;
        if entry.upstream_status != Some(200) || !self.confirm.shares() || call.graphql.is_some() {
            return None;
        }
        let decoded = self.decoded(&entry, &self.scopes.reader(scope))?;
        let etag = github_etag(sent, &decoded.body);
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
        let sent = self.sent_headers(call);
        let mut donors: Vec<Candidate> = Vec::new();
        for entry in entries {
            if donors.len() == MAX_DONORS {
                break;
            }
            if let Some(candidate) = self.donor(&sent, call, entry) {
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

    /// The decoded form of a stored entry. A sealed entry that does not open
    /// under its own key, time and TTL was moved or replayed: it is dropped,
    /// and counted against the peer it came from.
    pub(super) async fn open(&self, entry: &Entry, scope: &Scope) -> Option<Arc<Decoded>> {
        if let Some(decoded) = self.decoded(entry, scope) {
            return Some(decoded);
        }
        self.refuse(entry).await;
        None
    }

    /// The decoded form of a stored entry, kept ready for the next hit.
    pub(super) fn decoded(&self, entry: &Entry, scope: &Scope) -> Option<Arc<Decoded>> {
        if let Some(ready) = self.ready.get(&entry.cid, &entry.key, &scope.id, "") {
            return Some(ready);
        }
        let binding = Binding {
            key: &entry.key,
            stored_at_ms: entry.stored_at_ms,
            ttl_secs: entry.signed_ttl_secs(),
            etag: entry.etag.as_deref(),
        };
        let decoded = Arc::new(Decoded::decode(&entry.value, scope, &binding)?);
        self.ready.put(&entry.cid, &entry.key, &scope.id, "", decoded.clone());
        Some(decoded)
    }

    /// An entry under a scope's key that its scope cannot open.
    async fn refuse(&self, entry: &Entry) {
        tracing::warn!(key = entry.key, origin = %entry.origin.label(), "a cached GitHub answer does not open under its key; dropped");
        self.counters.seal_mismatch();
        if let (Origin::Peer(peer), Some(node)) = (&entry.origin, &self.peers) {
            node.report(peer.clone(), Rejection::SealMismatch);
        }
        let (key, cid) = (entry.key.clone(), entry.cid.clone());
        if let Err(error) = self.cache.write(move |cache| cache.invalidate_if(&key, &cid)).await {
            tracing::warn!(%error, "could not drop a cached answer that does not open");
        }
    }

    /// The last known answer, fresh or not, and when it was stored.
    pub(super) async fn stale(&self, call: &Call<'_>) -> Option<(u64, Arc<Decoded>)> {
        let entry = self.cache.get_stale(&call.key).filter(|entry| !self.needs_confirming(entry))?;
        Some((entry.stored_at_ms, self.open(&entry, &call.scope).await?))
    }
}
