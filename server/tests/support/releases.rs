//! GitHub for downloads, in two hosts on loopback ports.
//!
//! The API host answers a repository, a release by its tag (and the
//! release's id for `gh`, in GraphQL) and its assets' metadata (`digest`, `size`, `url` under its own base); an
//! asset's bytes (`Accept: application/octet-stream`) with a 302 to a signed
//! URL on the objects host that expires; `/tarball/{ref}` and
//! `/zipball/{ref}` with a 302 to the objects host's archive path; and a
//! commit's SHA (`Accept: application/vnd.github.sha`). Tokens with
//! `outsider` in them get 404 for everything, as for a private repository.
//!
//! The objects host serves bytes (a `Range` too) only on a URL it signed
//! and that has not expired, refuses any request that carries
//! `Authorization` (as S3 does: the token must never reach it), counts what
//! it sent, and can be told to corrupt what it sends, to hand out its next
//! URL already expired, or to hold the second half of every file until let go.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub struct Asset {
    pub id: u64,
    pub name: String,
    pub bytes: Bytes,
    /// Whether the metadata carries its `digest` (GitHub's assets before June 2025 do not).
    pub with_digest: bool,
}

impl Asset {
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex(&Sha256::digest(&self.bytes)))
    }
}

pub struct Releases {
    /// The API's base, for `GITHUB_API_URL`.
    pub base: String,
    /// The objects host, `127.0.0.1:port`, for `--asset-hosts`.
    pub objects: String,
    pub assets: Vec<Asset>,
    /// Bytes the objects host sent, and files it began to send.
    pub sent: AtomicU64,
    pub downloads: AtomicU64,
    /// Requests the objects host refused (expired, unsigned), and ones that carried a token.
    pub refused: AtomicU64,
    pub with_token: AtomicU64,
    pub corrupt: AtomicBool,
    pub expire_next: AtomicBool,
    /// The asset redirect points at another host than the objects host.
    pub redirect_elsewhere: AtomicBool,
    /// While true, the second half of every file waits.
    pub hold: tokio::sync::watch::Sender<bool>,
    api: Mutex<BTreeMap<String, u64>>,
    signed: Mutex<HashMap<String, (u64, Instant)>>,
    next_signature: AtomicU64,
}

impl Releases {
    /// API requests seen for `path`.
    pub fn api_count(&self, path: &str) -> u64 {
        self.api.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn saw(&self, path: &str) {
        *self.api.lock().unwrap().entry(path.to_owned()).or_default() += 1;
    }
}

/// An asset of `size` bytes of `fill`-seeded content.
pub fn asset(id: u64, name: &str, size: usize, with_digest: bool) -> Asset {
    let bytes: Vec<u8> = (0..size).map(|i| ((i as u64 * 2654435761 + id) >> 7) as u8).collect();
    Asset { id, name: name.to_owned(), bytes: Bytes::from(bytes), with_digest }
}

pub async fn start(assets: Vec<Asset>) -> Arc<Releases> {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let objects = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let releases = Arc::new(Releases {
        base: format!("http://{}", api.local_addr().unwrap()),
        objects: objects.local_addr().unwrap().to_string(),
        assets,
        sent: AtomicU64::new(0),
        downloads: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        with_token: AtomicU64::new(0),
        corrupt: AtomicBool::new(false),
        expire_next: AtomicBool::new(false),
        redirect_elsewhere: AtomicBool::new(false),
        hold: tokio::sync::watch::channel(false).0,
        api: Mutex::default(),
        signed: Mutex::default(),
        next_signature: AtomicU64::new(1),
    });
    let api_routes = Router::new()
        .route("/repos/{owner}/{repo}", get(repository))
        .route("/repos/{owner}/{repo}/releases/tags/{tag}", get(release))
        .route("/repos/{owner}/{repo}/releases/{id}", get(release_by_id))
        .route("/repos/{owner}/{repo}/releases/assets/{id}", get(asset_api))
        .route("/repos/{owner}/{repo}/commits/{reference}", get(commit))
        .route("/repos/{owner}/{repo}/{format}/{reference}", get(archive_api))
        .route("/graphql", axum::routing::post(graphql))
        .fallback(unknown)
        .with_state(releases.clone());
    let object_routes = Router::new()
        .route("/assets/{id}", get(object))
        .route("/codeload/{owner}/{repo}/{format}/{sha}", get(codeload))
        .with_state(releases.clone());
    tokio::spawn(async move { axum::serve(api, api_routes).await.unwrap() });
    tokio::spawn(async move { axum::serve(objects, object_routes).await.unwrap() });
    releases
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn refused_token(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("outsider"))
}

/// `gh release` asks for a release's id by its tag in GraphQL first.
async fn graphql(State(r): State<Arc<Releases>>, headers: HeaderMap, body: String) -> Response {
    r.saw("/graphql");
    let found = body.contains("release(tagName") && body.contains("\"tagName\":\"v1\"") && !refused_token(&headers);
    let release = if found { json!({"databaseId": 1, "isDraft": false}) } else { Value::Null };
    json_answer(json!({"data": {"repository": {"release": release}}}))
}

/// Any other path: counted under its own name, and GitHub's 404.
async fn unknown(State(r): State<Arc<Releases>>, uri: axum::http::Uri) -> Response {
    r.saw(uri.path());
    eprintln!("releases stand-in: no route for {} {}", uri.path(), uri.query().unwrap_or(""));
    not_found()
}

fn not_found() -> Response {
    let body = json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"});
    (StatusCode::NOT_FOUND, [("content-type", "application/json; charset=utf-8")], body.to_string()).into_response()
}

fn json_answer(body: Value) -> Response {
    let headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("cache-control", "private, max-age=60, s-maxage=60"),
        ("x-ratelimit-remaining", "4999"),
        ("x-ratelimit-resource", "core"),
    ];
    (headers, body.to_string()).into_response()
}

fn asset_json(r: &Releases, owner: &str, repo: &str, asset: &Asset) -> Value {
    json!({
        "id": asset.id,
        "name": asset.name,
        "size": asset.bytes.len(),
        "digest": if asset.with_digest { Value::String(asset.digest()) } else { Value::Null },
        "state": "uploaded",
        "content_type": "application/octet-stream",
        "url": format!("{}/repos/{owner}/{repo}/releases/assets/{}", r.base, asset.id),
        "browser_download_url": format!("https://github.com/{owner}/{repo}/releases/download/v1/{}", asset.name),
    })
}

async fn release(
    State(r): State<Arc<Releases>>,
    Path((owner, repo, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    r.saw(&format!("/repos/{owner}/{repo}/releases/tags/{tag}"));
    if refused_token(&headers) || tag != "v1" {
        return not_found();
    }
    let assets: Vec<Value> = r.assets.iter().map(|a| asset_json(&r, &owner, &repo, a)).collect();
    json_answer(json!({
        "id": 1,
        "tag_name": tag,
        "name": "Release 1",
        "draft": false,
        "prerelease": false,
        "url": format!("{}/repos/{owner}/{repo}/releases/1", r.base),
        "assets_url": format!("{}/repos/{owner}/{repo}/releases/1/assets", r.base),
        "tarball_url": format!("{}/repos/{owner}/{repo}/tarball/{tag}", r.base),
        "zipball_url": format!("{}/repos/{owner}/{repo}/zipball/{tag}", r.base),
        "assets": assets,
    }))
}

/// A repository, as PyGithub's `get_repo` reads it first.
async fn repository(
    State(r): State<Arc<Releases>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    r.saw(&format!("/repos/{owner}/{repo}"));
    if refused_token(&headers) {
        return not_found();
    }
    json_answer(json!({
        "id": 1,
        "name": repo,
        "full_name": format!("{owner}/{repo}"),
        "url": format!("{}/repos/{owner}/{repo}", r.base),
        "releases_url": format!("{}/repos/{owner}/{repo}/releases{{/id}}", r.base),
    }))
}

async fn release_by_id(
    State(r): State<Arc<Releases>>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if id != "1" {
        r.saw(&format!("/repos/{owner}/{repo}/releases/{id}"));
        return not_found();
    }
    release(State(r), Path((owner, repo, "v1".to_owned())), headers).await
}

async fn asset_api(
    State(r): State<Arc<Releases>>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
) -> Response {
    r.saw(&format!("/repos/{owner}/{repo}/releases/assets/{id}"));
    let Some(asset) = r.assets.iter().find(|a| a.id == id) else { return not_found() };
    if refused_token(&headers) {
        return not_found();
    }
    let wants_bytes = headers.get("accept").and_then(|v| v.to_str().ok()) == Some("application/octet-stream");
    if !wants_bytes {
        return json_answer(asset_json(&r, &owner, &repo, asset));
    }
    let signature = format!("sig{}", r.next_signature.fetch_add(1, Ordering::SeqCst));
    let expires = if r.expire_next.swap(false, Ordering::SeqCst) {
        Instant::now() - Duration::from_secs(1)
    } else {
        Instant::now() + Duration::from_secs(300)
    };
    r.signed.lock().unwrap().insert(signature.clone(), (id, expires));
    let host = if r.redirect_elsewhere.load(Ordering::SeqCst) { "127.0.0.2:9".to_owned() } else { r.objects.clone() };
    let location = format!("http://{host}/assets/{id}?X-Amz-Signature={signature}");
    (StatusCode::FOUND, [("location", location)]).into_response()
}

/// The SHA a ref names: made from the ref, so every ref is a commit.
fn sha_of(reference: &str) -> String {
    hex(&Sha256::digest(reference.as_bytes()))[..40].to_owned()
}

async fn commit(
    State(r): State<Arc<Releases>>,
    Path((owner, repo, reference)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    r.saw(&format!("/repos/{owner}/{repo}/commits/{reference}"));
    if refused_token(&headers) {
        return not_found();
    }
    let sha_only = headers.get("accept").and_then(|v| v.to_str().ok()) == Some("application/vnd.github.sha");
    if sha_only {
        return ([("content-type", "application/vnd.github.sha; charset=utf-8")], sha_of(&reference)).into_response();
    }
    json_answer(json!({"sha": sha_of(&reference)}))
}

async fn archive_api(
    State(r): State<Arc<Releases>>,
    Path((owner, repo, format, reference)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    r.saw(&format!("/repos/{owner}/{repo}/{format}/{reference}"));
    if refused_token(&headers) || !(format == "tarball" || format == "zipball") {
        return not_found();
    }
    let location = format!("http://{}/codeload/{owner}/{repo}/{format}/{reference}", r.objects);
    (StatusCode::FOUND, [("location", location)]).into_response()
}

/// The bytes of an archive: the same for the same repository, format and commit.
pub fn archive_bytes(owner: &str, repo: &str, format: &str, sha: &str) -> Bytes {
    let line = format!("{format} of {owner}/{repo} at {sha}\n");
    Bytes::from(line.repeat(1 + 512 * 1024 / line.len()))
}

async fn object(
    State(r): State<Arc<Releases>>,
    Path(id): Path<u64>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key("authorization") {
        r.with_token.fetch_add(1, Ordering::SeqCst);
        r.refused.fetch_add(1, Ordering::SeqCst);
        let body = "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>";
        return (StatusCode::BAD_REQUEST, body).into_response();
    }
    let signed = query.get("X-Amz-Signature").and_then(|sig| r.signed.lock().unwrap().get(sig).copied());
    let Some((signed_id, expires)) = signed.filter(|(signed_id, _)| *signed_id == id) else {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::FORBIDDEN, "<Error><Code>AccessDenied</Code></Error>").into_response();
    };
    if Instant::now() > expires {
        r.refused.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        )
            .into_response();
    }
    let asset = r.assets.iter().find(|a| a.id == signed_id).expect("signed for an asset");
    send(&r, asset.bytes.clone(), &headers)
}

async fn codeload(
    State(r): State<Arc<Releases>>,
    Path((owner, repo, format, reference)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key("authorization") {
        r.with_token.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::BAD_REQUEST, "no tokens here").into_response();
    }
    send(&r, archive_bytes(&owner, &repo, &format, &reference), &headers)
}

/// `bytes` (or the range asked for), counted, corrupted when told to, the
/// second half held back while `hold` is set.
fn send(r: &Arc<Releases>, bytes: Bytes, headers: &HeaderMap) -> Response {
    let total = bytes.len() as u64;
    let range =
        headers.get("range").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bytes=")).and_then(|v| {
            let (first, last) = v.split_once('-')?;
            let first: u64 = first.parse().ok()?;
            let last: u64 = if last.is_empty() { total - 1 } else { last.parse().ok()? };
            Some((first, last.min(total - 1)))
        });
    let (first, last) = range.unwrap_or((0, total - 1));
    let mut body = bytes.slice(first as usize..=last as usize).to_vec();
    if r.corrupt.load(Ordering::SeqCst) && !body.is_empty() {
        let middle = body.len() / 2;
        body[middle] ^= 0xff;
    }
    r.downloads.fetch_add(1, Ordering::SeqCst);
    let half = body.len() / 2;
    let (head, tail) = (Bytes::from(body[..half].to_vec()), Bytes::from(body[half..].to_vec()));
    let releases = r.clone();
    let hold = r.hold.subscribe();
    let stream = futures::stream::unfold(0u8, move |step| {
        let (head, tail, releases) = (head.clone(), tail.clone(), releases.clone());
        let mut hold = hold.clone();
        async move {
            let chunk = match step {
                0 => head,
                1 => {
                    let _ = hold.wait_for(|held| !held).await;
                    tail
                }
                _ => return None,
            };
            releases.sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(chunk), step + 1))
        }
    });
    let status = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    let length = (last - first + 1).to_string();
    response.headers_mut().insert("content-length", length.parse().unwrap());
    response.headers_mut().insert("content-type", "application/octet-stream".parse().unwrap());
    if range.is_some() {
        response.headers_mut().insert("content-range", format!("bytes {first}-{last}/{total}").parse().unwrap());
    }
    response
}
