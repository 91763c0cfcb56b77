//! `/v1/ask`: retrieval, then an answer that names datasets and columns.
//!
//! With an LLM configured, the answer is composed by the model from the retrieved entries only
//! (prompt templates in `prompts/`), and every name it gives is checked against those entries
//! (grounding). Without an LLM, or when the call fails in any way, the answer is extractive:
//! deterministic text built from the same entries. The caller never gets a 5xx because of the
//! LLM.

pub mod enrich;
pub mod extractive;
pub mod grounding;
pub mod llm;
pub mod prompt;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::metrics::Metrics;
use crate::retrieval::present::{SearchHit, present_hits};
use crate::retrieval::{Language, SearchError, Searcher, Snapshot, Visibility};
use crate::settings::Settings;
use grounding::{AllowedNames, AnswerExtractor, WordGate, ground, parse_reply};
use llm::{LlmClient, LlmError};
use prompt::{BuiltPrompt, Prompts};

/// Datasets in an answer by default, and at most.
pub const DEFAULT_ANSWER_DATASETS: usize = 5;
pub const MAX_ANSWER_DATASETS: usize = 20;
/// How much of a malformed LLM reply the debug log shows.
const MALFORMED_LOGGED_CHARS: usize = 500;
/// Retrieved entries offered to the LLM (within the token budget).
const CONTEXT_DATASETS: usize = 8;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerColumn {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerDataset {
    pub dataset: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub location: Option<String>,
    /// The columns that matter for the question.
    pub columns: Vec<AnswerColumn>,
    pub score: f32,
    /// One line: why this dataset answers the question.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// Composed by the LLM from the retrieved entries.
    Llm,
    /// Composed deterministically from the retrieved entries.
    Extractive,
}

/// An answer: the text, the datasets it names, and how it was made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Answer {
    pub answer: String,
    pub datasets: Vec<AnswerDataset>,
    pub mode: AnswerMode,
    /// `en` or `pt`: the language of the question, and of the answer.
    pub language: String,
    pub catalog_version: i64,
    /// Why the answer is extractive although an LLM is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Served from the answer cache.
    pub cached: bool,
    /// Retrieval confidence (for the question log).
    #[serde(skip)]
    pub confidence: f32,
    /// The key of similar questions (for the question log).
    #[serde(skip)]
    pub question_key: String,
}

/// What an answer stream yields, in order: `Datasets`, then `Token`s, then `Done`.
#[derive(Debug, Clone)]
pub enum AskEvent {
    /// First: the retrieved datasets.
    Datasets {
        datasets: Vec<AnswerDataset>,
        language: Language,
        catalog_version: i64,
    },
    /// Then: answer text, piece by piece.
    Token(String),
    /// Last: the whole answer, exactly as [`Answerer::ask`] returns it; its `answer` is
    /// authoritative.
    Done(Box<Answer>),
}

/// Why an ask could not be answered at all (never because of the LLM).
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error(transparent)]
    Search(#[from] SearchError),
}

pub struct Answerer {
    llm: Option<LlmClient>,
    prompts: Prompts,
    cache: moka::sync::Cache<String, Arc<Answer>>,
    context_tokens: usize,
    steward: Option<String>,
    metrics: Arc<Metrics>,
}

/// What retrieval produced for one question.
struct Retrieved {
    snapshot: Arc<Snapshot>,
    steward: Option<String>,
    confidence: f32,
    question_key: String,
    visibility: Visibility,
    language: Language,
    /// Top hits (context size), with their ordinals.
    hits: Vec<(u32, SearchHit)>,
    limit: usize,
}

impl Retrieved {
    fn hit_refs(&self) -> Vec<&SearchHit> {
        self.hits.iter().map(|(_, h)| h).take(self.limit).collect()
    }

    /// How to join the datasets the answer names (the first three).
    fn join_sentences(&self) -> Vec<String> {
        let named: Vec<u32> = self
            .hits
            .iter()
            .take(self.limit.min(3))
            .map(|(o, _)| *o)
            .collect();
        extractive::join_sentences(&self.snapshot, &self.visibility, &named, self.language)
    }

    fn extractive_datasets(&self) -> Vec<AnswerDataset> {
        self.hits
            .iter()
            .take(self.limit)
            .map(|(_, hit)| AnswerDataset {
                dataset: hit.dataset.clone(),
                description: hit.description.clone(),
                owner: hit.owner.clone(),
                location: hit.location.clone(),
                columns: hit
                    .columns
                    .iter()
                    .map(|c| AnswerColumn {
                        name: c.name.clone(),
                        description: c.description.clone(),
                    })
                    .collect(),
                score: hit.score,
                reason: extractive::reason(hit, self.language),
            })
            .collect()
    }

    fn extractive(&self, question: &str, warning: Option<String>) -> Answer {
        Answer {
            answer: extractive::compose(
                &self.hit_refs(),
                question,
                self.language,
                self.steward.as_deref(),
                &self.join_sentences(),
            ),
            datasets: self.extractive_datasets(),
            mode: AnswerMode::Extractive,
            language: self.language.code().into(),
            catalog_version: self.snapshot.version,
            warning,
            cached: false,
            confidence: self.confidence,
            question_key: self.question_key.clone(),
        }
    }
}

impl Answerer {
    /// The configured LLM, if any.
    pub fn llm(&self) -> Option<&LlmClient> {
        self.llm.as_ref()
    }

    pub fn new(settings: &Settings, metrics: Arc<Metrics>) -> anyhow::Result<Answerer> {
        let llm = LlmClient::from_settings(&settings.llm)?;
        let prompts = Prompts::load(&settings.prompts_dir)?;
        if let Some(llm) = &llm {
            tracing::info!(model = llm.model(), "LLM answers on");
        } else {
            tracing::info!("no LLM configured: extractive answers");
        }
        Ok(Answerer {
            llm,
            prompts,
            cache: moka::sync::Cache::builder()
                .max_capacity(settings.cache.max_entries)
                .time_to_live(Duration::from_secs(settings.cache.ttl_secs))
                .build(),
            context_tokens: settings.llm.context_tokens,
            steward: settings.access.steward_contact.clone(),
            metrics,
        })
    }

    fn model_key(&self) -> &str {
        self.llm.as_ref().map_or("extractive", |l| l.model())
    }

    fn cache_key(
        &self,
        question: &str,
        version: i64,
        visibility: &Visibility,
        limit: usize,
    ) -> String {
        let normalized = question
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        format!(
            "{version}\u{1}{}\u{1}{}\u{1}{limit}\u{1}{normalized}",
            self.model_key(),
            visibility.cache_key()
        )
    }

    async fn retrieve(
        &self,
        searcher: &Searcher,
        question: &str,
        visibility: &Visibility,
        limit: usize,
    ) -> Result<Retrieved, AskError> {
        let take = limit.max(CONTEXT_DATASETS);
        let (snapshot, ranked) = searcher.search(question, visibility, take).await?;
        let top: Vec<_> = ranked.datasets.iter().take(take).cloned().collect();
        let hits = present_hits(&snapshot, &top, &ranked.plan, visibility);
        let ordinals = top.iter().map(|r| r.dataset);
        Ok(Retrieved {
            language: ranked.plan.language,
            hits: ordinals.zip(hits).collect(),
            confidence: ranked.confidence,
            question_key: ranked.plan.key(),
            steward: self.steward.clone(),
            snapshot,
            visibility: visibility.clone(),
            limit,
        })
    }

    fn prompt(&self, retrieved: &Retrieved, question: &str) -> BuiltPrompt {
        let refs: Vec<(u32, &SearchHit)> = retrieved.hits.iter().map(|(o, h)| (*o, h)).collect();
        self.prompts.build(
            &retrieved.snapshot,
            &refs,
            question,
            retrieved.language,
            self.context_tokens,
            &retrieved.visibility,
        )
    }

    fn cached(&self, key: &str) -> Option<Answer> {
        let hit = self.cache.get(key);
        self.metrics
            .ask_cache
            .with_label_values(&[if hit.is_some() { "hit" } else { "miss" }])
            .inc();
        hit.map(|r| Answer {
            cached: true,
            ..(*r).clone()
        })
    }

    fn fallback(&self, retrieved: &Retrieved, question: &str, reason: &str) -> Answer {
        self.metrics
            .answer_fallbacks
            .with_label_values(&[reason])
            .inc();
        let warning = match reason {
            "malformed" => "the LLM reply was not in the expected format; showing the extractive answer".to_string(),
            "ungrounded" => "the LLM answer named entries that are not in the catalog; showing the extractive answer".to_string(),
            other => format!("the LLM was unavailable ({other}); showing the extractive answer"),
        };
        retrieved.extractive(question, Some(warning))
    }

    /// Turns a complete LLM reply into the response, or falls back.
    fn finish_llm(
        &self,
        retrieved: &Retrieved,
        built: &BuiltPrompt,
        question: &str,
        text: &str,
    ) -> Answer {
        let Some(reply) = parse_reply(text) else {
            let shown: String = text.chars().take(MALFORMED_LOGGED_CHARS).collect();
            tracing::debug!(
                reply = %shown,
                chars = text.chars().count(),
                "the LLM reply is not the expected JSON object; falling back"
            );
            return self.fallback(retrieved, question, "malformed");
        };
        let grounded = ground(&reply, &retrieved.snapshot, &built.datasets);
        if grounded.dropped_datasets > 0 {
            self.metrics
                .grounding_drops
                .with_label_values(&["dataset"])
                .inc_by(grounded.dropped_datasets as u64);
        }
        if grounded.dropped_columns > 0 {
            self.metrics
                .grounding_drops
                .with_label_values(&["column"])
                .inc_by(grounded.dropped_columns as u64);
        }
        let allowed = AllowedNames::from_context(&built.context);
        if !allowed.unknown_in(&reply.answer).is_empty() {
            self.metrics
                .grounding_drops
                .with_label_values(&["answer_text"])
                .inc();
            return self.fallback(retrieved, question, "ungrounded");
        }
        let datasets = grounded
            .datasets
            .iter()
            .take(retrieved.limit)
            .filter_map(|g| {
                let dataset = retrieved.snapshot.view(g.dataset, &retrieved.visibility)?;
                let hit = retrieved
                    .hits
                    .iter()
                    .find(|(o, _)| *o == g.dataset)
                    .map(|(_, h)| h);
                Some(AnswerDataset {
                    dataset: dataset.name.clone(),
                    description: dataset.description.clone(),
                    owner: dataset.owner.clone(),
                    location: dataset.location.clone(),
                    columns: g
                        .columns
                        .iter()
                        .filter_map(|&c| dataset.columns.get(c as usize))
                        .map(|c| AnswerColumn {
                            name: c.name.clone(),
                            description: c.description.clone(),
                        })
                        .collect(),
                    score: hit.map_or(0.0, |h| h.score),
                    reason: g.reason.clone().unwrap_or_else(|| {
                        hit.map(|h| extractive::reason(h, retrieved.language))
                            .unwrap_or_default()
                    }),
                })
            })
            .collect();
        Answer {
            answer: reply.answer.trim().to_string(),
            datasets,
            mode: AnswerMode::Llm,
            language: retrieved.language.code().into(),
            catalog_version: retrieved.snapshot.version,
            warning: None,
            cached: false,
            confidence: retrieved.confidence,
            question_key: retrieved.question_key.clone(),
        }
    }

    fn remember(&self, key: String, response: &Answer) {
        if response.warning.is_none() {
            self.cache.insert(key, Arc::new(response.clone()));
        }
    }

    fn observe_llm(&self, started: Instant, outcome: &str) {
        self.metrics
            .llm_requests
            .with_label_values(&[outcome])
            .inc();
        self.metrics
            .llm_duration
            .observe(started.elapsed().as_secs_f64());
    }

    /// Answers a question.
    pub async fn ask(
        &self,
        searcher: &Searcher,
        question: &str,
        visibility: &Visibility,
        limit: usize,
    ) -> Result<Answer, AskError> {
        let retrieved = self.retrieve(searcher, question, visibility, limit).await?;
        let key = self.cache_key(question, retrieved.snapshot.version, visibility, limit);
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let response = match &self.llm {
            Some(llm) if !retrieved.hits.is_empty() => {
                let built = self.prompt(&retrieved, question);
                let call_started = Instant::now();
                match llm.complete(&built.system, &built.user).await {
                    Ok(text) => {
                        self.observe_llm(call_started, "ok");
                        self.finish_llm(&retrieved, &built, question, &text)
                    }
                    Err(e) => {
                        self.observe_llm(call_started, e.kind());
                        self.fallback(&retrieved, question, e.kind())
                    }
                }
            }
            _ => retrieved.extractive(question, None),
        };
        self.remember(key, &response);
        Ok(response)
    }

    /// Answers a question as a stream of events: datasets, tokens, done. Stops early when
    /// the receiver is gone.
    pub async fn ask_stream(
        &self,
        searcher: &Searcher,
        question: &str,
        visibility: &Visibility,
        limit: usize,
        events: futures::channel::mpsc::Sender<AskEvent>,
    ) -> Result<(), AskError> {
        let mut events = events;
        let retrieved = self.retrieve(searcher, question, visibility, limit).await?;
        let first = AskEvent::Datasets {
            datasets: retrieved.extractive_datasets(),
            language: retrieved.language,
            catalog_version: retrieved.snapshot.version,
        };
        let _ = futures::SinkExt::send(&mut events, first).await;
        let key = self.cache_key(question, retrieved.snapshot.version, visibility, limit);
        let response = if let Some(hit) = self.cached(&key) {
            send_words(&mut events, &hit.answer).await;
            hit
        } else {
            let response = match &self.llm {
                Some(llm) if !retrieved.hits.is_empty() => {
                    self.stream_llm(llm, &retrieved, question, &mut events)
                        .await
                }
                _ => {
                    let response = retrieved.extractive(question, None);
                    send_words(&mut events, &response.answer).await;
                    response
                }
            };
            self.remember(key, &response);
            response
        };
        let _ = futures::SinkExt::send(&mut events, AskEvent::Done(Box::new(response))).await;
        Ok(())
    }

    async fn stream_llm(
        &self,
        llm: &LlmClient,
        retrieved: &Retrieved,
        question: &str,
        events: &mut futures::channel::mpsc::Sender<AskEvent>,
    ) -> Answer {
        let built = self.prompt(retrieved, question);
        let call_started = Instant::now();
        let mut stream = match llm.stream(&built.system, &built.user).await {
            Ok(s) => s,
            Err(e) => {
                self.observe_llm(call_started, e.kind());
                let response = self.fallback(retrieved, question, e.kind());
                send_words(events, &response.answer).await;
                return response;
            }
        };
        let allowed = AllowedNames::from_context(&built.context);
        let mut extractor = AnswerExtractor::default();
        let mut gate = WordGate::new(&allowed);
        let mut failure: Option<LlmError> = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    let text = gate.push(&extractor.push(&chunk));
                    if !text.is_empty() {
                        let _ = futures::SinkExt::send(events, AskEvent::Token(text)).await;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        llm.record_stream_outcome(failure.as_ref().map_or(Ok(()), Err));
        if let Some(e) = failure {
            self.observe_llm(call_started, e.kind());
            return self.fallback(retrieved, question, e.kind());
        }
        self.observe_llm(call_started, "ok");
        let rest = gate.finish();
        if !rest.is_empty() {
            let _ = futures::SinkExt::send(events, AskEvent::Token(rest)).await;
        }
        self.finish_llm(retrieved, &built, question, extractor.raw())
    }
}

/// Sends a finished text as token events, a few words at a time.
async fn send_words(events: &mut futures::channel::mpsc::Sender<AskEvent>, text: &str) {
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    for chunk in words.chunks(4) {
        let piece: String = chunk.concat();
        if futures::SinkExt::send(events, AskEvent::Token(piece))
            .await
            .is_err()
        {
            return;
        }
    }
}
