//! Which requests are downloads: a release asset's API URL asked for its
//! bytes (`Accept: application/octet-stream`), a source archive
//! (`/tarball/{ref}`, `/zipball/{ref}`), and a `browser_download_url`
//! pointed at peercache (`/download/{o}/{r}/releases/download/{tag}/{name}`).
//! Everything else under `/github` is an API call for the proxy.

use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, Method};

/// A download, as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// `/repos/{owner}/{repo}/releases/assets/{id}`, its bytes.
    Asset { owner: String, repo: String, id: u64 },
    /// `/repos/{owner}/{repo}/{tarball|zipball}[/{ref}]` (no ref: the default branch).
    Archive { owner: String, repo: String, format: Format, reference: String },
    /// `https://github.com/{owner}/{repo}/releases/download/{tag}/{name}`.
    Download { owner: String, repo: String, tag: String, name: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Tarball,
    Zipball,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Tarball => "tarball",
            Format::Zipball => "zipball",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Tarball => "tar.gz",
            Format::Zipball => "zip",
        }
    }
}

/// A GitHub API path (what follows `/github`, or a path on the gh socket)
/// that is a download, when it is one.
pub fn of_api(method: &Method, path: &str, headers: &HeaderMap) -> Option<Asked> {
    if method != Method::GET {
        return None;
    }
    // Told apart by borrowed segments first: every API read passes here,
    // and only a download's names are worth making.
    let mut parts = path.strip_prefix("/repos/")?.splitn(4, '/');
    let (owner, repo, kind, tail) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
    let asked = match (kind, tail) {
        ("releases", Some(tail)) => {
            let id = tail.strip_prefix("assets/").filter(|id| !id.contains('/'))?;
            if !wants_bytes(headers) {
                return None;
            }
            Asked::Asset { owner: name(owner)?, repo: name(repo)?, id: id.parse().ok().filter(|id| *id > 0)? }
        }
        ("tarball" | "zipball", reference) => {
            let format = if kind == "tarball" { Format::Tarball } else { Format::Zipball };
            let reference = reference.unwrap_or("");
            if reference.split('/').any(|part| part.is_empty() && !reference.is_empty()) {
                return None;
            }
            Asked::Archive { owner: name(owner)?, repo: name(repo)?, format, reference: reference.to_owned() }
        }
        _ => return None,
    };
    Some(asked)
}

/// A path under `/download` (a `browser_download_url` with its host
/// replaced), when it names a release's file.
pub fn of_download(path: &str) -> Option<Asked> {
    let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    match parts.as_slice() {
        [owner, repo, "releases", "download", tag, file] => {
            Some(Asked::Download { owner: name(owner)?, repo: name(repo)?, tag: decoded(tag)?, name: decoded(file)? })
        }
        _ => None,
    }
}

/// Whether the client asks for an asset's bytes rather than its metadata.
fn wants_bytes(headers: &HeaderMap) -> bool {
    headers.get_all(ACCEPT).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value.split(',').any(|media| media.split(';').next().unwrap_or("").trim() == "application/octet-stream")
        })
    })
}

/// An owner or repository name: GitHub's letters, digits, `-`, `_` and `.`.
fn name(part: &str) -> Option<String> {
    let ok = !part.is_empty()
        && part != "."
        && part != ".."
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    ok.then(|| part.to_owned())
}

/// A tag or file name from a URL path segment, percent-decoded, with no
/// separator or dot segment in it.
fn decoded(part: &str) -> Option<String> {
    let text = percent_decode(part)?;
    let ok = !text.is_empty() && text != "." && text != ".." && !text.contains(['/', '\\', '\0']);
    ok.then_some(text)
}

fn percent_decode(part: &str) -> Option<String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn downloads_are_told_from_api_calls() {
        let bytes = accept("application/octet-stream");
        let json = accept("application/vnd.github+json");
        let asset = Asked::Asset { owner: "o".into(), repo: "r".into(), id: 7 };
        assert_eq!(of_api(&Method::GET, "/repos/o/r/releases/assets/7", &bytes), Some(asset));
        assert_eq!(of_api(&Method::GET, "/repos/o/r/releases/assets/7", &json), None, "metadata is an API call");
        assert_eq!(of_api(&Method::HEAD, "/repos/o/r/releases/assets/7", &bytes), None);
        assert_eq!(of_api(&Method::GET, "/repos/o/r/releases/assets/x", &bytes), None);
        assert_eq!(
            of_api(&Method::GET, "/repos/o/r/releases/assets/7", &accept("text/html, application/octet-stream;q=0.9")),
            Some(Asked::Asset { owner: "o".into(), repo: "r".into(), id: 7 })
        );
        assert_eq!(
            of_api(&Method::GET, "/repos/o/r/tarball/feature/x", &json),
            Some(Asked::Archive {
                owner: "o".into(),
                repo: "r".into(),
                format: Format::Tarball,
                reference: "feature/x".into()
            })
        );
        assert_eq!(
            of_api(&Method::GET, "/repos/o/r/zipball", &HeaderMap::new()),
            Some(Asked::Archive {
                owner: "o".into(),
                repo: "r".into(),
                format: Format::Zipball,
                reference: String::new()
            })
        );
        assert_eq!(of_api(&Method::GET, "/repos/o/r/tarball/a//b", &json), None);
        assert_eq!(of_api(&Method::GET, "/repos/o/r/issues", &bytes), None);
        assert_eq!(of_api(&Method::GET, "/repos/../r/tarball/main", &json), None);
    }

    #[test]
    fn browser_download_urls_name_a_file_of_a_release() {
        assert_eq!(
            of_download("/o/r/releases/download/v1.0/tool%20linux.tar.gz"),
            Some(Asked::Download {
                owner: "o".into(),
                repo: "r".into(),
                tag: "v1.0".into(),
                name: "tool linux.tar.gz".into()
            })
        );
        for bad in [
            "/o/r/releases/download/v1",
            "/o/r/releases/download/v1/..",
            "/o/r/releases/download/v1/a%2Fb",
            "/o/r/x/download/v1/f",
        ] {
            assert_eq!(of_download(bad), None, "{bad}");
        }
    }
}
