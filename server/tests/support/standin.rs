//! A GitHub-like stand-in for client tests: absolute URLs in bodies and
//! `Link` headers as api.github.com writes them (under its own base, which
//! may carry a path like a GitHub Enterprise Server's `/api/v3`), ETags
//! computed as github.com computes them (`W/"` + SHA-256 of the request's
//! `Accept`, `Authorization` and `Cookie` values, each followed by `:`, then
//! the body — or, switched to opaque, a per-token tag nobody can compute) and
//! 304s for any tag listed in `If-None-Match`, rate-limit and request-id
//! headers, 75 issues over 3 pages linked as `/repositories/{id}/issues?page=N`,
//! users completed from their `url`, a private repository (`/repos/{o}/private`)
//! that tokens with `outsider` in them get 404 for, a `permissions` field for
//! tokens with `admin` in them, a search resource that refuses, a `no-store`
//! path, writes, `POST /graphql` answering small queries (a mutation naming
//! `invalid` rejected as GitHub does: 200 with `errors`), `OPTIONS` answered
//! 204 on every path as GitHub answers a preflight, and `/redirect` sending a
//! 302 to wherever `redirect_to` says, and `/rate_limit` as GitHub shapes
//! it (401 "Bad credentials" for tokens with `revoked` in them). Repositories
//! of the owner `short` say `max-age=1`; `/big` is a 100 KiB body; switched to
//! `rate_limited`, every request is refused as GitHub refuses a spent token.
//! It counts every request by path, apart the calls GitHub charges (all but
//! 304s), and keeps the `If-None-Match` of every GET.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

pub const REPO_ID: u64 = 1296269;
pub const ISSUES: u64 = 75;
pub const PER_PAGE: u64 = 30;

pub struct Standin {
    /// Where clients would reach it, e.g. `http://127.0.0.1:4321` or `…/api/v3`.
    pub base: String,
    pub addr: SocketAddr,
    requests: Mutex<BTreeMap<String, u64>>,
    /// Bumped by every write: answers change with it.
    version: AtomicU64,
    /// `/slow/...` answers after this many milliseconds, and not before the
    /// gate opens.
    pub slow_ms: AtomicU64,
    pub gate: tokio::sync::watch::Sender<bool>,
    /// 304s answered: requests GitHub does not charge.
    free: AtomicU64,
    /// ETags that depend on the token in a way nobody can compute (GitHub
    /// changing its rule, or a server computing them otherwise).
    pub opaque_etags: std::sync::atomic::AtomicBool,
    /// Where `/redirect` points.
    pub redirect_to: Mutex<String>,
    /// Every request refused with 403 "API rate limit exceeded".
    pub rate_limited: std::sync::atomic::AtomicBool,
    /// Each GET's path and `If-None-Match`, in order.
    conditionals: Mutex<Vec<(String, Option<String>)>>,
}

impl Standin {
    /// Requests seen so far, in all.
    pub fn total(&self) -> u64 {
        self.requests.lock().unwrap().values().sum()
    }

    /// Requests answered 304, which GitHub does not charge.
    pub fn free(&self) -> u64 {
        self.free.load(Ordering::SeqCst)
    }

    /// Requests GitHub charges: all but the 304s.
    pub fn charged(&self) -> u64 {
        self.total() - self.free()
    }

    /// The `If-None-Match` of each GET for `path` (without the base path), in order.
    pub fn offered(&self, path: &str) -> Vec<Option<String>> {
        let conditionals = self.conditionals.lock().unwrap();
        conditionals.iter().filter(|(p, _)| p == path).map(|(_, tag)| tag.clone()).collect()
    }

    /// Requests seen for `path` (without the base path).
    pub fn count(&self, path: &str) -> u64 {
        self.requests.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn saw(&self, uri: &Uri) {
        let path = uri.path().to_owned();
        *self.requests.lock().unwrap().entry(path).or_default() += 1;
    }
}

/// Starts the stand-in on a free loopback port; its routes live under `prefix`
/// (`""`, or `/api/v3` like a GitHub Enterprise Server).
pub async fn start(prefix: &str) -> Arc<Standin> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let standin = Arc::new(Standin {
        base: format!("http://{addr}{prefix}"),
        addr,
        requests: Mutex::default(),
        version: AtomicU64::new(1),
        slow_ms: AtomicU64::new(200),
        gate: tokio::sync::watch::channel(true).0,
        free: AtomicU64::new(0),
        opaque_etags: std::sync::atomic::AtomicBool::new(false),
        redirect_to: Mutex::new(String::new()),
        rate_limited: std::sync::atomic::AtomicBool::new(false),
        conditionals: Mutex::default(),
    });
    let routes = Router::new()
        .route("/repos/{owner}/{repo}", get(repo))
        .route("/slow/{owner}/{repo}", get(slow))
        .route("/slow-shared/{owner}/{repo}", get(slow_shared))
        .route("/repos/{owner}/{repo}/issues", get(issues).post(create_issue))
        .route("/repositories/{id}/issues", get(issues_by_id))
        .route("/users/{login}", get(user))
        .route("/search/issues", get(search))
        .route("/rate_limit", get(rate_limit))
        .route("/no-store", get(no_store))
        .route("/fail/{code}", get(fail))
        .route("/private-sso", get(sso))
        .route("/graphql", post(graphql))
        .route("/redirect", get(redirect))
        .route("/big", get(big))
        .layer(axum::middleware::from_fn_with_state(standin.clone(), before_routes))
        .with_state(standin.clone());
    let app = if prefix.is_empty() { routes } else { Router::new().nest(prefix, routes) };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    standin
}

/// The ETag github.com gives `body` for a request with `request`'s headers.
fn etag_of(standin: &Standin, request: &HeaderMap, body: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    if standin.opaque_etags.load(Ordering::SeqCst) {
        hash.update(b"a salt only this server knows:");
    }
    for name in ["accept", "authorization", "cookie"] {
        for value in request.get_all(name) {
            hash.update(value.as_bytes());
            hash.update(b":");
        }
    }
    hash.update(body.as_bytes());
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as GitHub does).
fn listed(request: &HeaderMap, etag: &str) -> bool {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    request
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| opaque(tag) == opaque(etag))
}

/// A JSON answer as GitHub sends it: ETag (304 when the client has it),
/// caching, rate-limit and request-id headers.
fn answer(standin: &Standin, request: &HeaderMap, body: Value, extra: &[(&'static str, String)]) -> Response {
    let text = body.to_string();
    let etag = etag_of(standin, request, &text);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    };
    set("content-type", "application/json; charset=utf-8");
    set("etag", &etag);
    set("cache-control", "private, max-age=60, s-maxage=60");
    set("vary", "Accept, Authorization, Cookie, X-GitHub-OTP");
    set("x-github-media-type", "github.v3; format=json");
    set("x-ratelimit-limit", "5000");
    set("x-ratelimit-remaining", "4999");
    set("x-ratelimit-reset", "4102444800");
    set("x-ratelimit-used", "1");
    set("x-ratelimit-resource", "core");
    set("x-github-request-id", &format!("CAFE:{}", standin.total()));
    set("x-accepted-github-permissions", "issues=read");
    for (name, value) in extra {
        set(name, value);
    }
    if listed(request, &etag) {
        standin.free.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, text).into_response()
}

fn user_json(base: &str, login: &str, full: bool) -> Value {
    let mut user = json!({
        "login": login,
        "id": 1000 + login.len() as u64,
        "node_id": format!("U_{login}"),
        "url": format!("{base}/users/{login}"),
        "html_url": format!("https://github.com/{login}"),
        "type": "User",
        "site_admin": false,
    });
    if full {
        user["name"] = json!(format!("The {login}"));
        user["public_repos"] = json!(8);
    }
    user
}

fn issue_json(base: &str, owner: &str, repo: &str, number: u64, version: u64) -> Value {
    let login = format!("user{}", number % 5);
    json!({
        "id": 5000 + number,
        "node_id": format!("I_{number}"),
        "number": number,
        "title": format!("Issue {number} (v{version})"),
        "state": "open",
        "locked": false,
        "comments": 0,
        "body": format!("see {base}/repos/{owner}/{repo} for details"),
        "url": format!("{base}/repos/{owner}/{repo}/issues/{number}"),
        "repository_url": format!("{base}/repos/{owner}/{repo}"),
        "comments_url": format!("{base}/repos/{owner}/{repo}/issues/{number}/comments"),
        "html_url": format!("https://github.com/{owner}/{repo}/issues/{number}"),
        "user": user_json(base, &login, false),
        "labels": [],
        "assignees": [],
        "created_at": "2026-11-01T00:00:00Z",
        "updated_at": "2026-11-02T00:00:00Z",
    })
}

async fn repo(
    State(s): State<Arc<Standin>>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    s.saw(&uri);
    let base = &s.base;
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if repo == "private" && (token.is_empty() || token.contains("outsider")) {
        let not_found = r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest/repos/repos#get-a-repository","status":"404"}"#;
        return (StatusCode::NOT_FOUND, [("content-type", "application/json; charset=utf-8")], not_found)
            .into_response();
    }
    let mut body = json!({
        "id": REPO_ID,
        "node_id": "R_1",
        "name": repo,
        "full_name": format!("{owner}/{repo}"),
        "owner": user_json(base, &owner, false),
        "url": format!("{base}/repos/{owner}/{repo}"),
        "html_url": format!("https://github.com/{owner}/{repo}"),
        "issues_url": format!("{base}/repos/{owner}/{repo}/issues{{/number}}"),
        "releases_url": format!("{base}/repos/{owner}/{repo}/releases{{/id}}"),
        "default_branch": "main",
        "open_issues_count": ISSUES,
        "private": repo == "private",
        "version": s.version.load(Ordering::SeqCst),
    });
    if token.contains("admin") {
        body["permissions"] = json!({"admin": true, "push": true, "pull": true});
    }
    let short: &[(&'static str, String)] = &[("cache-control", "private, max-age=1".to_owned())];
    answer(&s, &headers, body, if owner == "short" { short } else { &[] })
}

fn issues_page(s: &Standin, owner: &str, repo: &str, page: u64, headers: &HeaderMap) -> Response {
    let base = &s.base;
    let version = s.version.load(Ordering::SeqCst);
    let last = ISSUES.div_ceil(PER_PAGE);
    let items: Vec<Value> = ((page - 1) * PER_PAGE + 1..=(page * PER_PAGE).min(ISSUES))
        .map(|n| issue_json(base, owner, repo, n, version))
        .collect();
    let link = |page: u64, rel: &str| format!("<{base}/repositories/{REPO_ID}/issues?page={page}>; rel=\"{rel}\"");
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
    }
    let extra: Vec<(&'static str, String)> = if links.is_empty() { vec![] } else { vec![("link", links.join(", "))] };
    answer(s, headers, Value::Array(items), &extra)
}

fn page_of(query: &BTreeMap<String, String>) -> u64 {
    query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1)
}

async fn issues(
    State(s): State<Arc<Standin>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    s.saw(&uri);
    issues_page(&s, &owner, &repo, page_of(&query), &headers)
}

async fn issues_by_id(
    State(s): State<Arc<Standin>>,
    Path(_id): Path<u64>,
    Query(query): Query<BTreeMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    s.saw(&uri);
    issues_page(&s, "octo", "demo", page_of(&query), &headers)
}

/// A repository that takes its time: GitHub under load, for bursts. Its
/// answer names the token that asked.
async fn slow(
    State(s): State<Arc<Standin>>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    slowly(&s, &uri, &headers, json!({"full_name": format!("{owner}/{repo}"), "token": token})).await
}

/// The same, with one answer for every token (what most of the API is).
async fn slow_shared(
    State(s): State<Arc<Standin>>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    slowly(&s, &uri, &headers, json!({"full_name": format!("{owner}/{repo}")})).await
}

/// `body`, once the gate is open and `slow_ms` have passed.
async fn slowly(s: &Standin, uri: &Uri, headers: &HeaderMap, body: Value) -> Response {
    s.saw(uri);
    let mut gate = s.gate.subscribe();
    let _ = gate.wait_for(|open| *open).await;
    tokio::time::sleep(std::time::Duration::from_millis(s.slow_ms.load(Ordering::SeqCst))).await;
    answer(s, headers, body, &[])
}

async fn user(State(s): State<Arc<Standin>>, Path(login): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    s.saw(&uri);
    let body = user_json(&s.base, &login, true);
    answer(&s, &headers, body, &[])
}

async fn create_issue(
    State(s): State<Arc<Standin>>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    s.saw(&uri);
    let version = s.version.fetch_add(1, Ordering::SeqCst) + 1;
    let body = issue_json(&s.base, &owner, &repo, ISSUES + 1, version);
    (StatusCode::CREATED, [("content-type", "application/json; charset=utf-8")], body.to_string()).into_response()
}

async fn rate_limit(State(s): State<Arc<Standin>>, uri: Uri, headers: HeaderMap) -> Response {
    s.saw(&uri);
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if token.contains("revoked") {
        let refused =
            r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#;
        return (StatusCode::UNAUTHORIZED, [("content-type", "application/json; charset=utf-8")], refused)
            .into_response();
    }
    let core = json!({"limit": 5000, "used": 1, "remaining": 4999, "reset": 4102444800u64, "resource": "core"});
    answer(&s, &headers, json!({"resources": {"core": core.clone()}, "rate": core}), &[])
}

async fn search(State(s): State<Arc<Standin>>, uri: Uri) -> Response {
    s.saw(&uri);
    let headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("x-ratelimit-limit", "30"),
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset", "4102444800"),
        ("x-ratelimit-resource", "search"),
        ("retry-after", "60"),
        ("x-github-request-id", "SEARCH:1"),
    ];
    (
        StatusCode::FORBIDDEN,
        headers,
        r#"{"message":"API rate limit exceeded for search.","documentation_url":"https://docs.github.com/rest"}"#,
    )
        .into_response()
}

/// GitHub failing with status `code` (say 502), in its JSON shape.
async fn fail(State(s): State<Arc<Standin>>, uri: Uri, Path(code): Path<u16>) -> Response {
    s.saw(&uri);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [("content-type", "application/json; charset=utf-8")], r#"{"message":"Server Error"}"#).into_response()
}

async fn no_store(State(s): State<Arc<Standin>>, uri: Uri, headers: HeaderMap) -> Response {
    s.saw(&uri);
    let mut response = answer(&s, &headers, json!({"secret": "do not keep"}), &[]);
    response.headers_mut().insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

async fn sso(State(s): State<Arc<Standin>>, uri: Uri, headers: HeaderMap) -> Response {
    s.saw(&uri);
    answer(
        &s,
        &headers,
        json!({"private": true}),
        &[("x-github-sso", "partial-results; organizations=21955855".to_owned())],
    )
}

/// `POST /graphql`: `viewer { login }` and a repository's issues count;
/// a mutation bumps the version (what answers show).
async fn graphql(State(s): State<Arc<Standin>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.saw(&uri);
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => return (StatusCode::BAD_REQUEST, r#"{"message":"Problems parsing JSON"}"#).into_response(),
    };
    let query = request["query"].as_str().unwrap_or("");
    if query.trim_start().starts_with("mutation") && query.contains("invalid") {
        // GitHub rejects a mutation it cannot run with 200 and `errors`, changing nothing.
        let errors = json!({"errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a node"}]});
        return ([("content-type", "application/json; charset=utf-8")], errors.to_string()).into_response();
    }
    let version = if query.trim_start().starts_with("mutation") {
        s.version.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        s.version.load(Ordering::SeqCst)
    };
    let login = headers.get("authorization").and_then(|v| v.to_str().ok()).map_or("anonymous", |_| "octocat");
    let data = json!({"data": {"viewer": {"login": login}, "version": version}});
    let rate = [
        ("content-type", "application/json; charset=utf-8"),
        ("x-ratelimit-limit", "5000"),
        ("x-ratelimit-remaining", "4990"),
        ("x-ratelimit-reset", "4102444800"),
        ("x-ratelimit-resource", "graphql"),
    ];
    (rate, data.to_string()).into_response()
}

/// Before any route: `OPTIONS` answered 204 on any path, as GitHub answers a
/// browser's preflight; everything refused while `rate_limited`; each GET's
/// `If-None-Match` noted.
async fn before_routes(
    State(s): State<Arc<Standin>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request.method() == axum::http::Method::OPTIONS {
        s.saw(request.uri());
        return StatusCode::NO_CONTENT.into_response();
    }
    if s.rate_limited.load(Ordering::SeqCst) {
        s.saw(request.uri());
        let headers = [
            ("content-type", "application/json; charset=utf-8"),
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "4102444800"),
            ("x-ratelimit-resource", "core"),
            ("retry-after", "60"),
        ];
        let refused = r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#;
        return (StatusCode::FORBIDDEN, headers, refused).into_response();
    }
    if request.method() == axum::http::Method::GET {
        let tag = request.headers().get("if-none-match").and_then(|v| v.to_str().ok()).map(str::to_owned);
        s.conditionals.lock().unwrap().push((request.uri().path().to_owned(), tag));
    }
    next.run(request).await
}

/// A body over the proxy's storable size in the tests (100 KiB of padding).
async fn big(State(s): State<Arc<Standin>>, uri: Uri, headers: HeaderMap) -> Response {
    s.saw(&uri);
    answer(&s, &headers, json!({"pad": "x".repeat(100 * 1024)}), &[])
}

/// A 302 to `redirect_to`.
async fn redirect(State(s): State<Arc<Standin>>, uri: Uri) -> Response {
    s.saw(&uri);
    let to = s.redirect_to.lock().unwrap().clone();
    (StatusCode::FOUND, [("location", to)]).into_response()
}
