//! The one JSON error contract of the HTTP API: `{"error":{"code","message","details"?}}`.
//!
//! Every error a client can see is an [`ApiError`]. Its [`ErrorCode`] fixes the HTTP status, so
//! the mapping lives in exactly one table; every body is built by [`ErrorBody::new`]; and the
//! domain errors (loads, searches, answers) map to codes here, one function each, beside the
//! table. Internal causes are logged, never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use super::views::InvalidCatalogView;
use crate::answer::AskError;
use crate::retrieval::SearchError;
use crate::stewardship::StewardshipError;
use crate::versions::{LoadError, RegisterError};

/// Stable machine-readable error codes. Clients match on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
    InvalidQuery,
    InvalidJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    UriTooLong,
    Unauthorized,
    Forbidden,
    NotFound,
    RouteNotFound,
    MethodNotAllowed,
    Conflict,
    InvalidCatalog,
    DeclassificationRefused,
    SourceFailed,
    RateLimited,
    Timeout,
    Unavailable,
    InsufficientStorage,
    Internal,
}

impl ErrorCode {
    /// The single table mapping each code to its string and HTTP status.
    pub fn parts(self) -> (&'static str, StatusCode) {
        use ErrorCode::*;
        match self {
            BadRequest => ("bad_request", StatusCode::BAD_REQUEST),
            InvalidQuery => ("invalid_query", StatusCode::BAD_REQUEST),
            InvalidJson => ("invalid_json", StatusCode::BAD_REQUEST),
            UnsupportedMediaType => ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            PayloadTooLarge => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
            UriTooLong => ("uri_too_long", StatusCode::URI_TOO_LONG),
            Unauthorized => ("unauthorized", StatusCode::UNAUTHORIZED),
            Forbidden => ("forbidden", StatusCode::FORBIDDEN),
            NotFound => ("not_found", StatusCode::NOT_FOUND),
            RouteNotFound => ("route_not_found", StatusCode::NOT_FOUND),
            MethodNotAllowed => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
            Conflict => ("conflict", StatusCode::CONFLICT),
            InvalidCatalog => ("invalid_catalog", StatusCode::UNPROCESSABLE_ENTITY),
            DeclassificationRefused => {
                ("declassification_refused", StatusCode::UNPROCESSABLE_ENTITY)
            }
            SourceFailed => ("source_failed", StatusCode::FAILED_DEPENDENCY),
            RateLimited => ("rate_limited", StatusCode::TOO_MANY_REQUESTS),
            Timeout => ("timeout", StatusCode::SERVICE_UNAVAILABLE),
            Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
            InsufficientStorage => ("insufficient_storage", StatusCode::INSUFFICIENT_STORAGE),
            Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.parts().0
    }

    pub fn status(self) -> StatusCode {
        self.parts().1
    }
}

/// An error as the client sees it, plus (for 5xx) the internal cause, which is only logged.
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<ErrorDetails>,
    pub retry_after_secs: Option<u64>,
    source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            source: None,
        }
    }

    pub fn with_details(mut self, details: ErrorDetails) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// A failure inside the service. The client gets a generic message; the cause is logged.
    pub fn internal(source: anyhow::Error) -> Self {
        ApiError {
            code: ErrorCode::Internal,
            message: "internal error; the details are in the service log".into(),
            details: None,
            retry_after_secs: None,
            source: Some(source),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(e)
    }
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(source) = &self.source {
            write!(f, "\ncaused by: {source:?}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// Structured detail of an error.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ErrorDetails {
    /// Why a catalog was rejected: every problem, with file, line and field.
    InvalidCatalog(InvalidCatalogView),
    /// The datasets a refused load would have declassified.
    Declassified(DeclassifiedView),
    /// Which source failed and how (boxed: it keeps every error small).
    Source(Box<SourceFailureView>),
}

/// A source that could not be read: which, what kind of failure, what failed. Never a
/// connection string or a password.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SourceFailureView {
    /// The source's id (or, for an unregistered crawl, its URL without credentials).
    pub source: String,
    /// `unreachable`, `authentication`, `permission_denied`, `not_found`, `timeout`,
    /// `configuration`, `invalid_source`, `failed`.
    pub kind: String,
    pub message: String,
}

/// The datasets a refused load would have made visible to more callers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeclassifiedView {
    pub declassified: Vec<String>,
}

/// The JSON body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorPayload,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorPayload {
    /// Stable machine-readable code, e.g. `invalid_query`, `not_found`, `invalid_catalog`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Extra structured information (e.g. the list of CSV problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

impl ErrorBody {
    /// The one constructor of error bodies (responses, SSE `error` events, the safety net).
    pub fn new(code: ErrorCode, message: impl Into<String>, details: Option<ErrorDetails>) -> Self {
        ErrorBody {
            error: ErrorPayload {
                code: code.as_str().to_string(),
                message: message.into(),
                details,
            },
        }
    }
}

impl ApiError {
    /// The body this error is sent as.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code, self.message.clone(), self.details.clone())
    }
}

/// A failed load, as the client sees it.
impl From<LoadError> for ApiError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Invalid(invalid) => ApiError::new(
                ErrorCode::InvalidCatalog,
                format!(
                    "the catalog has {} problem(s); nothing was changed",
                    invalid.total_problems
                ),
            )
            .with_details(ErrorDetails::InvalidCatalog(invalid.into())),
            LoadError::Busy => ApiError::new(
                ErrorCode::Conflict,
                "another catalog load is running; retry when it is done",
            ),
            LoadError::NotFound(v) => ApiError::not_found(format!(
                "catalog version {v} does not exist (or was pruned)"
            )),
            LoadError::Declassifies(declassified) => ApiError::new(
                ErrorCode::DeclassificationRefused,
                format!(
                    "the load would make {} dataset(s) visible to callers who cannot see them \
                     now; nothing was changed. Send `allow_declassify=true` to allow it",
                    declassified.len()
                ),
            )
            .with_details(ErrorDetails::Declassified(DeclassifiedView {
                declassified,
            })),
            LoadError::StorageFull(e) => {
                tracing::error!(error = ?e, "no space left for a catalog load");
                ApiError::new(
                    ErrorCode::InsufficientStorage,
                    "no space left to store the catalog; nothing was changed",
                )
            }
            LoadError::Source(failure) => ApiError::new(
                ErrorCode::SourceFailed,
                format!("{failure}; nothing was changed"),
            )
            .with_details(ErrorDetails::Source(Box::new(SourceFailureView {
                source: failure.name,
                kind: failure.kind.as_str().to_string(),
                message: failure.message,
            }))),
            LoadError::SourceInvalid { name, invalid } => ApiError::new(
                ErrorCode::InvalidCatalog,
                format!(
                    "source `{name}` gave a catalog with {} problem(s); nothing was changed",
                    invalid.total_problems
                ),
            )
            .with_details(ErrorDetails::InvalidCatalog(invalid.into())),
            LoadError::UnknownSource(id) => {
                ApiError::not_found(format!("no source `{id}` is registered"))
            }
            LoadError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// A source that was not registered, as the client sees it.
impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Exists(id) => ApiError::new(
                ErrorCode::Conflict,
                format!("a source `{id}` is already registered"),
            ),
            RegisterError::Invalid(message) => ApiError::bad_request(message),
            RegisterError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// A failed search, as the client sees it.
impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::NoCatalog => ApiError::unavailable("no catalog is loaded yet"),
            SearchError::Closed => ApiError::unavailable("the service is shutting down"),
            SearchError::IndexDamaged => {
                ApiError::unavailable("the search index is being repaired; try again in a moment")
            }
            SearchError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// A question that could not be answered at all (never because of the LLM).
impl From<AskError> for ApiError {
    fn from(e: AskError) -> Self {
        match e {
            AskError::Search(e) => e.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(source) = &self.source {
            tracing::error!(error = ?source, code = self.code.as_str(), "request failed");
        }
        let mut builder = HttpResponse::build(self.status_code());
        if self.code == ErrorCode::Unauthorized {
            builder.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            builder.insert_header(("Retry-After", secs.to_string()));
        }
        builder.json(self.body())
    }
}

impl From<StewardshipError> for ApiError {
    fn from(e: StewardshipError) -> ApiError {
        match e {
            StewardshipError::NotFound(_) => ApiError::not_found(e.to_string()),
            StewardshipError::NotPending(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
            StewardshipError::NoLlm => ApiError::unavailable(e.to_string()),
            StewardshipError::NoCatalog => ApiError::unavailable(e.to_string()),
            StewardshipError::BadText(_) => ApiError::bad_request(e.to_string()),
            StewardshipError::Load(load) => load.into(),
            StewardshipError::Internal(e) => ApiError::internal(e),
        }
    }
}
