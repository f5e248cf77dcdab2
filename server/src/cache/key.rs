//! Cache keys: `operation:arg1:arg2:k1=v1:k2=v2` (the scheme of the original
//! Python cache, kept so keys match across the fleet): what a valid key is,
//! and the operation it belongs to, which picks its TTL family and its row in
//! the per-operation statistics.

/// Longest key accepted anywhere (HTTP API, peers).
pub const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the cache key is empty")]
    Empty,
    #[error("the cache key is {0} bytes long; the limit is {MAX_KEY_BYTES}")]
    TooLong(usize),
    #[error("the cache key contains a control character")]
    ControlCharacter,
}

/// Checks a ready-made key.
pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong(key.len()));
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacter);
    }
    Ok(())
}

/// The GitHub proxy's namespace: keys that start with it are GitHub's answers,
/// written only by the proxy from an upstream response.
pub const GITHUB_NAMESPACE: &str = "github:";

/// Whether `key` holds a GitHub answer (see [`GITHUB_NAMESPACE`]).
pub fn is_github_key(key: &str) -> bool {
    key.starts_with(GITHUB_NAMESPACE)
}

/// Whether `key` holds a GitHub answer to an anonymous request (the scope,
/// the key's last part, is `anonymous`; see `github::key`).
pub fn is_anonymous_github_key(key: &str) -> bool {
    is_github_key(key) && key.ends_with(":scope=anonymous")
}

/// The API path of a GitHub answer's key (`github:GET:/repos/o/r?…:accept=…`
/// → `/repos/o/r?…:accept=…`, whose path part ends at `?` or `:`).
pub fn github_path(key: &str) -> Option<&str> {
    key.strip_prefix(GITHUB_NAMESPACE)?.split_once(':').map(|(_, path)| path)
}

/// The operation a key belongs to: everything before the first `:`.
pub fn operation_of(key: &str) -> &str {
    key.split(':').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_is_the_first_segment() {
        assert_eq!(operation_of("list_repos:octo:per_page=10"), "list_repos");
        assert_eq!(operation_of("plain"), "plain");
    }

    #[test]
    fn rejects_empty_long_and_control_keys() {
        assert_eq!(validate_key(""), Err(KeyError::Empty));
        assert_eq!(validate_key(&"k".repeat(1025)), Err(KeyError::TooLong(1025)));
        assert!(validate_key(&"k".repeat(1024)).is_ok());
        assert_eq!(validate_key("a\nb"), Err(KeyError::ControlCharacter));
    }
}
