//! Stewardship: the loop between what people ask and what the catalog says. LLM-drafted
//! descriptions ([`Stewardship::enrich`]) and synonyms the gaps report suggests
//! ([`suggest`]) wait in one review queue of proposals; a steward accepts (possibly edited)
//! or rejects each, and an accepted one becomes a new catalog version attributed to them.
//! Nothing here publishes on its own. Also here: the insights over the question log
//! ([`insights`]).

pub mod insights;
pub mod suggest;

use std::collections::HashSet;
use std::sync::Arc;

use crate::answer::Answerer;
use crate::answer::enrich;
use crate::catalog::{Catalog, InvalidCatalog};
use crate::clock::now_ms;
use crate::retrieval::Searcher;
use crate::settings::Settings;
pub use crate::store::ProposalRecord;
use crate::store::Store;
use crate::versions::{LoadError, Versions};

/// Proposal kinds.
pub const DESCRIPTION: &str = "description";
pub const SYNONYM: &str = "synonym";
/// Proposal statuses.
pub const PENDING: &str = "pending";
pub const ACCEPTED: &str = "accepted";
pub const REJECTED: &str = "rejected";

/// The property that says where an accepted description came from.
pub const DESCRIPTION_SOURCE: &str = "description_source";

/// Datasets one enrichment run drafts at most.
pub const MAX_ENRICH_DATASETS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum StewardshipError {
    #[error("no proposal `{0}`")]
    NotFound(String),
    #[error("proposal `{0}` was already reviewed")]
    NotPending(String),
    #[error("no LLM is configured (llm.base_url and llm.model)")]
    NoLlm,
    #[error("no catalog is loaded")]
    NoCatalog,
    #[error("the edited text is empty or longer than {0} characters")]
    BadText(usize),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Longest text a steward may accept.
pub const MAX_TEXT_CHARS: usize = 2000;

/// What an enrichment run did.
#[derive(Debug)]
pub struct EnrichReport {
    pub requested: usize,
    pub drafted: usize,
    pub discarded: usize,
    pub failed: usize,
    pub proposals: Vec<ProposalRecord>,
}

pub struct Stewardship {
    store: Arc<dyn Store>,
    versions: Arc<Versions>,
    search: Arc<Searcher>,
    answerer: Arc<Answerer>,
    settings: Arc<Settings>,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

impl Stewardship {
    pub fn new(
        store: Arc<dyn Store>,
        versions: Arc<Versions>,
        search: Arc<Searcher>,
        answerer: Arc<Answerer>,
        settings: Arc<Settings>,
    ) -> Stewardship {
        Stewardship {
            store,
            versions,
            search,
            answerer,
            settings,
        }
    }

    /// Asks the LLM to draft descriptions for what lacks one (in `only`, or the whole
    /// catalog), at most `limit` datasets, skipping entries that already have a pending draft.
    /// The drafts are stored as pending proposals.
    pub async fn enrich(
        &self,
        only: &[String],
        limit: usize,
    ) -> Result<EnrichReport, StewardshipError> {
        let llm = self.answerer.llm().ok_or(StewardshipError::NoLlm)?;
        let snapshot = self.search.snapshot().ok_or(StewardshipError::NoCatalog)?;
        let pending = self
            .store
            .proposals(Some(PENDING), Some(DESCRIPTION), 100_000)
            .await?;
        let skip: HashSet<(String, Option<String>)> = pending
            .iter()
            .map(|p| {
                (
                    p.dataset.to_lowercase(),
                    p.column_name.as_ref().map(|c| c.to_lowercase()),
                )
            })
            .collect();
        let catalog = &snapshot.catalog;
        let datasets = enrich::candidates(catalog, only, limit.min(MAX_ENRICH_DATASETS), &skip);
        let drafted = enrich::draft(
            llm,
            catalog,
            &datasets,
            &self.settings.catalog_language,
            &skip,
        )
        .await;
        let now = now_ms();
        let proposals: Vec<ProposalRecord> = drafted
            .drafts
            .iter()
            .map(|d| ProposalRecord {
                id: new_id("d"),
                kind: DESCRIPTION.into(),
                dataset: d.dataset.clone(),
                column_name: d.column.clone(),
                term: None,
                text: d.text.clone(),
                current_text: None,
                confidence: d.confidence,
                model: Some(d.model.clone()),
                evidence: None,
                status: PENDING.into(),
                created_at_ms: now,
                reviewed_by: None,
                reviewed_at_ms: None,
                version: None,
            })
            .collect();
        self.store.put_proposals(&proposals).await?;
        tracing::info!(
            datasets = datasets.len(),
            requested = drafted.requested,
            drafted = proposals.len(),
            discarded = drafted.discarded,
            failed = drafted.failed,
            "drafted descriptions for review"
        );
        Ok(EnrichReport {
            requested: drafted.requested,
            drafted: proposals.len(),
            discarded: drafted.discarded,
            failed: drafted.failed,
            proposals,
        })
    }

    /// The review queue (after refreshing the synonym suggestions), newest first.
    pub async fn proposals(
        &self,
        status: Option<&str>,
        kind: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ProposalRecord>, StewardshipError> {
        self.refresh_suggestions().await?;
        Ok(self.store.proposals(status, kind, limit).await?)
    }

    /// Pending proposals by kind: (descriptions, synonyms).
    pub async fn pending_counts(&self) -> Result<(usize, usize), StewardshipError> {
        let pending = self.store.proposals(Some(PENDING), None, 100_000).await?;
        let descriptions = pending.iter().filter(|p| p.kind == DESCRIPTION).count();
        Ok((descriptions, pending.len() - descriptions))
    }

    /// Stores the synonyms the question log suggests now (each once: a rejected one is not
    /// suggested again). Returns how many are new.
    pub async fn refresh_suggestions(&self) -> Result<usize, StewardshipError> {
        if self.search.snapshot().is_none() {
            return Ok(0);
        }
        let days = suggest::WINDOW_DAYS;
        let since = now_ms() - days * 86_400_000;
        let questions = self.store.questions_since(since, 100_000).await?;
        let votes = self.store.votes_since(since).await?;
        let search = self.search.clone();
        let low = self.settings.low_confidence;
        let found = self
            .search
            .with_snapshot(move |snap| {
                Ok(suggest::synonyms(snap, &questions, &votes, low, |text| {
                    search.understand(text)
                }))
            })
            .await
            .map_err(|e| StewardshipError::Internal(anyhow::anyhow!("{e}")))?;
        let now = now_ms();
        let proposals: Vec<ProposalRecord> =
            found.into_iter().map(|s| s.into_record(now)).collect();
        Ok(self.store.put_proposals(&proposals).await?)
    }

    /// Accepts a pending proposal (with `text` instead of the proposed one, if given): a new
    /// catalog version, attributed to `reviewer`.
    pub async fn accept(
        &self,
        reviewer: &str,
        id: &str,
        text: Option<String>,
    ) -> Result<(ProposalRecord, i64), StewardshipError> {
        let proposal = self.pending(id).await?;
        let text = match text.map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")) {
            Some(t) if t.is_empty() || t.chars().count() > MAX_TEXT_CHARS => {
                return Err(StewardshipError::BadText(MAX_TEXT_CHARS));
            }
            Some(t) => t,
            None => proposal.text.clone(),
        };
        let edited = text != proposal.text;
        let subject = match &proposal.column_name {
            Some(c) => format!("{} {}.{c}", proposal.kind, proposal.dataset),
            None => format!("{} {}", proposal.kind, proposal.dataset),
        };
        let change = proposal.clone();
        let who = reviewer.to_string();
        let accepted = text.clone();
        let outcome = self
            .versions
            .edit(reviewer, "review", subject, move |live| {
                apply(live, &change, &accepted, &who, edited)
            })
            .await?;
        let version = outcome.version.map(|v| v.version).unwrap_or_default();
        let reviewed = self
            .store
            .review_proposal(id, ACCEPTED, reviewer, Some(&text), Some(version))
            .await?;
        if !reviewed {
            return Err(StewardshipError::NotPending(id.to_string()));
        }
        let record = self
            .store
            .proposal(id)
            .await?
            .ok_or_else(|| StewardshipError::NotFound(id.to_string()))?;
        Ok((record, version))
    }

    /// Rejects a pending proposal (kept, so it is not proposed again).
    pub async fn reject(
        &self,
        reviewer: &str,
        id: &str,
    ) -> Result<ProposalRecord, StewardshipError> {
        self.pending(id).await?;
        if !self
            .store
            .review_proposal(id, REJECTED, reviewer, None, None)
            .await?
        {
            return Err(StewardshipError::NotPending(id.to_string()));
        }
        self.store
            .proposal(id)
            .await?
            .ok_or_else(|| StewardshipError::NotFound(id.to_string()))
    }

    async fn pending(&self, id: &str) -> Result<ProposalRecord, StewardshipError> {
        let proposal = self
            .store
            .proposal(id)
            .await?
            .ok_or_else(|| StewardshipError::NotFound(id.to_string()))?;
        if proposal.status != PENDING {
            return Err(StewardshipError::NotPending(id.to_string()));
        }
        Ok(proposal)
    }

    /// The insights of the last `days` days.
    pub async fn insights(&self, days: i64) -> Result<insights::Insights, StewardshipError> {
        let to = now_ms();
        let from = insights::day_start(to) - (days - 1) * 86_400_000;
        let questions = self.store.questions_since(from, 1_000_000).await?;
        let votes = self.store.votes_since(from).await?;
        let feedback = self.store.feedback_counts().await?;
        let gaps = crate::governance::gaps::report(
            &questions,
            &feedback,
            self.settings.low_confidence,
            10,
        );
        let (descriptions, synonyms) = self.pending_counts().await?;
        Ok(insights::compute(
            insights::Window { from, to, days },
            &questions,
            &votes,
            gaps,
            self.settings.low_confidence,
            (descriptions, synonyms),
        ))
    }
}

/// The live catalog with `proposal` applied as `text`, attributed to `reviewer`.
fn apply(
    live: &Catalog,
    proposal: &ProposalRecord,
    text: &str,
    reviewer: &str,
    edited: bool,
) -> Result<Catalog, LoadError> {
    let mut catalog = live.clone();
    let gone =
        |what: String| LoadError::Invalid(InvalidCatalog::one("the review queue", 0, None, what));
    let Some(dataset) = catalog
        .datasets
        .iter_mut()
        .find(|d| d.name.eq_ignore_ascii_case(&proposal.dataset))
    else {
        return Err(gone(format!(
            "dataset `{}` is no longer in the catalog",
            proposal.dataset
        )));
    };
    match proposal.kind.as_str() {
        DESCRIPTION => {
            let model = proposal.model.as_deref().unwrap_or("an LLM");
            let how = if edited {
                "edited and reviewed"
            } else {
                "reviewed"
            };
            let source = format!("AI-drafted ({model}), {how} by {reviewer}");
            match &proposal.column_name {
                None => {
                    dataset.description = Some(text.to_string());
                    dataset.properties.insert(DESCRIPTION_SOURCE.into(), source);
                }
                Some(name) => {
                    let Some(column) = dataset
                        .columns
                        .iter_mut()
                        .find(|c| c.name.eq_ignore_ascii_case(name))
                    else {
                        return Err(gone(format!(
                            "column `{}.{name}` is no longer in the catalog",
                            proposal.dataset
                        )));
                    };
                    column.description = Some(text.to_string());
                    column.properties.insert(DESCRIPTION_SOURCE.into(), source);
                }
            }
        }
        SYNONYM => match &proposal.term {
            Some(term) => {
                let Some(t) = catalog
                    .terms
                    .iter_mut()
                    .find(|t| t.name.eq_ignore_ascii_case(term))
                else {
                    return Err(gone(format!("glossary term `{term}` no longer exists")));
                };
                if !t.phrases().any(|p| p.eq_ignore_ascii_case(text)) {
                    t.synonyms.push(text.to_string());
                }
            }
            None => {
                if !dataset.tags.iter().any(|t| t.eq_ignore_ascii_case(text)) {
                    dataset.tags.push(text.to_string());
                }
            }
        },
        other => return Err(gone(format!("unknown proposal kind `{other}`"))),
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Column, Dataset, Term};

    fn record(kind: &str, column: Option<&str>, term: Option<&str>, text: &str) -> ProposalRecord {
        ProposalRecord {
            id: "p".into(),
            kind: kind.into(),
            dataset: "crm.customers".into(),
            column_name: column.map(str::to_string),
            term: term.map(str::to_string),
            text: text.into(),
            current_text: None,
            confidence: 0.6,
            model: Some("m".into()),
            evidence: None,
            status: PENDING.into(),
            created_at_ms: 0,
            reviewed_by: None,
            reviewed_at_ms: None,
            version: None,
        }
    }

    fn live() -> Catalog {
        let mut d = Dataset::new("crm.customers");
        d.columns.push(Column {
            name: "email".into(),
            ..Column::default()
        });
        Catalog {
            datasets: vec![d],
            terms: vec![Term {
                name: "client".into(),
                links: vec!["crm.customers".into()],
                ..Term::default()
            }],
        }
    }

    #[test]
    fn an_accepted_draft_says_who_reviewed_it() {
        let out = apply(
            &live(),
            &record(DESCRIPTION, Some("email"), None, "Contact e-mail"),
            "Contact e-mail address",
            "ana",
            true,
        )
        .unwrap();
        let column = &out.datasets[0].columns[0];
        assert_eq!(
            column.description.as_deref(),
            Some("Contact e-mail address")
        );
        assert_eq!(
            column.properties[DESCRIPTION_SOURCE],
            "AI-drafted (m), edited and reviewed by ana"
        );
    }

    #[test]
    fn synonyms_go_to_their_term_or_become_tags() {
        let out = apply(
            &live(),
            &record(SYNONYM, None, Some("client"), "freguês"),
            "freguês",
            "ana",
            false,
        )
        .unwrap();
        assert_eq!(out.terms[0].synonyms, ["freguês"]);
        let out = apply(
            &live(),
            &record(SYNONYM, None, None, "clientela"),
            "clientela",
            "ana",
            false,
        )
        .unwrap();
        assert_eq!(out.datasets[0].tags, ["clientela"]);
        let gone = apply(
            &live(),
            &record(DESCRIPTION, Some("phone"), None, "x"),
            "x",
            "ana",
            false,
        );
        assert!(matches!(gone, Err(LoadError::Invalid(_))));
    }
}
