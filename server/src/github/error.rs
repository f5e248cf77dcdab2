//! Errors of the proxy itself (not GitHub's answers, which are replayed as
//! they came): shaped like GitHub's own, `{"message", "documentation_url"}`,
//! so a client reads them as it reads GitHub's.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

/// Where a proxy error sends the reader: GitHub's REST documentation, as
/// GitHub's own errors do (the message says it is peercache speaking).
pub const DOCUMENTATION_URL: &str = "https://docs.github.com/rest";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProxyError {
    pub status: StatusCode,
    pub message: String,
    pub documentation_url: &'static str,
}

#[derive(Serialize)]
struct GithubErrorBody<'a> {
    message: &'a str,
    documentation_url: &'a str,
}

impl ProxyError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ProxyError {
        ProxyError { status, message: message.into(), documentation_url: DOCUMENTATION_URL }
    }

    /// The same error, pointing at another page of GitHub's documentation.
    pub fn documented(mut self, url: &'static str) -> ProxyError {
        self.documentation_url = url;
        self
    }

    pub fn bad_gateway(message: impl Into<String>) -> ProxyError {
        ProxyError::new(StatusCode::BAD_GATEWAY, message)
    }

    pub fn bad_request(message: impl Into<String>) -> ProxyError {
        ProxyError::new(StatusCode::BAD_REQUEST, message)
    }

    /// The JSON body and status GitHub would send for such an error.
    pub fn to_response(&self) -> Response {
        let body =
            serde_json::to_vec(&GithubErrorBody { message: &self.message, documentation_url: self.documentation_url })
                .expect("an error body always serializes");
        let mut response = Response::new(axum::body::Body::from(body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        response
    }
}
