//! Downloads as HTTP: a [`Delivery`]'s bytes (all, or the one range asked
//! for) with what they are — size, digest, file name, how they were
//! answered — or the refusal, GitHub's own or the proxy's, shaped as GitHub
//! shapes errors.

use axum::body::Body;
use axum::http::header::{ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::assets::route::{self, Asked};
use crate::assets::{Delivery, Refused};
use crate::core::Core;

const X_PEERCACHE: HeaderName = HeaderName::from_static("x-peercache");
const X_PEERCACHE_DIGEST: HeaderName = HeaderName::from_static("x-peercache-digest");
const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// A request for GitHub path `path` (under `/github`, or on the gh socket)
/// from a client that sees GitHub at `base`: a download for the blob store,
/// anything else for the API proxy. The one way in for both doors.
pub async fn github(core: &Core, request: axum::http::Request<Body>, path: &str, base: String) -> Response {
    match route::of_api(request.method(), path, request.headers()) {
        // Boxed: a download's future is large, and an API hit's stays small.
        Some(asked) => Box::pin(download(core, &asked, request, &base)).await,
        None => core.github.serve(request, path, base).await,
    }
}

/// A download, delivered or refused.
pub async fn download(core: &Core, asked: &Asked, request: axum::http::Request<Body>, base: &str) -> Response {
    let (parts, _) = request.into_parts();
    response(core.assets.deliver(asked, &parts, base).await)
}

/// `/download/{owner}/{repo}/releases/download/{tag}/{name}`: a
/// `browser_download_url` with its host replaced by peercache's.
pub async fn browser_download(core: &Core, request: axum::http::Request<Body>) -> Response {
    let path = request.uri().path().strip_prefix("/download").unwrap_or("").to_owned();
    let Some(asked) = route::of_download(&path) else {
        let error = crate::github::error::ProxyError::new(
            StatusCode::NOT_FOUND,
            "not a release download: /download/{owner}/{repo}/releases/download/{tag}/{name}",
        );
        return response(Err(Refused::Proxy(error)));
    };
    let (_, base) = core.github.under_github(&request);
    download(core, &asked, request, &base).await
}

pub fn response(delivered: Result<Delivery, Refused>) -> Response {
    let delivery = match delivered {
        Ok(delivery) => delivery,
        Err(Refused::Github(response)) => return response,
        Err(Refused::Proxy(error)) => {
            let mut response = error.to_response();
            response.headers_mut().insert(X_PEERCACHE, HeaderValue::from_static("PASS"));
            return response;
        }
    };
    let mut response = Response::new(Body::from_stream(delivery.body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(X_PEERCACHE, HeaderValue::from_static(delivery.mode.as_str()));
    headers.insert(CACHE_STATUS, HeaderValue::from_static(delivery.mode.cache_status()));
    if let Some(total) = delivery.total {
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        let length = delivery.span.map_or(total, |(first, last)| last - first + 1);
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let (Some((first, last)), Some(total)) = (delivery.span, delivery.total) {
        let range = format!("bytes {first}-{last}/{total}");
        headers.insert(CONTENT_RANGE, HeaderValue::from_str(&range).expect("digits and dashes"));
    }
    if let Some(digest) = delivery.digest {
        headers.insert(ETAG, HeaderValue::from_str(&format!("\"{}\"", digest.hex())).expect("hex"));
        headers.insert(X_PEERCACHE_DIGEST, HeaderValue::from_str(&digest.to_string()).expect("hex"));
    }
    if let Some(name) = delivery.filename {
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            headers.insert(CONTENT_DISPOSITION, value);
        }
    }
    if delivery.span.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    response
}
