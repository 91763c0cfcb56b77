//! `POST /v1/feedback`: was a dataset helpful for a question?

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::input::{self, Origin};
use super::{AppState, Caller};
use crate::governance::FeedbackEntry;
use crate::retrieval;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"question": "where is customer churn data?", "dataset": "crm.customer_churn_scores", "helpful": true}))]
pub struct FeedbackRequest {
    /// The question as asked.
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub question: String,
    /// The dataset voted on.
    #[schema(min_length = 1, pattern = r"\S")]
    pub dataset: String,
    pub helpful: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackResponse {
    pub recorded: bool,
}

/// Records a thumbs up or down for a (question, dataset). Helpful votes lift the dataset a
/// little for similar questions; "not helpful" ones show in the gaps report.
#[utoipa::path(
    post,
    path = "/v1/feedback",
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "Recorded", body = FeedbackResponse),
        (status = 400, description = "Invalid request", body = super::error::ErrorBody),
        (status = 404, description = "No such dataset (or not visible to the caller)", body = super::error::ErrorBody),
        (status = 413, description = "Body too large", body = super::error::ErrorBody),
        (status = 415, description = "Not JSON", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "ask"
)]
pub async fn feedback(
    state: web::Data<AppState>,
    caller: Caller,
    request: web::Json<FeedbackRequest>,
) -> Result<HttpResponse, ApiError> {
    let max = state.settings.limits.max_question_chars;
    let question = input::text(Origin::Body, "question", &request.question, max)?;
    let snapshot = state
        .search
        .snapshot()
        .ok_or_else(|| ApiError::unavailable("no catalog is loaded yet"))?;
    // Feedback on a dataset the caller may not see is answered like an unknown dataset.
    let Some((_, dataset)) = snapshot.visible_dataset(request.dataset.trim(), &caller.visibility)
    else {
        return Err(ApiError::not_found(format!(
            "no dataset named `{}`",
            request.dataset.trim()
        )));
    };
    state
        .governance
        .record_feedback(FeedbackEntry {
            question: question.to_string(),
            question_key: retrieval::understand(question).key(),
            dataset: dataset.name.clone(),
            helpful: request.helpful,
            key_id: caller.key_id.clone(),
        })
        .await?;
    Ok(HttpResponse::Created().json(FeedbackResponse { recorded: true }))
}
