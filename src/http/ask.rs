//! `POST /v1/ask` and `POST /v1/ask/stream`.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::input::{self, Origin};
use super::sse::{self, StreamEvent};
use super::{AppState, Caller, took_ms};
use crate::answer::{Answer, AnswerMode, AskEvent};
use crate::clock::now_ms;
use crate::governance::QuestionLogEntry;

/// Datasets in an answer by default, and at most.
pub const DEFAULT_ANSWER_DATASETS: usize = 5;
pub const MAX_ANSWER_DATASETS: usize = 20;

#[derive(Debug, Deserialize, ToSchema)]
pub struct AskRequest {
    /// The question, in English or Portuguese (at most `limits.max_question_chars`, 2000
    /// by default).
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub question: String,
    /// Datasets to return (1..=20, default 5).
    #[schema(minimum = 1, maximum = 20)]
    pub limit: Option<usize>,
}

/// The answer, and how long it took.
#[derive(Debug, Serialize, ToSchema)]
pub struct AskResponse {
    #[serde(flatten)]
    pub answer: Answer,
    pub took_ms: f64,
}

/// Validates a request: a non-empty question within the length limit, a sane limit.
fn checked(state: &AppState, request: &AskRequest) -> Result<(String, usize), ApiError> {
    let max = state.settings.limits.max_question_chars;
    let question = input::text(Origin::Body, "question", &request.question, max)?;
    let limit = input::limit(
        Origin::Body,
        request.limit,
        DEFAULT_ANSWER_DATASETS,
        MAX_ANSWER_DATASETS,
    )?;
    Ok((question.to_string(), limit))
}

/// Logs an answered question: its text, the caller's key id, what came first, how sure.
fn log_ask(state: &AppState, question: &str, key_id: Option<String>, answer: &AskResponse) {
    state.governance.log_question(QuestionLogEntry {
        at_ms: now_ms(),
        source: "ask".into(),
        question: question.to_string(),
        question_key: answer.answer.question_key.clone(),
        key_id,
        top_datasets: answer
            .answer
            .datasets
            .iter()
            .take(3)
            .map(|d| d.dataset.clone())
            .collect(),
        confidence: f64::from(answer.answer.confidence),
        mode: match answer.answer.mode {
            AnswerMode::Llm => "llm",
            AnswerMode::Extractive => "extractive",
        }
        .into(),
        latency_ms: answer.took_ms,
    });
}

/// Answers a question with the datasets and columns that hold the data.
#[utoipa::path(
    post,
    path = "/v1/ask",
    request_body = AskRequest,
    responses(
        (status = 200, description = "The answer", body = AskResponse),
        (status = 400, description = "Invalid request", body = super::error::ErrorBody),
        (status = 413, description = "Body too large", body = super::error::ErrorBody),
        (status = 415, description = "Not JSON", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "ask"
)]
pub async fn ask(
    state: web::Data<AppState>,
    caller: Caller,
    request: web::Json<AskRequest>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let (question, limit) = checked(&state, &request)?;
    let answer = state
        .answerer
        .ask(&state.search, &question, &caller.visibility, limit)
        .await?;
    let response = AskResponse {
        answer,
        took_ms: took_ms(started),
    };
    log_ask(&state, &question, caller.key_id, &response);
    Ok(HttpResponse::Ok().json(response))
}

/// The same answer as Server-Sent Events: `datasets` first (`{catalog_version, datasets,
/// language}`), then `token`s (`{text}`), then `done` (the whole `/v1/ask` response; its
/// `answer` is authoritative) or `error` (the error body).
#[utoipa::path(
    post,
    path = "/v1/ask/stream",
    request_body = AskRequest,
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = StreamEvent),
        (status = 400, description = "Invalid request", body = super::error::ErrorBody),
        (status = 413, description = "Body too large", body = super::error::ErrorBody),
        (status = 415, description = "Not JSON", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "ask"
)]
pub async fn ask_stream(
    state: web::Data<AppState>,
    caller: Caller,
    request: web::Json<AskRequest>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let (question, limit) = checked(&state, &request)?;
    if state.search.snapshot().is_none() {
        return Err(ApiError::unavailable("no catalog is loaded yet"));
    }
    let (sender, receiver) = futures::channel::mpsc::channel::<AskEvent>(64);
    let (frames, body) = futures::channel::mpsc::channel::<String>(64);
    let task_state = state.clone();
    crate::telemetry::spawn(async move {
        let mut frames = frames;
        let answering = task_state.answerer.ask_stream(
            &task_state.search,
            &question,
            &caller.visibility,
            limit,
            sender,
        );
        let forwarding = async {
            let mut receiver = receiver;
            let mut frames = frames.clone();
            while let Some(event) = receiver.next().await {
                let frame = match event {
                    AskEvent::Done(answer) => {
                        let response = AskResponse {
                            answer: *answer,
                            took_ms: took_ms(started),
                        };
                        log_ask(&task_state, &question, caller.key_id.clone(), &response);
                        sse::frame("done", &response)
                    }
                    other => sse::event(&other),
                };
                if futures::SinkExt::send(&mut frames, frame).await.is_err() {
                    return;
                }
            }
        };
        let (result, ()) = futures::join!(answering, forwarding);
        if let Err(e) = result {
            let error: ApiError = e.into();
            let _ = futures::SinkExt::send(&mut frames, sse::frame("error", &error.body())).await;
        }
    });
    let body = body.map(|frame| Ok::<_, actix_web::Error>(bytes::Bytes::from(frame)));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
