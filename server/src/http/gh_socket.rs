//! `gh`'s door: a Unix socket `gh` is pointed at with one line,
//! `gh config set http_unix_socket PATH`. `gh` then sends every request down
//! it as plain HTTP (`GET /repos/o/r`, `Host: api.github.com`, its token in
//! `Authorization`). Requests for the API host go through the same proxy as
//! `/github/...` — same keys, scopes, sharing and trust — with GitHub's URLs
//! in answers naming `https://<API host>`, so `gh api --paginate` follows
//! them into the socket again. A release asset's bytes are served from the
//! blob store (see `assets`), and a request for one of GitHub's asset hosts
//! is passed on without its token. Requests for any other host (github.com,
//! uploads) are refused with a clear error rather than passed on.
//!
//! The socket file is its owner's alone (mode 0600), removed when the server
//! stops; a stale one left by a killed server is replaced, one a running
//! server holds is refused.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use tokio::net::UnixListener;

use crate::github::error::ProxyError;
use crate::http::state::AppState;

/// The socket file, removed when this is dropped (the server stops).
pub struct GhSocket {
    path: PathBuf,
}

impl Drop for GhSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on `path`: replaces a stale socket file, refuses one a running
/// server answers on, and leaves the new one to its owner alone.
pub fn bind(path: &Path) -> anyhow::Result<(UnixListener, GhSocket)> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            bail!("{} exists and is not a socket; remove it or set --gh-socket to another path", path.display())
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => bail!(
                "another server is listening on the gh socket {}: stop it, or give this peercache its own \
                 --gh-socket (PEERCACHE_GH_SOCKET; empty switches the socket off)",
                path.display()
            ),
            Err(error) if error.kind() == ErrorKind::ConnectionRefused || error.kind() == ErrorKind::NotFound => {
                tracing::info!(socket = %path.display(), "replacing a stale gh socket left by a stopped server");
                std::fs::remove_file(path).with_context(|| format!("removing the stale socket {}", path.display()))?;
            }
            Err(error) => return Err(error).with_context(|| format!("checking the gh socket {}", path.display())),
        },
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("checking the gh socket {}", path.display())),
    }
    if let Some(dir) = path.parent() {
        crate::private::private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on the gh socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} its owner's alone", path.display()))?;
    Ok((listener, GhSocket { path: path.to_owned() }))
}

/// What is served on the socket.
pub fn router(state: AppState) -> Router {
    Router::new().fallback(serve).with_state(state)
}

/// The API host and the base path `gh` puts before API paths there: none
/// for api.github.com, `/api/v3` on a GitHub Enterprise Server.
fn api_path(host: &str, path: &str) -> (String, &'static str) {
    if host == "api.github.com" {
        return (path.to_owned(), "");
    }
    match path.strip_prefix("/api/v3") {
        Some(rest) => (if rest.is_empty() { "/".to_owned() } else { rest.to_owned() }, "/api/v3"),
        None if path == "/api/graphql" => ("/graphql".to_owned(), "/api/v3"),
        None => (path.to_owned(), ""),
    }
}

async fn serve(State(state): State<AppState>, request: Request<Body>) -> Response {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default();
    let gh_host: &str = &state.gh_host;
    let authority = request.headers().get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if host != gh_host && state.core.assets.hosts.names(authority) {
        // `gh` following a redirect to an asset host itself: passed on
        // without its token (the API's own downloads are served from the
        // store and never send it here).
        // GitHub's hosts speak HTTPS; a loopback one (a local mirror, the
        // tests' stand-in) plain HTTP.
        let loopback = authority.rsplit_once(':').map_or(authority, |(name, _)| name).parse::<std::net::IpAddr>();
        let scheme = if loopback.is_ok_and(|ip| ip.is_loopback()) { "http" } else { "https" };
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{scheme}://{authority}{path}");
        return crate::http::downloads::response(state.core.assets.pass(&url).await);
    }
    if host != gh_host {
        let error = ProxyError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "peercache's gh socket serves GitHub's API ({gh_host}) only; a request for {host:?} is not passed on. \
                 Run this gh command without http_unix_socket (GH_CONFIG_DIR pointing at a config without it)."
            ),
        );
        let mut response = error.to_response();
        response.headers_mut().insert("x-peercache", HeaderValue::from_static("PASS"));
        return response;
    }
    let (path, prefix) = api_path(&host, request.uri().path());
    let base = format!("https://{host}{prefix}");
    crate::http::downloads::github(&state.core, request, &path, base).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_as_gh_sends_them() {
        assert_eq!(api_path("api.github.com", "/repos/o/r"), ("/repos/o/r".to_owned(), ""));
        assert_eq!(api_path("api.github.com", "/graphql"), ("/graphql".to_owned(), ""));
        assert_eq!(api_path("ghe.example", "/api/v3/repos/o/r"), ("/repos/o/r".to_owned(), "/api/v3"));
        assert_eq!(api_path("ghe.example", "/api/graphql"), ("/graphql".to_owned(), "/api/v3"));
    }

    #[test]
    fn a_stale_socket_is_replaced_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gh.sock");
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale); // the file stays, nobody answers: what a killed server leaves
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (_live, guard) = bind(&path).expect("a stale socket is replaced");
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            let refused = bind(&path).err().expect("a live socket is refused");
            assert!(refused.to_string().contains("another server is listening"), "{refused}");
            drop(guard);
            assert!(!path.exists(), "removed when the server stops");
        });
        std::fs::write(&path, b"not a socket").unwrap();
        let refused = bind(&path).err().expect("a file that is not a socket is refused");
        assert!(refused.to_string().contains("is not a socket"), "{refused}");
    }
}
