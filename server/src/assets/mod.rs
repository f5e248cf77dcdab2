//! Release assets and source archives: GitHub authorizes, the store delivers.
//!
//! Every download first asks GitHub, with the requester's own credentials,
//! what it is: the asset's metadata (its `digest` and size) or the commit an
//! archive's ref names — through the API proxy, so these small answers are
//! cached, confirmed and shared like any other (a 304 costs nothing). A
//! token GitHub refuses gets GitHub's refusal, and no byte. The bytes then
//! come from the blob store by content address; only when nobody has them
//! are they fetched, once however many ask at the same time: GitHub is
//! asked for the download, which it answers with a redirect to a signed URL
//! on one of its asset hosts. That redirect is followed only to those hosts
//! (`--asset-hosts`) and never carries the token; a signed URL that has
//! expired is asked for again once. Readers get the bytes as they arrive,
//! but the last byte only once the whole file matches its digest (see
//! `blobs`).

mod download;
pub mod fleet;
pub mod hosts;
mod relay;
pub mod route;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use serde::Deserialize;

use self::download::Download;
use self::fleet::Demoted;
use self::hosts::AssetHosts;
use self::route::Asked;
use self::stats::{AssetCounters, Mode};
use crate::blobs::{Begun, Blobs, ByteStream, Digest, Progress, Want};
use crate::github::error::ProxyError;
use crate::github::proxy::GithubProxy;
use crate::github::request::X_GITHUB_API_VERSION;
use crate::p2p::client::NodeClient;
use crate::AGENT;

/// Downloads from GitHub at once, at most; more wait their turn.
const DOWNLOADS_AT_ONCE: usize = 8;
/// A download that sends nothing for this long has failed.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct AssetsConfig {
    /// `GITHUB_API_URL`, as the proxy has it.
    pub upstream: String,
    pub hosts: AssetHosts,
}

pub struct Assets {
    pub blobs: Arc<Blobs>,
    github: Arc<GithubProxy>,
    /// The fleet: who else may hold the bytes, and who fetches them.
    peers: Option<NodeClient>,
    /// Peers that sent bad pieces lately.
    demoted: Arc<Demoted>,
    client: reqwest::Client,
    upstream: String,
    pub hosts: AssetHosts,
    downloads: Arc<tokio::sync::Semaphore>,
    pub counters: Arc<AssetCounters>,
}

/// What a download request gets: bytes (all, or the span asked for) and
/// what they are, or a refusal.
pub struct Delivery {
    pub mode: Mode,
    pub body: ByteStream,
    /// The whole file's size, when known.
    pub total: Option<u64>,
    /// The span sent, when the client asked for one and the size is known.
    pub span: Option<(u64, u64)>,
    pub digest: Option<Digest>,
    pub filename: Option<String>,
}

/// Why a download is not delivered: GitHub's own answer (a 404 for a token
/// that may not see it), or the proxy's error.
pub enum Refused {
    Github(Response),
    Proxy(ProxyError),
}

impl From<ProxyError> for Refused {
    fn from(error: ProxyError) -> Refused {
        Refused::Proxy(error)
    }
}

/// What GitHub said a download is.
struct Known {
    want: Want,
    /// The API path GitHub answers with the bytes' redirect.
    bytes_path: String,
    filename: String,
}

#[derive(Deserialize)]
struct AssetMetadata {
    id: u64,
    name: String,
    size: Option<u64>,
    digest: Option<String>,
}

#[derive(Deserialize)]
struct Release {
    assets: Vec<AssetMetadata>,
}

impl Assets {
    pub fn new(
        config: AssetsConfig,
        blobs: Arc<Blobs>,
        github: Arc<GithubProxy>,
        peers: Option<NodeClient>,
    ) -> anyhow::Result<Assets> {
        // Redirects are followed here, by hand, to the asset hosts only.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(READ_TIMEOUT)
            .build()?;
        Ok(Assets {
            blobs,
            github,
            peers,
            demoted: Arc::default(),
            client,
            upstream: config.upstream.trim_end_matches('/').to_owned(),
            hosts: config.hosts,
            downloads: Arc::new(tokio::sync::Semaphore::new(DOWNLOADS_AT_ONCE)),
            counters: Arc::default(),
        })
    }

    /// The store and its downloads at a glance.
    pub fn view(&self) -> stats::AssetsView {
        self.counters.view(&self.blobs)
    }

    /// A download asked for by `parts` (its client sees GitHub at `base`).
    pub async fn deliver(&self, asked: &Asked, parts: &Parts, base: &str) -> Result<Delivery, Refused> {
        let known = self.known(asked, parts, base).await?;
        let range = parts.headers.get(axum::http::header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let begun = self.blobs.begin(&known.want).map_err(|e| {
            ProxyError::new(StatusCode::INSUFFICIENT_STORAGE, format!("peercache cannot store the download: {e}"))
        })?;
        let (mode, total, digest) = match &begun {
            Begun::Held(digest, size) => (Mode::Hit, Some(*size), Some(*digest)),
            Begun::Follow(growing) => (Mode::Coalesced, growing.expected, self.blobs.digest_of(&known.want)),
            Begun::Write(writer) => (Mode::Miss, writer.growing().expected, known.want.digest),
        };
        let span = match (range.as_deref(), total) {
            (Some(range), Some(total)) => Some(parse_range(range, total).ok_or_else(|| {
                ProxyError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("the range {range:?} is not within the {total} bytes"),
                )
            })?),
            _ => None,
        };
        let (start, end) = span.map_or((0, u64::MAX), |(first, last)| (first, last + 1));
        let body = match begun {
            Begun::Held(digest, _) => match self.blobs.read(digest, start, end).await {
                Some(body) => body,
                // Evicted or found rotten just now: fetched again.
                None => return Box::pin(self.deliver(asked, parts, base)).await,
            },
            Begun::Follow(growing) => {
                started(&growing).await?;
                crate::blobs::follow(&growing, start, end)
            }
            Begun::Write(writer) => {
                let growing = writer.growing().clone();
                let authorization = parts.headers.get(AUTHORIZATION).cloned();
                let permit = self
                    .downloads
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| ProxyError::bad_gateway("shutting down"))?;
                let task = Download {
                    peers: self.peers.clone(),
                    want: known.want.clone(),
                    demoted: self.demoted.clone(),
                    client: self.client.clone(),
                    url: format!("{}{}", self.upstream, known.bytes_path),
                    authorization,
                    hosts: self.hosts.clone(),
                    counters: self.counters.clone(),
                };
                tokio::spawn(async move {
                    let _permit = permit;
                    task.run(writer).await;
                });
                started(&growing).await?;
                crate::blobs::follow(&growing, start, end)
            }
        };
        self.counters.delivered(mode);
        Ok(Delivery {
            mode,
            body: self.counters.counting_served(body),
            total,
            span,
            digest,
            filename: Some(known.filename),
        })
    }

    /// What GitHub says the download is, asked with the requester's credentials.
    async fn known(&self, asked: &Asked, parts: &Parts, base: &str) -> Result<Known, Refused> {
        match asked {
            Asked::Asset { owner, repo, id } => {
                let path = format!("/repos/{owner}/{repo}/releases/assets/{id}");
                let meta: AssetMetadata = self.api_json(parts, &path, "application/vnd.github+json", base).await?;
                Ok(asset_known(owner, repo, meta))
            }
            Asked::Download { owner, repo, tag, name } => {
                let path = format!("/repos/{owner}/{repo}/releases/tags/{}", encode(tag));
                let release: Release = self.api_json(parts, &path, "application/vnd.github+json", base).await?;
                let meta = release.assets.into_iter().find(|asset| asset.name == *name).ok_or_else(|| {
                    ProxyError::new(StatusCode::NOT_FOUND, format!("the release {tag:?} has no file named {name:?}"))
                })?;
                Ok(asset_known(owner, repo, meta))
            }
            Asked::Archive { owner, repo, format, reference } => {
                let reference = if reference.is_empty() { "HEAD" } else { reference };
                let path = format!("/repos/{owner}/{repo}/commits/{reference}");
                let body = self.api(parts, &path, "application/vnd.github.sha", base).await?;
                let sha = String::from_utf8_lossy(&body).trim().to_ascii_lowercase();
                if !(sha.len() == 40 || sha.len() == 64) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ProxyError::bad_gateway(format!("GitHub named no commit for {reference:?}")).into());
                }
                let (owner, repo) = (owner.to_ascii_lowercase(), repo.to_ascii_lowercase());
                Ok(Known {
                    want: Want { name: format!("{}:{owner}/{repo}@{sha}", format.as_str()), digest: None, size: None },
                    bytes_path: format!("/repos/{owner}/{repo}/{}/{sha}", format.as_str()),
                    filename: format!("{owner}-{repo}-{}.{}", &sha[..7], format.extension()),
                })
            }
        }
    }

    /// An API answer for `path`, asked through the proxy with the
    /// requester's credentials; GitHub's refusal is passed on as it came.
    async fn api(&self, parts: &Parts, path: &str, accept: &'static str, base: &str) -> Result<bytes::Bytes, Refused> {
        let mut request = Request::builder().method(Method::GET).uri(path);
        for name in [AUTHORIZATION, USER_AGENT, X_GITHUB_API_VERSION] {
            if let Some(value) = parts.headers.get(&name) {
                request = request.header(name, value);
            }
        }
        let request = request
            .header(ACCEPT, accept)
            .body(Body::empty())
            .map_err(|e| ProxyError::bad_request(format!("cannot ask GitHub for {path}: {e}")))?;
        let response = self.github.serve(request, path, base.to_owned()).await;
        if response.status() != StatusCode::OK {
            return Err(Refused::Github(response));
        }
        axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .map_err(|e| ProxyError::bad_gateway(format!("reading GitHub's answer for {path}: {e}")).into())
    }

    async fn api_json<T: serde::de::DeserializeOwned>(
        &self,
        parts: &Parts,
        path: &str,
        accept: &'static str,
        base: &str,
    ) -> Result<T, Refused> {
        let body = self.api(parts, path, accept, base).await?;
        serde_json::from_slice(&body).map_err(|e| {
            ProxyError::bad_gateway(format!("GitHub's answer for {path} is not what it documents: {e}")).into()
        })
    }

    /// A request `gh` sent down its socket for one of GitHub's asset hosts
    /// (`url`): passed on without its credentials, the bytes streamed back.
    pub async fn pass(&self, url: &str) -> Result<Delivery, Refused> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ProxyError::bad_request(format!("{url:?}: {e}")))?;
        if !self.hosts.allows(&parsed) {
            return Err(ProxyError::new(StatusCode::MISDIRECTED_REQUEST, self.hosts.refusal(&parsed)).into());
        }
        let response = self
            .client
            .get(parsed)
            .header(USER_AGENT, AGENT)
            .send()
            .await
            .map_err(|e| ProxyError::bad_gateway(format!("the asset host did not answer: {e}")))?;
        if !response.status().is_success() {
            return Err(ProxyError::bad_gateway(format!("the asset host answered {}", response.status())).into());
        }
        let total = response.content_length();
        let counters = self.counters.clone();
        let body: ByteStream = Box::pin(response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            counters.from_github(chunk.len() as u64);
            Ok(chunk)
        }));
        self.counters.delivered(Mode::Pass);
        Ok(Delivery {
            mode: Mode::Pass,
            body: self.counters.counting_served(body),
            total,
            span: None,
            digest: None,
            filename: None,
        })
    }
}

fn asset_known(owner: &str, repo: &str, meta: AssetMetadata) -> Known {
    let (owner, repo) = (owner.to_ascii_lowercase(), repo.to_ascii_lowercase());
    Known {
        want: Want {
            name: format!("asset:{owner}/{repo}/{}", meta.id),
            digest: meta.digest.as_deref().and_then(Digest::parse),
            size: meta.size,
        },
        bytes_path: format!("/repos/{owner}/{repo}/releases/assets/{}", meta.id),
        filename: meta.name,
    }
}

/// A path segment, percent-encoded where a URL needs it.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Waits until a download has brought its first bytes (or ended): one that
/// fails before it starts is an error the client can read, not a response
/// cut short.
async fn started(growing: &crate::blobs::Growing) -> Result<(), ProxyError> {
    let mut progress = growing.subscribe();
    loop {
        match &*progress.borrow_and_update() {
            Progress::Receiving(0) => {}
            Progress::Failed(why) => return Err(ProxyError::bad_gateway(why.to_string())),
            _ => return Ok(()),
        }
        if progress.changed().await.is_err() {
            return Err(ProxyError::bad_gateway("the download stopped"));
        }
    }
}

/// A single `bytes=` range of a file of `total` bytes, as `(first, last)`.
pub fn parse_range(range: &str, total: u64) -> Option<(u64, u64)> {
    let spec = range.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || total == 0 {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok().filter(|n| *n > 0)?;
            (total.saturating_sub(n), total - 1)
        }
        (first, "") => (first.parse().ok()?, total - 1),
        (first, last) => (first.parse().ok()?, last.parse::<u64>().ok()?.min(total - 1)),
    };
    (first <= last && first < total).then_some((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_writes_them() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 999)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 999)));
        for bad in ["bytes=1000-", "bytes=5-1", "bytes=0-1,5-6", "items=0-1", "bytes=-0", "bytes=x-1"] {
            assert_eq!(parse_range(bad, 1000), None, "{bad}");
        }
    }

    #[test]
    fn names_are_encoded_as_path_segments() {
        assert_eq!(encode("v1.0"), "v1.0");
        assert_eq!(encode("release/2026 a"), "release%2F2026%20a");
    }
}
