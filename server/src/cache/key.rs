//! Cache keys: `operation:arg1:arg2:k1=v1:k2=v2`, keyword arguments sorted, so
//! the same logical request gets the same key on every peer (the scheme of the
//! original Python cache, kept so keys match across the fleet).

use std::fmt;

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

/// Builds a key from an operation, positional arguments and keyword arguments.
pub fn build_key<A, K, V>(operation: &str, args: &[A], kwargs: &[(K, V)]) -> String
where
    A: fmt::Display,
    K: AsRef<str>,
    V: fmt::Display,
{
    let mut key = String::from(operation);
    for arg in args {
        key.push(':');
        key.push_str(&arg.to_string());
    }
    let mut sorted: Vec<(&str, String)> = kwargs.iter().map(|(k, v)| (k.as_ref(), v.to_string())).collect();
    sorted.sort();
    for (k, v) in sorted {
        key.push(':');
        key.push_str(k);
        key.push('=');
        key.push_str(&v);
    }
    key
}

/// The operation a key belongs to: everything before the first `:`.
pub fn operation_of(key: &str) -> &str {
    key.split(':').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn joins_operation_args_and_sorted_kwargs() {
        let key = build_key("list_workflow_runs", &["octo/repo"], &[("status", "queued"), ("per_page", "50")]);
        assert_eq!(key, "list_workflow_runs:octo/repo:per_page=50:status=queued");
        assert_eq!(build_key::<&str, &str, &str>("get_auth_status", &[], &[]), "get_auth_status");
    }

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

    proptest! {
        #[test]
        fn keyword_order_never_changes_the_key(
            op in "[a-z_]{1,12}",
            args in proptest::collection::vec("[a-z0-9/]{0,8}", 0..4),
            kwargs in proptest::collection::btree_map("[a-z]{1,6}", "[a-z0-9]{0,6}", 0..6),
        ) {
            let forward: Vec<(String, String)> = kwargs.clone().into_iter().collect();
            let mut backward = forward.clone();
            backward.reverse();
            let a = build_key(&op, &args, &forward);
            let b = build_key(&op, &args, &backward);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(operation_of(&a), op.as_str());
            prop_assert_eq!(a.matches('=').count(), kwargs.len());
        }
    }
}
