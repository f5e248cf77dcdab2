//! The core's error: a kind (which the HTTP layers turn into a status code,
//! see `app::model::ErrorKind::status`) and the words a person reads. Nothing
//! here knows about HTTP.

use app::api::Failure;
use app::model::ErrorKind;

use crate::cache::CacheError;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CoreError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CoreError {
        CoreError { kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> CoreError {
        CoreError::new(ErrorKind::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> CoreError {
        CoreError::new(ErrorKind::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> CoreError {
        CoreError::new(ErrorKind::Forbidden, message)
    }

    pub fn too_large(message: impl Into<String>) -> CoreError {
        CoreError::new(ErrorKind::TooLarge, message)
    }
}

impl From<CacheError> for CoreError {
    fn from(error: CacheError) -> Self {
        let kind = match &error {
            CacheError::Key(_) | CacheError::NotJson(_) | CacheError::Barred(_) => ErrorKind::Invalid,
            CacheError::TooLarge { .. } | CacheError::NoRoomApart { .. } => ErrorKind::TooLarge,
            CacheError::Store(_) | CacheError::Task(_) => {
                tracing::error!(%error, "cache store write failed");
                ErrorKind::Internal
            }
        };
        CoreError::new(kind, error.to_string())
    }
}

impl From<CoreError> for Failure {
    fn from(error: CoreError) -> Self {
        Failure { kind: error.kind, message: error.message }
    }
}
