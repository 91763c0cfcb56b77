//! The business glossary: `GET /v1/glossary` for everyone (links to hidden datasets left
//! out), and the admin edits, each a new catalog version (so a rollback rolls them back).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::admin::{Admin, LoadResponse};
use super::error::ApiError;
use super::{AppState, Caller};
use crate::catalog::{Catalog, InvalidCatalog, Term};
use crate::retrieval::present::GlossaryView;
use crate::versions::LoadError;

/// The terms an edit may hold at most.
const MAX_TERMS: usize = 10_000;

/// A glossary term as written by a steward.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermInput {
    /// The term, e.g. `customer churn` (taken from the path when editing one term).
    #[serde(default)]
    pub name: Option<String>,
    pub definition: Option<String>,
    /// Other ways people say it, in any language: `attrition`, `evasão`.
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// What implements it: `dataset` or `dataset.column`.
    #[serde(default)]
    pub links: Vec<String>,
    pub owner: Option<String>,
}

impl TermInput {
    fn into_term(self, name: Option<&str>) -> Term {
        let clean = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let text = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Term {
            name: name
                .map(str::to_string)
                .or(self.name)
                .unwrap_or_default()
                .trim()
                .to_string(),
            definition: text(self.definition),
            synonyms: clean(self.synonyms),
            links: clean(self.links),
            owner: text(self.owner),
        }
    }
}

/// The whole glossary, replacing the live one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GlossaryInput {
    pub terms: Vec<TermInput>,
}

/// The glossary: every term with its synonyms, and its links to datasets the caller may see.
#[utoipa::path(
    get,
    path = "/v1/glossary",
    responses(
        (status = 200, description = "The glossary", body = GlossaryView),
        (status = 503, description = "No catalog loaded", body = super::error::ErrorBody),
    ),
    tag = "catalog"
)]
pub async fn glossary(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let snapshot = state
        .search
        .snapshot()
        .ok_or_else(|| ApiError::unavailable("no catalog is loaded yet"))?;
    Ok(HttpResponse::Ok().json(GlossaryView::new(&snapshot, &caller.visibility)))
}

/// Replaces the glossary (a new catalog version; the datasets stay).
#[utoipa::path(
    put,
    path = "/v1/admin/glossary",
    request_body = GlossaryInput,
    responses(
        (status = 200, description = "The new version", body = LoadResponse),
        (status = 400, description = "Malformed body", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 409, description = "A load is running", body = super::error::ErrorBody),
        (status = 422, description = "A term is invalid (unknown link, duplicate name)", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn replace(
    state: web::Data<AppState>,
    admin: Admin,
    body: web::Json<GlossaryInput>,
) -> Result<HttpResponse, ApiError> {
    let terms: Vec<Term> = body
        .into_inner()
        .terms
        .into_iter()
        .map(|t| t.into_term(None))
        .collect();
    if terms.len() > MAX_TERMS {
        return Err(ApiError::bad_request(format!("at most {MAX_TERMS} terms")));
    }
    let subject = format!("glossary ({} terms)", terms.len());
    let outcome = state
        .versions
        .edit(&admin.id, "glossary", subject, move |live| {
            Ok(Catalog {
                datasets: live.datasets.clone(),
                terms,
            })
        })
        .await?;
    respond(&state, outcome)
}

/// Adds a term, or replaces the one of that name.
#[utoipa::path(
    put,
    path = "/v1/admin/glossary/terms/{name}",
    params(("name" = String, Path, description = "The term", example = "customer churn")),
    request_body = TermInput,
    responses(
        (status = 200, description = "The new version", body = LoadResponse),
        (status = 400, description = "Malformed body", body = super::error::ErrorBody),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 409, description = "A load is running", body = super::error::ErrorBody),
        (status = 422, description = "The term is invalid (unknown link)", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn put_term(
    state: web::Data<AppState>,
    admin: Admin,
    name: web::Path<String>,
    body: web::Json<TermInput>,
) -> Result<HttpResponse, ApiError> {
    let term = body.into_inner().into_term(Some(name.trim()));
    let subject = format!("term {}", term.name);
    let outcome = state
        .versions
        .edit(&admin.id, "glossary", subject, move |live| {
            let mut catalog = live.clone();
            match catalog
                .terms
                .iter_mut()
                .find(|t| t.name.eq_ignore_ascii_case(&term.name))
            {
                Some(existing) => *existing = term,
                None => catalog.terms.push(term),
            }
            Ok(catalog)
        })
        .await?;
    respond(&state, outcome)
}

/// Removes a term.
#[utoipa::path(
    delete,
    path = "/v1/admin/glossary/terms/{name}",
    params(("name" = String, Path, description = "The term", example = "customer churn")),
    responses(
        (status = 200, description = "The new version", body = LoadResponse),
        (status = 401, description = "No admin token", body = super::error::ErrorBody),
        (status = 403, description = "Wrong admin token", body = super::error::ErrorBody),
        (status = 404, description = "No such term", body = super::error::ErrorBody),
        (status = 409, description = "A load is running", body = super::error::ErrorBody),
    ),
    security(("admin_token" = [])),
    tag = "admin"
)]
pub async fn delete_term(
    state: web::Data<AppState>,
    admin: Admin,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.trim().to_string();
    let known = state
        .search
        .snapshot()
        .is_some_and(|s| s.catalog.term(&name).is_some());
    if !known {
        return Err(ApiError::not_found(format!("no glossary term `{name}`")));
    }
    let subject = format!("term {name} removed");
    let outcome = state
        .versions
        .edit(&admin.id, "glossary", subject, move |live| {
            let mut catalog = live.clone();
            let before = catalog.terms.len();
            catalog
                .terms
                .retain(|t| !t.name.trim().eq_ignore_ascii_case(&name));
            if catalog.terms.len() == before {
                return Err(LoadError::Invalid(InvalidCatalog::one(
                    "the glossary",
                    0,
                    Some("term"),
                    format!("no term `{name}`"),
                )));
            }
            Ok(catalog)
        })
        .await?;
    respond(&state, outcome)
}

fn respond(
    state: &AppState,
    outcome: crate::versions::LoadOutcome,
) -> Result<HttpResponse, ApiError> {
    let current = state.versions.snapshot().map(|s| s.version);
    Ok(HttpResponse::Ok().json(LoadResponse::new(outcome, false, current)))
}
