//! `POST /v1/ask` and `POST /v1/ask/stream`.

use actix_web::{HttpResponse, web};
use bytes::Bytes;
use futures::StreamExt;

use super::{AppState, Caller};
use crate::answer::{
    AskError, AskEvent, AskRequest, AskResponse, DEFAULT_ANSWER_DATASETS, MAX_ANSWER_DATASETS,
};
use crate::error::{ApiError, ErrorCode};

impl From<AskError> for ApiError {
    fn from(e: AskError) -> Self {
        match e {
            AskError::Search(e) => e.into(),
        }
    }
}

/// Validates a request: a non-empty question within the length limit, a sane limit.
fn checked(state: &AppState, request: &AskRequest) -> Result<(String, usize), ApiError> {
    let max = state.engine.settings().limits.max_question_chars;
    let question = request.question.trim();
    if question.is_empty() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "`question` must not be empty",
        ));
    }
    if question.chars().count() > max {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("`question` is longer than {max} characters"),
        ));
    }
    let limit = match request.limit {
        None => DEFAULT_ANSWER_DATASETS,
        Some(l) if (1..=MAX_ANSWER_DATASETS).contains(&l) => l,
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("`limit` must be between 1 and {MAX_ANSWER_DATASETS}"),
            ));
        }
    };
    Ok((question.to_string(), limit))
}

/// Answers a question with the datasets and columns that hold the data.
#[utoipa::path(
    post,
    path = "/v1/ask",
    request_body = AskRequest,
    responses(
        (status = 200, description = "The answer", body = AskResponse),
        (status = 400, description = "Invalid request", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = crate::error::ErrorBody),
    ),
    tag = "ask"
)]
pub async fn ask(
    state: web::Data<AppState>,
    caller: Caller,
    request: web::Json<AskRequest>,
) -> Result<HttpResponse, ApiError> {
    let (question, limit) = checked(&state, &request)?;
    let response = state
        .answerer
        .ask(
            &state.engine,
            &question,
            &caller.visibility,
            limit,
            caller.key_id.clone(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// The same answer as Server-Sent Events: `datasets` (the retrieved datasets), then `token`
/// events (`{"text"}`), then `done` (the whole `/v1/ask` response; its `answer` is
/// authoritative), or `error`.
/// One server-sent event of `/v1/ask/stream`, as a client's SSE parser sees it: `datasets`
/// first (`{catalog_version, datasets, language}`), then `token`s (`{text}`), then `done` (the
/// full `AskResponse`) or `error` (the error body). `data` is that JSON, as text.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StreamEvent {
    #[schema(pattern = "^(datasets|token|done|error)$")]
    pub event: String,
    pub data: String,
}

#[utoipa::path(
    post,
    path = "/v1/ask/stream",
    request_body = AskRequest,
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Invalid request", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = crate::error::ErrorBody),
    ),
    tag = "ask"
)]
pub async fn ask_stream(
    state: web::Data<AppState>,
    caller: Caller,
    request: web::Json<AskRequest>,
) -> Result<HttpResponse, ApiError> {
    let (question, limit) = checked(&state, &request)?;
    if state.engine.snapshot().is_none() {
        return Err(ApiError::unavailable("no catalog is loaded yet"));
    }
    let (sender, receiver) = futures::channel::mpsc::channel::<AskEvent>(64);
    let task_state = state.clone();
    tokio::spawn(async move {
        let mut errors = sender.clone();
        let result = task_state
            .answerer
            .ask_stream(
                &task_state.engine,
                &question,
                &caller.visibility,
                limit,
                caller.key_id.clone(),
                sender,
            )
            .await;
        if let Err(e) = result {
            let error: ApiError = e.into();
            let body = serde_json::json!({"error": {"code": error.code.as_str(), "message": error.message}});
            let _ = futures::SinkExt::send(&mut errors, AskEvent::Error(body)).await;
        }
    });
    let body = receiver.map(|event| Ok::<_, actix_web::Error>(Bytes::from(event.to_sse())));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
