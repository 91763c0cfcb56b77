//! The stewards' admin API: the review queue of proposals (LLM-drafted descriptions and
//! suggested synonyms), `POST /v1/admin/enrich`, and the insights the admin page charts.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::admin::Admin;
use super::error::ApiError;
use super::input::{self, Origin};
use crate::stewardship;
use crate::stewardship::ProposalRecord;
use crate::stewardship::insights::Insights;

/// Why a synonym is proposed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Evidence {
    /// Failed questions that used the word.
    pub questions: Vec<String>,
    /// Helpful votes for the dataset that followed them.
    pub votes: usize,
}

/// One proposal of the review queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalView {
    pub id: String,
    /// `description` or `synonym`.
    #[schema(pattern = "^(description|synonym)$")]
    pub kind: String,
    pub dataset: String,
    /// The column a description is for.
    pub column: Option<String>,
    /// The glossary term a synonym is for (`null`: a tag of the dataset).
    pub term: Option<String>,
    /// The proposed (or, once accepted, the accepted) text.
    pub text: String,
    /// The text it would replace.
    pub current: Option<String>,
    pub confidence: f64,
    /// The model that drafted a description.
    pub model: Option<String>,
    pub evidence: Option<Evidence>,
    /// `pending`, `accepted` or `rejected`.
    #[schema(pattern = "^(pending|accepted|rejected)$")]
    pub status: String,
    pub created_at_ms: i64,
    pub reviewed_by: Option<String>,
    pub reviewed_at_ms: Option<i64>,
    /// The catalog version an accepted proposal made.
    pub version: Option<i64>,
}

impl From<ProposalRecord> for ProposalView {
    fn from(p: ProposalRecord) -> ProposalView {
        #[derive(Deserialize)]
        struct Stored {
            #[serde(default)]
            questions: Vec<String>,
            #[serde(default)]
            votes: usize,
        }
        let evidence = p
            .evidence
            .as_deref()
            .and_then(|e| serde_json::from_str::<Stored>(e).ok())
            .map(|s| Evidence {
                questions: s.questions,
                votes: s.votes,
            });
        ProposalView {
            id: p.id,
            kind: p.kind,
            dataset: p.dataset,
            column: p.column_name,
            term: p.term,
            text: p.text,
            current: p.current_text,
            confidence: p.confidence,
            model: p.model,
            evidence,
            status: p.status,
            created_at_ms: p.created_at_ms,
            reviewed_by: p.reviewed_by,
            reviewed_at_ms: p.reviewed_at_ms,
            version: p.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProposalsResponse {
    pub proposals: Vec<ProposalView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposalsParams {
    /// `pending` (default), `accepted`, `rejected` or `all`.
    pub status: Option<String>,
    /// `description` or `synonym`; both when absent.
    pub kind: Option<String>,
    /// At most this many (default 200, at most 1000).
    pub limit: Option<usize>,
}

/// The review queue: drafted descriptions and suggested synonyms, newest first. Listing it
/// refreshes the synonyms the question log suggests.
#[utoipa::path(
    get,
    path = "/v1/admin/proposals",
    params(ProposalsParams),
    responses(
        (status = 200, description = "Proposals", body = ProposalsResponse),
        (status = 400, description = "Bad parameter", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn proposals(
    state: web::Data<AppState>,
    _admin: Admin,
    params: web::Query<ProposalsParams>,
) -> Result<HttpResponse, ApiError> {
    let status = match params.status.as_deref() {
        None | Some("pending") => Some(stewardship::PENDING),
        Some("accepted") => Some(stewardship::ACCEPTED),
        Some("rejected") => Some(stewardship::REJECTED),
        Some("all") => None,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown status `{other}` (expected pending, accepted, rejected or all)"
            )));
        }
    };
    let kind = match params.kind.as_deref() {
        None | Some("") | Some("all") => None,
        Some("description") => Some(stewardship::DESCRIPTION),
        Some("synonym") => Some(stewardship::SYNONYM),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown kind `{other}` (expected description or synonym)"
            )));
        }
    };
    let limit = input::limit(Origin::Query, params.limit, 200, 1000)?;
    let found = state.stewardship.proposals(status, kind, limit).await?;
    Ok(HttpResponse::Ok().json(ProposalsResponse {
        proposals: found.into_iter().map(Into::into).collect(),
    }))
}

/// A steward's decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The text to accept instead of the proposed one (an edit).
    pub text: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptResponse {
    pub proposal: ProposalView,
    /// The catalog version the acceptance made.
    pub version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RejectResponse {
    pub proposal: ProposalView,
}

/// Accepts a proposal, possibly edited: a new catalog version, attributed to the admin (a
/// description is marked "AI-drafted, reviewed by …").
#[utoipa::path(
    post,
    path = "/v1/admin/proposals/{id}/accept",
    params(("id" = String, Path, description = "Proposal id")),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "Accepted", body = AcceptResponse),
        (status = 400, description = "Bad text", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such proposal", body = super::error::ErrorBody),
        (status = 409, description = "Already reviewed, or a load is running", body = super::error::ErrorBody),
        (status = 422, description = "It no longer applies (the dataset or column is gone)", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn accept(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    body: Option<web::Json<ReviewRequest>>,
) -> Result<HttpResponse, ApiError> {
    let text = body.and_then(|b| b.into_inner().text);
    let (proposal, version) = state.stewardship.accept(&admin.id, &id, text).await?;
    Ok(HttpResponse::Ok().json(AcceptResponse {
        proposal: proposal.into(),
        version,
    }))
}

/// Rejects a proposal (it is kept, and not proposed again).
#[utoipa::path(
    post,
    path = "/v1/admin/proposals/{id}/reject",
    params(("id" = String, Path, description = "Proposal id")),
    responses(
        (status = 200, description = "Rejected", body = RejectResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such proposal", body = super::error::ErrorBody),
        (status = 409, description = "Already reviewed", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn reject(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let proposal = state.stewardship.reject(&admin.id, &id).await?;
    Ok(HttpResponse::Ok().json(RejectResponse {
        proposal: proposal.into(),
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrichRequest {
    /// Datasets to draft for (default: every dataset but the restricted ones).
    #[serde(default)]
    pub datasets: Vec<String>,
    /// At most this many datasets (default 20, at most 200).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrichResponse {
    /// Datasets and columns asked for.
    pub requested: usize,
    /// Drafts stored for review.
    pub drafted: usize,
    /// Drafts the checks threw away (unknown target, out of bounds, naming another dataset).
    pub discarded: usize,
    /// LLM requests that failed or replied with something unreadable.
    pub failed: usize,
    pub proposals: Vec<ProposalView>,
}

/// Asks the configured LLM to draft descriptions for datasets and columns that have none.
/// The drafts wait in the review queue: nothing is published until a steward accepts it.
#[utoipa::path(
    post,
    path = "/v1/admin/enrich",
    request_body = EnrichRequest,
    responses(
        (status = 200, description = "Drafted", body = EnrichResponse),
        (status = 400, description = "Bad body", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 503, description = "No LLM configured, or no catalog", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn enrich(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Option<web::Json<EnrichRequest>>,
) -> Result<HttpResponse, ApiError> {
    let request = body.map(web::Json::into_inner).unwrap_or_default();
    let limit = input::limit(
        Origin::Body,
        request.limit,
        20,
        stewardship::MAX_ENRICH_DATASETS,
    )?;
    if request.datasets.len() > stewardship::MAX_ENRICH_DATASETS {
        return Err(ApiError::bad_request(format!(
            "at most {} datasets",
            stewardship::MAX_ENRICH_DATASETS
        )));
    }
    let report = state.stewardship.enrich(&request.datasets, limit).await?;
    Ok(HttpResponse::Ok().json(EnrichResponse {
        requested: report.requested,
        drafted: report.drafted,
        discarded: report.discarded,
        failed: report.failed,
        proposals: report.proposals.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InsightsParams {
    /// Days looked at, today included (default 30, at most 365).
    pub days: Option<u64>,
}

/// Analytics over the question log: questions per day by mode, shares with no visible result
/// or low confidence, latency, votes, top questions and datasets, the gaps groups, and the
/// review queue's size.
#[utoipa::path(
    get,
    path = "/v1/admin/insights",
    params(InsightsParams),
    responses(
        (status = 200, description = "Insights", body = Insights),
        (status = 400, description = "Bad parameter", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn insights(
    state: web::Data<AppState>,
    _admin: Admin,
    params: web::Query<InsightsParams>,
) -> Result<HttpResponse, ApiError> {
    let days = input::within(Origin::Query, "days", params.days.unwrap_or(30), 1..=365)?;
    let insights: Insights = state.stewardship.insights(days as i64).await?;
    Ok(HttpResponse::Ok().json(insights))
}
