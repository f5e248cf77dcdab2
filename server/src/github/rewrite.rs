//! Rewriting GitHub's own URLs to the base the client used. GitHub writes
//! absolute URLs into bodies (`"url": "https://api.github.com/repos/o/r"`) and
//! `Link` headers (`<https://api.github.com/repositories/1/issues?page=2>;
//! rel="next"`); a client that follows them must come back through
//! peercache, or pages 2 and on bypass the cache (Octokit), or the client
//! refuses them (PyGithub asserts every URL is under its base URL).
//!
//! Only URLs that *are* a JSON string — the upstream base right after the
//! opening quote, followed by `/`, `?`, `{` or the closing quote — are
//! rewritten, in place, byte for byte otherwise: text that merely mentions
//! the API (an issue body) is left as it is, and so are upload URLs, which
//! live under another base.

use bytes::Bytes;
use memchr::memmem;

/// What ends a base URL inside a URL: a path, a query, a URI template, or
/// the string itself.
fn ends_base(next: Option<&u8>) -> bool {
    matches!(next, None | Some(b'/' | b'?' | b'{' | b'"' | b'>'))
}

/// `body` with every JSON string that starts with `from` starting with `to`
/// instead; `None` when there is none.
pub fn rewrite_body(body: &[u8], from: &str, to: &str) -> Option<Bytes> {
    if from == to {
        return None;
    }
    let needle = format!("\"{from}");
    let finder = memmem::Finder::new(needle.as_bytes());
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for at in finder.find_iter(body) {
        let end = at + needle.len();
        if !ends_base(body.get(end)) {
            continue;
        }
        let out = out.get_or_insert_with(|| Vec::with_capacity(body.len() + 256));
        out.extend_from_slice(&body[copied..at]);
        out.push(b'"');
        out.extend_from_slice(to.as_bytes());
        copied = end;
    }
    let mut out = out?;
    out.extend_from_slice(&body[copied..]);
    Some(Bytes::from(out))
}

/// A `Link` header value with each `<from…>` made `<to…>`.
pub fn rewrite_link(value: &str, from: &str, to: &str) -> Option<String> {
    if from == to {
        return None;
    }
    let needle = format!("<{from}");
    let mut out = String::with_capacity(value.len() + 64);
    let mut rest = value;
    let mut changed = false;
    while let Some(at) = rest.find(&needle) {
        let end = at + needle.len();
        out.push_str(&rest[..at]);
        if ends_base(rest.as_bytes().get(end)) {
            out.push('<');
            out.push_str(to);
            changed = true;
        } else {
            out.push_str(&needle);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = "https://api.github.com";
    const ME: &str = "http://127.0.0.1:8899/github";

    #[test]
    fn urls_that_are_strings_are_rewritten_text_that_mentions_them_is_not() {
        let body = br#"{"url":"https://api.github.com/repos/o/r","html_url":"https://github.com/o/r","issues_url":"https://api.github.com/repos/o/r/issues{/number}","body":"see https://api.github.com/repos/o/r","root":"https://api.github.com","other":"https://api.github.community/x"}"#;
        let out = rewrite_body(body, UP, ME).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains(r#""url":"http://127.0.0.1:8899/github/repos/o/r""#), "{text}");
        assert!(text.contains(r#""issues_url":"http://127.0.0.1:8899/github/repos/o/r/issues{/number}""#));
        assert!(text.contains(r#""root":"http://127.0.0.1:8899/github""#));
        assert!(text.contains(r#""html_url":"https://github.com/o/r""#), "other hosts untouched");
        assert!(text.contains(r#""body":"see https://api.github.com/repos/o/r""#), "mentions untouched");
        assert!(text.contains(r#""other":"https://api.github.community/x""#), "a longer host is another host");
        assert_eq!(rewrite_body(br#"{"a":1}"#, UP, ME), None);
        assert_eq!(rewrite_body(body, UP, UP), None);
    }

    #[test]
    fn uploads_under_another_base_are_left_alone() {
        let ghes = "https://ghe.example/api/v3";
        let body = br#"{"url":"https://ghe.example/api/v3/repos/o/r/releases/1","upload_url":"https://ghe.example/api/uploads/repos/o/r/releases/1/assets{?name,label}"}"#;
        let text = String::from_utf8(rewrite_body(body, ghes, ME).unwrap().to_vec()).unwrap();
        assert!(text.contains(r#""url":"http://127.0.0.1:8899/github/repos/o/r/releases/1""#));
        assert!(text.contains(r#""upload_url":"https://ghe.example/api/uploads/"#));
    }

    #[test]
    fn link_headers_point_back_at_the_client_base() {
        let link = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=3>; rel="last""#;
        assert_eq!(
            rewrite_link(link, UP, ME).unwrap(),
            r#"<http://127.0.0.1:8899/github/repositories/1/issues?page=2>; rel="next", <http://127.0.0.1:8899/github/repositories/1/issues?page=3>; rel="last""#
        );
        assert_eq!(rewrite_link(r#"<https://example.com/x>; rel="next""#, UP, ME), None);
    }
}
