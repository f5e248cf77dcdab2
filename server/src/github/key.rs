//! The cache key of a GitHub request, made from its parts rather than
//! pasted together: one request, one key, and two requests GitHub answers
//! differently never share one.
//!
//! A key reads `github:<METHOD>:<path>[?<query>]:accept=<accept>[:api=<version>]:scope=<scope>`.
//! Every part but the fixed words is escaped (`%` and `:` as `%25` and
//! `%3A`), so no part can end early and pose as the next: an `Accept` of
//! `application/json:api=2022-11-28` is not the key of `Accept:
//! application/json` with that API version. The path is canonical, as GitHub
//! reads it: escapes of unreserved characters decoded (`%72` is `r`), other
//! escapes in upper case, and the names GitHub matches without regard to case
//! (owner and repository, user, organization) in lower case. Everything up to
//! `:scope=` is the request's *identity*: what GitHub's answer depends on
//! apart from who asks, shared by every scope's entry for it.

use std::fmt::Write;

/// One GitHub request, as far as its answer depends on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestKey {
    /// `GET`, or `POST` for a GraphQL read.
    pub method: &'static str,
    /// Canonical (see [`canonical_path`]).
    pub path: String,
    /// Parameters sorted.
    pub query: String,
    pub accept: String,
    pub api_version: String,
}

/// Where the scope begins in a key.
const SCOPE_MARK: &str = ":scope=";

impl RequestKey {
    /// The key of a REST read of `path` (as the client wrote it) with `query`.
    pub fn rest(path: &str, query: Option<&str>, accept: &str, api_version: &str) -> RequestKey {
        RequestKey {
            method: "GET",
            path: canonical_path(path),
            query: sorted_query(query),
            accept: accept.to_owned(),
            api_version: api_version.to_owned(),
        }
    }

    /// The key of a GraphQL read whose normalized body hashes to `digest`.
    pub fn graphql(digest: &str, accept: &str) -> RequestKey {
        RequestKey {
            method: "POST",
            path: "/graphql".to_owned(),
            query: format!("q={digest}"),
            accept: accept.to_owned(),
            api_version: String::new(),
        }
    }

    /// Everything but the scope: what every scope's entry for this request shares.
    pub fn identity(&self) -> String {
        let mut key = String::with_capacity(80 + self.path.len() + self.query.len() + self.accept.len());
        key.push_str("github:");
        key.push_str(self.method);
        key.push(':');
        escape_into(&mut key, &self.path);
        if !self.query.is_empty() {
            key.push('?');
            escape_into(&mut key, &self.query);
        }
        key.push_str(":accept=");
        escape_into(&mut key, &self.accept);
        if !self.api_version.is_empty() {
            key.push_str(":api=");
            escape_into(&mut key, &self.api_version);
        }
        key
    }

    /// The key of this request's answer for `scope`.
    pub fn scoped(&self, scope: &str) -> String {
        let mut key = self.identity();
        key.push_str(SCOPE_MARK);
        escape_into(&mut key, scope);
        key
    }
}

/// The identity part of a scoped key (see [`RequestKey::identity`]) and its scope.
pub fn split_scope(key: &str) -> Option<(&str, &str)> {
    let at = key.rfind(SCOPE_MARK)?;
    Some((&key[..at], &key[at + SCOPE_MARK.len()..]))
}

/// The prefix every scope's key for the request `identity` starts with.
pub fn scopes_prefix(identity: &str) -> String {
    format!("{identity}{SCOPE_MARK}")
}

/// `github:GET:<path>…:scope=<scope>` for a REST read: the key the proxy
/// files `path`'s answer under.
pub fn proxy_key(path: &str, query: &str, accept: &str, api_version: &str, scope: &str) -> String {
    RequestKey::rest(path, Some(query), accept, api_version).scoped(scope)
}

/// The query with its parameters sorted, so `?a=1&b=2` and `?b=2&a=1` share an entry.
pub fn sorted_query(query: Option<&str>) -> String {
    let query = query.unwrap_or("");
    if !query.contains('&') {
        return query.to_owned();
    }
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_unstable();
    pairs.join("&")
}

/// The path as GitHub reads it: escapes of unreserved characters decoded,
/// other escapes in upper case, and the owner and repository (`/repos/{o}/{r}`),
/// user (`/users/{u}`) and organization (`/orgs/{o}`) in lower case, as
/// GitHub matches them.
pub fn canonical_path(path: &str) -> String {
    // One pass into one string: every request's key is made of it.
    let decoded = if path.contains('%') { std::borrow::Cow::Owned(decode_unreserved(path)) } else { path.into() };
    let mut out = String::with_capacity(decoded.len());
    let mut folded = 0..0;
    // Segment 0 is the empty string before the leading '/'.
    for (index, segment) in decoded.split('/').enumerate() {
        if index > 0 {
            out.push('/');
        }
        if index == 1 {
            folded = match segment {
                "repos" => 2..4,
                "users" | "orgs" => 2..3,
                _ => 0..0,
            };
        }
        let start = out.len();
        out.push_str(segment);
        if folded.contains(&index) {
            out[start..].make_ascii_lowercase();
        }
    }
    out
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986: letters,
/// digits, `-._~`); writes the others with upper-case hex digits.
fn decode_unreserved(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let byte = (high * 16 + low) as u8;
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(byte as char);
                } else {
                    let _ = write!(out, "%{byte:02X}");
                }
                i += 3;
                continue;
            }
        }
        let rest = &text[i..];
        let c = rest.chars().next().expect("i is on a char boundary");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Appends `part` with `%` and `:` escaped, so it cannot be read as another part.
fn escape_into(key: &mut String, part: &str) {
    let mut rest = part;
    while let Some(at) = rest.find(['%', ':']) {
        key.push_str(&rest[..at]);
        key.push_str(if rest.as_bytes()[at] == b'%' { "%25" } else { "%3A" });
        rest = &rest[at + 1..];
    }
    key.push_str(rest);
}

/// What a write to `path` makes stale: every answer about its repository
/// (`/repos/{o}/{r}` and below, in every scope), else only the answers about
/// the path itself. Never a prefix wider than one repository: a write to `/`
/// or `/repos` (or an OPTIONS a browser sent there) must not drop everything.
pub fn invalidation_prefixes(path: &str) -> Vec<String> {
    let canonical = canonical_path(path);
    let segments: Vec<&str> = canonical.trim_start_matches('/').split('/').collect();
    let mut escaped = String::from("github:GET:");
    match segments.as_slice() {
        ["repos", owner, repo, ..] if !owner.is_empty() && !repo.is_empty() => {
            escape_into(&mut escaped, &format!("/repos/{owner}/{repo}"));
            vec![format!("{escaped}/"), format!("{escaped}?"), format!("{escaped}:")]
        }
        _ => {
            escape_into(&mut escaped, canonical.trim_end_matches('/'));
            vec![format!("{escaped}?"), format!("{escaped}:")]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_queries_vary_by_api_version_and_never_hold_tokens() {
        assert_eq!(sorted_query(Some("per_page=10&a=1")), "a=1&per_page=10");
        assert_eq!(sorted_query(None), "");
        assert_eq!(sorted_query(Some("&b=2&&a=1")), "a=1&b=2");
        assert_eq!(sorted_query(Some("page=2")), "page=2");
        let key = proxy_key("/repos/o/r/pulls", "state=open", "application/vnd.github+json", "", "0123456789abcdef");
        assert_eq!(
            key,
            "github:GET:/repos/o/r/pulls?state=open:accept=application/vnd.github+json:scope=0123456789abcdef"
        );
        let versioned = proxy_key(
            "/repos/o/r/pulls",
            "state=open",
            "application/vnd.github+json",
            "2022-11-28",
            "0123456789abcdef",
        );
        assert_ne!(key, versioned);
        assert!(versioned.contains(":api=2022-11-28:"));
    }

    #[test]
    fn a_part_cannot_pose_as_the_next_one() {
        // The collision the audit found: one Accept against Accept + API version.
        let glued = proxy_key("/repos/o/r", "", "application/json:api=2022-11-28", "", "s");
        let apart = proxy_key("/repos/o/r", "", "application/json", "2022-11-28", "s");
        assert_ne!(glued, apart);
        // Nor can a query or a path swallow the Accept or the scope.
        assert_ne!(proxy_key("/x", "a=1:accept=b", "", "", "s"), proxy_key("/x", "a=1", "b", "", "s"));
        assert_ne!(proxy_key("/x:scope=t", "", "", "", "s"), proxy_key("/x", "", "", "", "t"));
        assert_ne!(proxy_key("/a%3Ab", "", "", "", "s"), proxy_key("/a:b", "", "", "", "s"));
        let key = proxy_key("/x:y", "q=a:b", "text/plain:x", "v:1", "s");
        assert_eq!(key.matches(':').count(), 5, "github, GET, accept, api, scope: {key}");
        let (identity, scope) = split_scope(&key).unwrap();
        assert_eq!(scope, "s");
        assert!(key.starts_with(&scopes_prefix(identity)));
    }

    #[test]
    fn paths_are_keyed_as_github_reads_them() {
        let plain = proxy_key("/repos/o/r/issues", "", "", "", "s");
        for spelling in ["/repos/O/R/issues", "/repos/o/%72/issues", "/repos/%4F/r/issues", "/repos/o/R/%69ssues"] {
            assert_eq!(proxy_key(spelling, "", "", "", "s"), plain, "{spelling}");
        }
        assert_eq!(canonical_path("/users/OctoCat"), "/users/octocat");
        assert_eq!(canonical_path("/orgs/GitHub/repos"), "/orgs/github/repos");
        assert_eq!(
            canonical_path("/repos/o/r/contents/README.md"),
            "/repos/o/r/contents/README.md",
            "file names keep their case"
        );
        assert_eq!(canonical_path("/search/a%2fb%3a"), "/search/a%2Fb%3A", "reserved escapes stay escaped");
        assert_eq!(canonical_path("/repos/o/r%"), "/repos/o/r%");
        assert_eq!(canonical_path("/repos/o/r%4"), "/repos/o/r%4");
        assert_eq!(canonical_path("/repos/o/ü"), "/repos/o/ü");
    }

    /// The rule as first written, segment by segment: the one-pass form must
    /// key every path the same.
    fn canonical_by_segments(path: &str) -> String {
        let mut segments: Vec<String> = decode_unreserved(path).split('/').map(str::to_owned).collect();
        let folded = match segments.get(1).map(String::as_str) {
            Some("repos") => 2..4,
            Some("users" | "orgs") => 2..3,
            _ => 0..0,
        };
        for index in folded {
            if let Some(segment) = segments.get_mut(index) {
                *segment = segment.to_ascii_lowercase();
            }
        }
        segments.join("/")
    }

    #[test]
    fn the_one_pass_path_and_escapes_match_the_rule_on_many_spellings() {
        let parts = ["", "repos", "users", "orgs", "Repos", "O", "r", "ÜBER", "%4F", "%2f", "%", "a:b", "x%3a", "%72"];
        let mut checked = 0;
        for a in parts {
            for b in parts {
                for c in parts {
                    for d in ["", "/issues", "/Contents/READ%4DE.md", "/"] {
                        let path = format!("/{a}/{b}/{c}{d}");
                        assert_eq!(canonical_path(&path), canonical_by_segments(&path), "{path}");
                        let mut escaped = String::new();
                        escape_into(&mut escaped, &path);
                        assert_eq!(escaped, path.replace('%', "%25").replace(':', "%3A"), "{path}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, parts.len().pow(3) * 4);
    }

    #[test]
    fn writes_invalidate_the_whole_repository_however_spelled_but_not_its_namesakes() {
        let repo_key = proxy_key("/repos/o/r", "", "", "", "anonymous");
        let issue_key = proxy_key("/repos/o/r/issues", "state=open", "", "", "anonymous");
        let other_key = proxy_key("/repos/o/rx", "", "", "", "anonymous");
        for written in ["/repos/o/r/issues/1/comments", "/repos/O/R/issues", "/repos/o/%72/labels"] {
            let prefixes = invalidation_prefixes(written);
            assert!(prefixes.iter().any(|p| repo_key.starts_with(p.as_str())), "{written}");
            assert!(prefixes.iter().any(|p| issue_key.starts_with(p.as_str())), "{written}");
            assert!(!prefixes.iter().any(|p| other_key.starts_with(p.as_str())), "{written}");
        }
        let user_key = proxy_key("/user", "", "", "", "s");
        assert!(invalidation_prefixes("/user").iter().any(|p| user_key.starts_with(p.as_str())));
        assert!(!invalidation_prefixes("/user/repos").iter().any(|p| user_key.starts_with(p.as_str())));
        // Never wider than a repository: `/repos` or `/` name no repository.
        for wide in ["/repos", "/repos/o", "/", ""] {
            let prefixes = invalidation_prefixes(wide);
            assert!(!prefixes.iter().any(|p| repo_key.starts_with(p.as_str())), "{wide}: {prefixes:?}");
        }
    }

    #[test]
    fn graphql_reads_share_the_graphql_prefix() {
        let key = RequestKey::graphql("abc", "application/json").scoped("s");
        assert_eq!(key, "github:POST:/graphql?q=abc:accept=application/json:scope=s");
    }
}
