//! The search service over the live snapshot: understands the query, embeds it, ranks off the
//! async runtime (bounded by permits), with the feedback votes as a signal. `/v1/search`,
//! `/v1/ask`, MCP and `descoberta eval` all search through a [`Searcher`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use super::cascade::Cascade;
use super::snapshot::{Live, Snapshot};
use super::translate::Dictionary;
use super::visibility::Visibility;
use super::{
    QueryPlan, Ranked, RetrievalConfig, Scope, Signals, WordMatches, rank_matched, understand_with,
};
use crate::embed::{Embedder, SimilarityScale, TextKind};
use crate::metrics::Metrics;

/// Net helpful votes: by similar question (the query plan's key), then by dataset name
/// (lowercase). Kept up to date by governance; read here as a ranking signal.
pub type Votes = HashMap<String, HashMap<String, i64>>;

/// A question in the other language whose plain words reach the catalog as typed in more
/// than this share is embedded as one in the catalog's language (see
/// [`Searcher::is_foreign`]).
const FOREIGN_TYPED_SHARE: f32 = 0.5;

/// One search counted in `searching` while it lives.
struct Running<'a> {
    searching: &'a AtomicUsize,
    /// The searches running when it started, itself included.
    count: usize,
}

impl Running<'_> {
    fn enter(searching: &AtomicUsize) -> Running<'_> {
        let count = searching.fetch_add(1, Ordering::Relaxed) + 1;
        Running { searching, count }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.searching.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Who asks and what they will see: the parts of a ranking's [`Scope`] that belong to the
/// request.
#[derive(Clone)]
struct Asked {
    visibility: Visibility,
    depth: usize,
    within: Option<Arc<HashSet<u32>>>,
    /// Net helpful votes for similar questions (dataset ordinal, votes).
    feedback: Vec<(u32, i64)>,
}

impl Asked {
    fn scope<'a>(&'a self, config: &'a RetrievalConfig) -> Scope<'a> {
        Scope {
            visibility: &self.visibility,
            config,
            depth: self.depth,
            within: self.within.as_deref(),
        }
    }
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("no catalog is loaded")]
    NoCatalog,
    /// The search queue is shut down (the service is stopping).
    #[error("the search queue is closed")]
    Closed,
    /// The index of the live version is damaged; it is being rebuilt.
    #[error("the index is damaged")]
    IndexDamaged,
    #[error(transparent)]
    Internal(anyhow::Error),
}

pub struct Searcher {
    live: Arc<Live>,
    embedder: Option<Arc<dyn Embedder>>,
    permits: Semaphore,
    /// Rankings computing at once: two per core (one waiting for its turn on the core while
    /// the other runs). More only share the cores, each one slower and evicting the others'
    /// index data from the caches; in turn, first come first served, the tail is shorter.
    /// 1M columns, 16 clients over wrk on 2 cores, alternated runs: p99 26.2 / 26.5 ms and
    /// 926 / 861 req/s with 4 at once, 33.0 / 35.8 ms and 1019 / 946 req/s with 64.
    cores: Semaphore,
    /// The cores, and the searches running: a new question's words are matched beside its
    /// embedding only while a core would otherwise sit idle ([`Searcher::search_in`]).
    core_count: usize,
    searching: AtomicUsize,
    /// Which new questions read fast are read again in full (`e5_questions = "cascade"`).
    cascade: Option<Cascade>,
    config: RetrievalConfig,
    votes: Arc<ArcSwap<Votes>>,
    dictionary: Arc<Dictionary>,
    metrics: Arc<Metrics>,
}

impl Searcher {
    pub fn new(
        live: Arc<Live>,
        embedder: Option<Arc<dyn Embedder>>,
        config: RetrievalConfig,
        max_concurrent: usize,
        votes: Arc<ArcSwap<Votes>>,
        dictionary: Arc<Dictionary>,
        metrics: Arc<Metrics>,
    ) -> Searcher {
        let core_count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cascade = embedder
            .as_ref()
            .and_then(|e| e.reread_share())
            .map(Cascade::new);
        Searcher {
            live,
            embedder,
            permits: Semaphore::new(max_concurrent.max(1)),
            cores: Semaphore::new(2 * core_count),
            core_count,
            searching: AtomicUsize::new(0),
            cascade,
            config,
            votes,
            dictionary,
            metrics,
        }
    }

    /// How `text` is understood (with the bilingual tables).
    pub fn understand(&self, text: &str) -> QueryPlan {
        understand_with(text, &self.dictionary)
    }

    /// The live snapshot, if any catalog is loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.live.load_full()
    }

    /// Whether semantic retrieval is on.
    pub fn has_embedder(&self) -> bool {
        self.embedder.is_some()
    }

    /// Whether questions in the catalog's language go through the fast question encoder.
    pub fn fast_questions(&self) -> bool {
        self.embedder.as_ref().is_some_and(|e| e.fast_questions())
    }

    /// Net helpful votes (dataset ordinal, votes) for questions similar to `plan`.
    fn feedback_for(&self, snapshot: &Snapshot, plan: &QueryPlan) -> Vec<(u32, i64)> {
        let all = self.votes.load();
        let Some(votes) = all.get(&plan.key()) else {
            return Vec::new();
        };
        votes
            .iter()
            .filter_map(|(name, net)| Some((snapshot.ordinal(name)?, *net)))
            .collect()
    }

    /// Whether the question's words are in another language than the catalog's: it is
    /// written in the other language, and most of its plain words do not reach the catalog
    /// as typed. A Portuguese sentence around the catalog's English names ("onde estão os
    /// dados de client da atlas, com the unique number?") is embedded as the catalog's
    /// language, by e5 alone. Measured with `descoberta eval` on the 1M-column benchmark's
    /// catalog and questions (139 of its 400 of that form): R@5 94.0 when every question
    /// written in Portuguese went through the companion, 95.2 with this rule (as before the
    /// companion); the Portuguese dev sets are unchanged (all their questions stay foreign).
    fn is_foreign(&self, snapshot: &Snapshot, plan: &QueryPlan) -> bool {
        if plan.language == self.config.catalog_language {
            return false;
        }
        match super::typed_share(snapshot, plan, self.config.catalog_language) {
            Ok(share) => share <= FOREIGN_TYPED_SHARE,
            Err(e) => {
                tracing::warn!(error = ?e, "reading the catalog's vocabulary failed");
                true
            }
        }
    }

    /// The query's vector, when the live snapshot has a semantic index of this model, and how
    /// the question was embedded (in the catalog's language or through the companion).
    /// `in_full`: a question in the catalog's language is read by the full model even where
    /// such questions are read fast (the cascade's second reading).
    async fn query_vector(
        &self,
        snapshot: &Snapshot,
        plan: &QueryPlan,
        in_full: bool,
    ) -> Option<(Vec<f32>, TextKind)> {
        let embedder = self.embedder.as_ref()?;
        let semantic = snapshot.semantic()?;
        if embedder.model_id() != semantic.model_id {
            return None;
        }
        let kind = if self.is_foreign(snapshot, plan) {
            TextKind::ForeignQuery
        } else if in_full {
            TextKind::FullQuery
        } else {
            TextKind::Query
        };
        let wait = self.config.question_timeout;
        let embedding = embedder.embed(vec![plan.semantic_text()], kind);
        match tokio::time::timeout(wait, embedding).await {
            Ok(Ok(mut vectors)) => vectors.pop().map(|v| (v, kind)),
            Ok(Err(e)) => {
                tracing::warn!(error = ?e, "query embedding failed; lexical only");
                None
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = wait.as_millis() as u64,
                    "query embedding timed out; lexical only"
                );
                None
            }
        }
    }

    /// Where the similarities of a question embedded as `kind` lie, as the ranking reads
    /// them (`None` without an embedder).
    pub fn question_scale(&self, kind: TextKind) -> Option<SimilarityScale> {
        self.embedder.as_ref().map(|e| e.scale_for(kind))
    }

    /// `text`'s vector as a search embeds it, and how (a question in the catalog's language
    /// or in another): for measuring similarity scales (`descoberta eval --negatives`).
    pub async fn embed_question(
        &self,
        snapshot: &Snapshot,
        text: &str,
    ) -> Option<(Vec<f32>, TextKind)> {
        let plan = self.understand(text);
        self.query_vector(snapshot, &plan, false).await
    }

    /// Embeds `questions` as a search would (their meaningful words; through the companion
    /// when in another language than the catalog's), one after another on one thread, so that
    /// the model's memo holds them: a restarted service answers the questions asked most
    /// at the speed of a repeated one. Returns how many were embedded. Stops at the first
    /// question that gets no vector: the live version has no semantic index of this model
    /// (none yet, or a new version is still embedding), or the model failed (a remote
    /// endpoint that is down would fail the rest too, each after its timeout).
    pub async fn warm(&self, questions: &[String]) -> usize {
        let mut embedded = 0;
        for question in questions {
            let Some(snapshot) = self.snapshot() else {
                break;
            };
            let plan = self.understand(question);
            if self.query_vector(&snapshot, &plan, false).await.is_none() {
                break;
            }
            embedded += 1;
        }
        embedded
    }

    /// Ranks datasets for `text` off the async runtime, bounded by the search permits.
    /// `depth`: how many of the top datasets the caller will show (their matching columns
    /// are computed).
    pub async fn search(
        &self,
        text: &str,
        visibility: &Visibility,
        depth: usize,
    ) -> Result<(Arc<Snapshot>, Ranked), SearchError> {
        self.search_in(text, visibility, depth, None).await
    }

    /// [`Searcher::search`] among the visible datasets of one domain (as the caller sees the
    /// domain names: [`Snapshot::domains`]).
    pub async fn search_in(
        &self,
        text: &str,
        visibility: &Visibility,
        depth: usize,
        domain: Option<&str>,
    ) -> Result<(Arc<Snapshot>, Ranked), SearchError> {
        let snapshot = self.snapshot().ok_or(SearchError::NoCatalog)?;
        let within: Option<HashSet<u32>> =
            domain.map(|d| snapshot.in_domain(d, visibility).into_iter().collect());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SearchError::Closed)?;
        let plan = self.understand(text);
        let timer = self.metrics.retrieval_duration.start_timer();
        let asked = Asked {
            visibility: visibility.clone(),
            depth,
            within: within.map(Arc::new),
            feedback: self.feedback_for(&snapshot, &plan),
        };
        // With the cascade, a question asked before is read as it was then (fast, or in full),
        // by whoever may see the same datasets (a decision follows from what they see).
        let cascade = self.cascade.as_ref().map(|c| {
            let key = format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{text}",
                snapshot.version,
                visibility.cache_key(),
                domain.unwrap_or_default()
            );
            let earlier = c.decided(&key);
            (c, key, earlier)
        });
        let in_full = matches!(cascade, Some((_, _, Some(true))));
        let searching = Running::enter(&self.searching);
        // A question the memo (or no model) answers at once is ranked in one task. One the
        // model must embed is matched by its words meanwhile, on another core, when there is
        // one to spare: a new question's search then takes the longer of the two, not their
        // sum. With every core busy the overlap gains nothing and costs a task switch
        // (1M columns, 16 clients, new questions: 8% fewer searches a second with `fast`).
        let spare = searching.count * 2 <= self.core_count;
        let (words, query) = self
            .read_and_match(&snapshot, &plan, &asked, in_full, spare)
            .await?;
        let read_fast = matches!(query, Some((_, TextKind::Query)));
        let mut ranked = self
            .rank_words(&snapshot, plan, words, query, &asked)
            .await?;
        // A new question read fast may be read again in full. Its words are matched again
        // then, beside the full reading (cheaper for the questions kept fast than a copy of
        // every question's matches).
        if let Some((cascade, key, None)) = cascade
            && read_fast
        {
            let again = cascade.decide(key, ranked.sureness);
            let reading = if again { "full" } else { "fast" };
            self.metrics
                .cascade_decisions
                .with_label_values(&[reading])
                .inc();
            if again {
                let plan = ranked.plan.clone();
                let (words, query) = self
                    .read_and_match(&snapshot, &plan, &asked, true, spare)
                    .await?;
                // Without the full reading (an error, a timeout), the fast ranking stands.
                if query.is_some() {
                    ranked = self
                        .rank_words(&snapshot, plan, words, query, &asked)
                        .await?;
                }
            }
        }
        timer.observe_duration();
        Ok((snapshot, ranked))
    }

    /// The question's vector (read in full when `in_full`), and its word matches when they
    /// were matched while it was embedded (`spare`: a core is free for that).
    async fn read_and_match(
        &self,
        snapshot: &Arc<Snapshot>,
        plan: &QueryPlan,
        asked: &Asked,
        in_full: bool,
        spare: bool,
    ) -> Result<(Option<WordMatches>, Option<(Vec<f32>, TextKind)>), SearchError> {
        let mut question = std::pin::pin!(self.query_vector(snapshot, plan, in_full));
        Ok(match futures::poll!(question.as_mut()) {
            std::task::Poll::Ready(query) => (None, query),
            std::task::Poll::Pending if !spare => (None, question.await),
            std::task::Poll::Pending => {
                let (snap, plan, asked) = (snapshot.clone(), plan.clone(), asked.clone());
                let config = self.config.clone();
                let words = self.guarded(snapshot.clone(), move || {
                    super::match_words(&snap, &plan, asked.scope(&config))
                });
                let (words, query) = tokio::join!(words, question);
                (Some(words?), query)
            }
        })
    }

    /// Ranks `plan` with its word matches (`words`, or matched here) and its vector.
    async fn rank_words(
        &self,
        snapshot: &Arc<Snapshot>,
        plan: QueryPlan,
        words: Option<WordMatches>,
        query: Option<(Vec<f32>, TextKind)>,
        asked: &Asked,
    ) -> Result<Ranked, SearchError> {
        let mut config = self.config.clone();
        // A question's vector may lie in another space than the catalog's own scale
        // (through the companion, or read by the fast question encoder).
        if let (Some((_, kind)), Some(embedder)) = (&query, &self.embedder) {
            config.query_scale = Some(embedder.scale_for(*kind));
        }
        let query_vector = query.map(|(v, _)| v);
        let (snap, asked) = (snapshot.clone(), asked.clone());
        self.guarded(snapshot.clone(), move || {
            let scope = asked.scope(&config);
            let words = match words {
                Some(words) => words,
                None => super::match_words(&snap, &plan, scope)?,
            };
            let semantic = snap.semantic();
            let signals = Signals {
                semantic: semantic.as_deref().zip(query_vector.as_deref()),
                feedback: &asked.feedback,
            };
            rank_matched(&snap, plan, words, signals, scope)
        })
        .await
    }

    /// Runs blocking work against the live snapshot off the async runtime.
    pub async fn with_snapshot<T, F>(&self, work: F) -> Result<T, SearchError>
    where
        T: Send + 'static,
        F: FnOnce(&Snapshot) -> anyhow::Result<T> + Send + 'static,
    {
        let snapshot = self.snapshot().ok_or(SearchError::NoCatalog)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SearchError::Closed)?;
        let snap = snapshot.clone();
        self.guarded(snapshot, move || work(&snap)).await
    }

    /// Runs work over `snapshot`'s indexes on the blocking pool, two per core at a time. A
    /// panic in there means a damaged index (Tantivy panics on some corrupt bytes): the
    /// snapshot is marked unhealthy (readiness fails, the version is rebuilt) and the caller
    /// gets [`SearchError::IndexDamaged`].
    async fn guarded<T, F>(&self, snapshot: Arc<Snapshot>, work: F) -> Result<T, SearchError>
    where
        T: Send + 'static,
        F: FnOnce() -> anyhow::Result<T> + Send + 'static,
    {
        let _core = self
            .cores
            .acquire()
            .await
            .map_err(|_| SearchError::Closed)?;
        let outcome = crate::telemetry::blocking(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
        })
        .await
        .map_err(|e| SearchError::Internal(anyhow::anyhow!("search task failed: {e}")))?;
        match outcome {
            Ok(result) => result.map_err(SearchError::Internal),
            Err(_) => {
                tracing::error!(
                    version = snapshot.version,
                    "a search panicked: the index is damaged; it will be rebuilt"
                );
                snapshot.mark_unhealthy();
                Err(SearchError::IndexDamaged)
            }
        }
    }
}
