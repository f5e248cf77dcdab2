//! The dashboard's bundle (`peercache.js`, `peercache_bg.wasm`,
//! `peercache.css`), inside the binary: a release build embeds the files
//! `make wasm` wrote (a debug build reads them from there at run time), with
//! their gzip and brotli forms made beside them. Pages name the files with
//! the bundle's content hash (`/pkg/peercache.<hash>.js`), so a browser may
//! keep them forever (`Cache-Control: immutable`) and a new build is a new
//! name; each is sent in the best encoding the browser accepts.

use axum::extract::Path;
use axum::http::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;
use sha2::{Digest, Sha256};

use crate::core::error::CoreError;
use crate::http::errors::ApiError;

#[derive(Embed)]
#[folder = "$PEERCACHE_PKG_DIR"]
#[include = "peercache.js*"]
#[include = "peercache_bg.wasm*"]
#[include = "peercache.css*"]
#[allow_missing = true]
struct Pkg;

/// The name stem of the bundle's files without a hash, as wasm-bindgen writes them.
const STEM: &str = "peercache";
/// The bundle's files: (suffix after the stem, content type).
const FILES: [(&str, &str); 3] =
    [(".js", "text/javascript; charset=utf-8"), ("_bg.wasm", "application/wasm"), (".css", "text/css; charset=utf-8")];
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The bundle this binary serves.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// `peercache.<hash>`: the name pages use (Leptos's "output name").
    pub output_name: String,
    hash: String,
}

impl Bundle {
    /// The bundle, when all its files are there (`None`: this binary was
    /// built without the dashboard; see [`Bundle::missing_reason`]).
    pub fn load() -> Option<Bundle> {
        let mut digest = Sha256::new();
        for (suffix, _) in FILES {
            digest.update(Pkg::get(&format!("{STEM}{suffix}"))?.metadata.sha256_hash());
        }
        let hash: String = digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
        Some(Bundle { output_name: format!("{STEM}.{hash}"), hash })
    }

    /// Why there is no bundle, for the log and the page.
    pub fn missing_reason() -> String {
        format!(
            "this binary was built without the dashboard's WASM bundle (looked in {}): the page renders but does \
             not update live; build with `make release` (or `make build` for a debug binary)",
            env!("PEERCACHE_PKG_DIR")
        )
    }

    /// The file a request names: its file in the bundle and whether the name
    /// carries this bundle's hash (then it never changes).
    fn resolve<'a>(&self, name: &'a str) -> Option<(String, &'static str, bool)> {
        let hashed_stem = format!("{STEM}.{}", self.hash);
        FILES.iter().find_map(|(suffix, content_type)| {
            let file = format!("{STEM}{suffix}");
            if name == format!("{hashed_stem}{suffix}") {
                Some((file, *content_type, true))
            } else if name == file {
                Some((file, *content_type, false))
            } else {
                None
            }
        })
    }

    /// `GET /pkg/{name}`.
    pub fn serve(&self, name: &str, request: &HeaderMap) -> Response {
        let Some((file, content_type, immutable)) = self.resolve(name) else {
            return ApiError(CoreError::not_found(format!("no dashboard file {name:?} in this build"))).into_response();
        };
        let (encoding, body) = match best_encoding(request, &file) {
            Some((encoding, body)) => (Some(encoding), body),
            None => match Pkg::get(&file) {
                Some(plain) => (None, plain.data),
                None => return ApiError(CoreError::not_found(format!("{file} is not in this build"))).into_response(),
            },
        };
        let mut response = body.into_owned().into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        // The unhashed name may change with the next build: ask each time.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(if immutable { IMMUTABLE } else { "no-cache" }));
        if let Some(encoding) = encoding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    }
}

/// The smallest precompressed form of `file` the request accepts: brotli,
/// then gzip.
fn best_encoding(request: &HeaderMap, file: &str) -> Option<(&'static str, std::borrow::Cow<'static, [u8]>)> {
    let accepted =
        request.get_all(ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(&accepted, coding))
        .find_map(|(coding, extension)| Some((coding, Pkg::get(&format!("{file}{extension}"))?.data)))
}

/// Whether an `Accept-Encoding` value accepts `coding` (given `q=0`, it does not).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused =
            parts.any(|p| matches!(p.trim().strip_prefix("q="), Some(q) if q.trim().parse::<f32>() == Ok(0.0)));
        name.eq_ignore_ascii_case(coding) && !refused
    })
}

/// The handler of `/pkg/{name}` for `bundle` (a 404 without one).
pub async fn pkg(bundle: Option<Bundle>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    match bundle {
        Some(bundle) => bundle.serve(&name, &headers),
        None => ApiError(CoreError::not_found(Bundle::missing_reason())).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_files_and_only_the_hashed_ones_are_immutable() {
        let bundle = Bundle { output_name: "peercache.abc".into(), hash: "abc".into() };
        assert_eq!(bundle.resolve("peercache.abc.js"), Some(("peercache.js".into(), FILES[0].1, true)));
        assert_eq!(bundle.resolve("peercache.abc_bg.wasm"), Some(("peercache_bg.wasm".into(), FILES[1].1, true)));
        assert_eq!(bundle.resolve("peercache.css"), Some(("peercache.css".into(), FILES[2].1, false)));
        assert_eq!(bundle.resolve("peercache.old.js"), None, "another build's name");
        assert_eq!(bundle.resolve("../Cargo.toml"), None);
    }

    #[test]
    fn an_encoding_given_q_zero_is_refused() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("GZIP;q=0.5", "gzip"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(accepts("gzip, br;q=0", "gzip"));
        assert!(!accepts("", "gzip"));
        assert!(!accepts("brotli", "br"));
    }
}
