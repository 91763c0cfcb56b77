//! `GET /v1/search` and `GET /v1/suggest`.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;
use super::input::{self, Origin};
use super::{AppState, Caller, took_ms};
use crate::clock::now_ms;
use crate::governance::QuestionLogEntry;
use crate::retrieval::Ranked;
use crate::retrieval::present::{SearchResponse, SuggestResponse, suggestions};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// What to look for: words, a question, or a dataset/column name (at most
    /// `limits.max_query_chars`, 512 by default).
    #[param(min_length = 1, max_length = 512, pattern = r"\S")]
    pub q: String,
    /// Results per page (1..=100, default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// Results to skip (0..=1000, default 0).
    #[param(minimum = 0, maximum = 1000)]
    pub offset: Option<usize>,
}

/// Ranked datasets for a query, with matching columns and highlighted snippets.
#[utoipa::path(
    get,
    path = "/v1/search",
    params(SearchParams),
    responses(
        (status = 200, description = "Ranked datasets", body = SearchResponse),
        (status = 400, description = "Invalid query", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "search"
)]
pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let limits = &state.settings.limits;
    let q = input::text(Origin::Query, "q", &params.q, limits.max_query_chars)?;
    let limit = input::limit(Origin::Query, params.limit, 10, limits.max_limit)?;
    let offset = input::within(
        Origin::Query,
        "offset",
        params.offset.unwrap_or(0),
        0..=limits.max_offset,
    )?;
    let (snapshot, ranked) = state
        .search
        .search(q, &caller.visibility, offset + limit)
        .await?;
    let mut response =
        SearchResponse::page(q, &snapshot, &ranked, limit, offset, &caller.visibility);
    // Only first pages are questions; paging through results is not.
    if offset == 0 {
        state.governance.log_question(search_log_entry(
            "search",
            q,
            &ranked,
            &response,
            caller.key_id.clone(),
            took_ms(started),
        ));
    }
    response.took_ms = took_ms(started);
    Ok(HttpResponse::Ok().json(response))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// The text typed so far (at most `limits.max_query_chars`, 512 by default).
    #[param(min_length = 1, max_length = 512, pattern = r"\S")]
    pub q: String,
    /// Suggestions to return (1..=100, default 8).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

/// Typeahead: dataset and column names for a prefix, tolerant of typos.
#[utoipa::path(
    get,
    path = "/v1/suggest",
    params(SuggestParams),
    responses(
        (status = 200, description = "Suggestions", body = SuggestResponse),
        (status = 400, description = "Invalid query", body = super::error::ErrorBody),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "search"
)]
pub async fn suggest(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<SuggestParams>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let limits = &state.settings.limits;
    let q = input::text(Origin::Query, "q", &params.q, limits.max_query_chars)?.to_string();
    let limit = input::limit(Origin::Query, params.limit, 8, limits.max_limit)?;
    let visibility = caller.visibility.clone();
    let query = q.clone();
    let (version, suggestions) = state
        .search
        .with_snapshot(move |snapshot| {
            let suggestions = suggestions(snapshot, &query, &visibility, limit)?;
            Ok((snapshot.version, suggestions))
        })
        .await?;
    Ok(HttpResponse::Ok().json(SuggestResponse {
        query: q,
        suggestions,
        catalog_version: version,
        took_ms: took_ms(started),
    }))
}

/// The question-log entry of a first page of search results (REST and MCP).
pub(crate) fn search_log_entry(
    source: &str,
    question: &str,
    ranked: &Ranked,
    response: &SearchResponse,
    key_id: Option<String>,
    latency_ms: f64,
) -> QuestionLogEntry {
    QuestionLogEntry {
        at_ms: now_ms(),
        source: source.into(),
        question: question.to_string(),
        question_key: ranked.plan.key(),
        key_id,
        top_datasets: response
            .results
            .iter()
            .take(3)
            .map(|r| r.dataset.clone())
            .collect(),
        confidence: f64::from(ranked.confidence),
        mode: "search".into(),
        latency_ms,
    }
}
