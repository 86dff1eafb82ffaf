//! [`ApiError`]: every way an HTTP handler can fail, as the client sees it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A handler failure. Each variant maps to a status and a JSON body
/// `{"error": code, "message": text}`; [`ApiError::Internal`] keeps its cause for the log
/// and tells the client nothing more than that the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid access token is required")]
    Unauthorized,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("your role may not use this")]
    Forbidden,
    #[error("this device was revoked or its user disabled: erase its local data")]
    DeviceRevoked,
    #[error("too many failed sign-ins: try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(std::borrow::Cow<'static, str>),
    #[error("this route does not answer that method")]
    MethodNotAllowed,
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::DeviceRevoked => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden => "forbidden",
            ApiError::DeviceRevoked => "device_revoked",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Conflict(_) => "conflict",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ApiError {
    pub fn not_found(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
        ApiError::NotFound(message.into())
    }
}

impl From<crate::admin::AdminError> for ApiError {
    fn from(e: crate::admin::AdminError) -> ApiError {
        use crate::admin::AdminError;
        match e {
            AdminError::Invalid(m) => ApiError::BadRequest(m),
            AdminError::NotFound(m) => ApiError::not_found(m),
            AdminError::Conflict(m) => ApiError::Conflict(m),
            AdminError::Forbidden(_) => ApiError::Forbidden,
            AdminError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            // `{:#}` prints the context chain. Store errors carry only context we wrote,
            // never bound values, so no patient data reaches the log.
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        match &self {
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}
