//! One download from GitHub into the blob store, run apart from the request
//! that started it: first from the fleet (see `fleet`), else from GitHub —
//! its redirect followed to the asset hosts only, never with the token — and
//! from where the peers stopped when they went away part way.

use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{ACCEPT, AUTHORIZATION, LOCATION, USER_AGENT};
use axum::http::{HeaderValue, StatusCode};
use futures::StreamExt;

use super::fleet::{self, Demoted, FromFleet};
use super::hosts::AssetHosts;
use super::stats::AssetCounters;
use crate::blobs::{Want, WriteError, Writer};
use crate::p2p::client::NodeClient;
use crate::AGENT;

/// The longest a node waits for another node of the fleet to start the download it holds the lease of.
const FLEET_WAIT: Duration = Duration::from_secs(10);

/// One download, run apart from the request that started it (its other
/// readers need it to go on).
pub(super) struct Download {
    pub(super) peers: Option<NodeClient>,
    pub(super) want: Want,
    pub(super) demoted: Arc<Demoted>,
    pub(super) client: reqwest::Client,
    pub(super) url: String,
    pub(super) authorization: Option<HeaderValue>,
    pub(super) hosts: AssetHosts,
    pub(super) counters: Arc<AssetCounters>,
}

impl Download {
    pub(super) async fn run(self, mut writer: Writer) {
        if let Err(error) = writer.resume().await {
            self.counters.failed();
            writer.fail(&format!("could not take up the download left part way: {error}"));
            return;
        }
        if writer.taken() > 0 {
            tracing::info!(name = %self.want.name, at = writer.taken(), "resuming a download left part way");
        }
        let mut lease = None;
        if let Some(node) = &self.peers {
            match fleet::from_fleet(node, &self.want, &mut writer, &self.counters, &self.demoted, FLEET_WAIT).await {
                Ok(FromFleet::Delivered { vouched_by }) => {
                    match writer.finish().await {
                        Ok(_) => self.counters.from_fleet(),
                        Err(why) => {
                            self.counters.failed();
                            tracing::warn!(name = %self.want.name, ?vouched_by, "a download from peers does not match: {why}");
                            fleet::blame(node, &self.demoted, &vouched_by);
                        }
                    }
                    return;
                }
                Ok(FromFleet::Fetch { lease: taken }) => {
                    tracing::info!(name = %self.want.name, "nobody in the fleet holds it: downloading from GitHub");
                    lease = taken;
                }
                Err(why) => {
                    // Every holder went part way: the rest from GitHub.
                    tracing::info!(name = %self.want.name, at = writer.taken(), "{why}; the rest from GitHub");
                }
            }
        }
        self.from_github(writer).await;
        if let (Some(key), Some(node)) = (lease, &self.peers) {
            node.release(&key, true).await;
        }
    }

    async fn from_github(&self, mut writer: Writer) {
        let outcome = match self.fetch(&mut writer).await {
            Ok(()) => writer.finish().await.map(|_| ()).map_err(DownloadError::from),
            Err(error) => {
                writer.fail(&error.to_string());
                Err(error)
            }
        };
        match outcome {
            Ok(()) => self.counters.downloaded(),
            Err(why) => {
                self.counters.failed();
                tracing::warn!(url = %self.url, "download failed: {why}");
            }
        }
    }

    /// The bytes, into `writer`. A signed URL the asset host refuses (it
    /// expired on the way) is asked of GitHub again, once.
    async fn fetch(&self, writer: &mut Writer) -> Result<(), DownloadError> {
        for attempt in 0..2 {
            let mut ask =
                self.client.get(&self.url).header(ACCEPT, "application/octet-stream").header(USER_AGENT, AGENT);
            if let Some(authorization) = &self.authorization {
                ask = ask.header(AUTHORIZATION, authorization.clone());
            }
            let answer = ask.send().await.map_err(|e| DownloadError::Github(format!("GitHub did not answer: {e}")))?;
            let bytes = if answer.status().is_redirection() {
                let location = answer
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| answer.url().join(l).ok())
                    .ok_or_else(|| DownloadError::Github("GitHub's redirect names no location".into()))?;
                if !self.hosts.allows(&location) {
                    return Err(DownloadError::Github(self.hosts.refusal(&location)));
                }
                // A fresh request: the token never goes to the asset host.
                let mut ask = self.client.get(location).header(USER_AGENT, AGENT);
                if writer.taken() > 0 {
                    ask = ask.header(axum::http::header::RANGE, format!("bytes={}-", writer.taken()));
                }
                let fetched = ask
                    .send()
                    .await
                    .map_err(|e| DownloadError::Github(format!("the asset host did not answer: {e}")))?;
                let refused = matches!(fetched.status(), StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED);
                if refused && attempt == 0 {
                    tracing::info!(status = %fetched.status(), "the asset host refused the signed URL; asking GitHub again");
                    continue;
                }
                fetched
            } else {
                answer
            };
            if !bytes.status().is_success() {
                return Err(DownloadError::Github(format!("the download was answered {}", bytes.status())));
            }
            // Resuming where the peers stopped: what a host without ranges
            // sends again is skipped.
            let mut skip = if bytes.status() == StatusCode::PARTIAL_CONTENT { 0 } else { writer.taken() };
            let mut body = bytes.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| DownloadError::Github(format!("the download broke off: {e}")))?;
                self.counters.from_github(chunk.len() as u64);
                let skipped = skip.min(chunk.len() as u64);
                skip -= skipped;
                writer.write(&chunk[skipped as usize..]).await?;
            }
            return Ok(());
        }
        Err(DownloadError::Github("the asset host refused GitHub's signed URL twice".into()))
    }
}

#[derive(Debug, thiserror::Error)]
enum DownloadError {
    #[error("{0}")]
    Github(String),
    #[error(transparent)]
    Store(#[from] WriteError),
}
