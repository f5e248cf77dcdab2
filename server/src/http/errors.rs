//! `ApiError`: a core error on its way out of the JSON API, as
//! `{"error": "..."}` with the status of its kind (`ErrorKind::status`, the
//! one mapping of kinds to codes).

use app::model::ErrorBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::core::error::CoreError;

#[derive(Debug)]
pub struct ApiError(pub CoreError);

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.kind.status()).expect("every kind has a valid status");
        (status, Json(ErrorBody { error: self.0.message })).into_response()
    }
}
