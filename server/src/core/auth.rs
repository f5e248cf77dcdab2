//! Who may change the cache: with `PEERCACHE_ADMIN_TOKEN` set (required off
//! loopback), only a caller presenting it, compared in constant time; without
//! one (a loopback listener), anyone who reaches the listener.

use app::model::ErrorKind;
use subtle::ConstantTimeEq;

use crate::core::error::CoreError;

/// Passes when no token is set, or when `presented` is it.
pub fn check_token(expected: Option<&str>, presented: &str) -> Result<(), CoreError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(CoreError::new(
            ErrorKind::Unauthorized,
            "changing the cache needs this server's admin token (PEERCACHE_ADMIN_TOKEN): \
             send Authorization: Bearer <token>",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_lets_everyone_in_a_token_only_its_holder() {
        assert!(check_token(None, "").is_ok());
        assert!(check_token(Some("s3cret"), "s3cret").is_ok());
        let refused = check_token(Some("s3cret"), "s3cre").unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Unauthorized);
        assert!(check_token(Some("s3cret"), "").is_err());
    }
}
