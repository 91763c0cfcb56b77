//! Retrieval: from a query to a ranked list of the datasets the caller may see, each with its
//! best-matching columns. `GET /v1/search`, `/v1/suggest`, `/v1/ask`, MCP and `descoberta eval`
//! all go through here. It serves from the in-memory [`Snapshot`] only: never the store.

pub mod cascade;
pub mod glossary;
pub mod highlight;
pub mod present;
pub mod query;
pub mod relations;
pub mod search;
pub mod semantic;
pub mod snapshot;
pub mod translate;
pub mod visibility;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::embed::SemanticIndex;
pub use crate::index::suggest::SuggestHit;
use crate::index::{Boosts, DatasetMatch, LexicalQuery};
use glossary::TermMatch;
pub use query::{Language, QueryPlan, understand, understand_with};
pub use search::{SearchError, Searcher, Votes};
pub use snapshot::{Live, Snapshot};
pub use translate::Dictionary;
pub use visibility::{IndexRedaction, REDACTED, Redactor, Visibility};

/// Tunable ranking parameters.
#[derive(Debug, Clone)]
pub struct RetrievalConfig {
    pub boosts: Boosts,
    /// Weight of a dataset's best, second-best, ... matching column relative to its own score.
    pub column_weights: Vec<f32>,
    /// Share of the semantic similarity in the fused score (0 = lexical only, 1 = semantic only).
    pub semantic_weight: f32,
    /// Nearest datasets taken from the semantic side (the 0 of its normalized scale is the
    /// last of them). Measured on the dev sets (`descoberta eval`, 2026-12-01), Spider / BIRD
    /// R@5 and complete@15: 30 gave 91.9 / 96.3 and 95.9 / 99.5, 50 gave 91.5 / 97.0 and
    /// 95.8 / 99.3, 100 gives 91.4 / 97.3 and 95.8 / 99.3 (R@1 56.1 and 49.9, up from 56.0
    /// and 49.2), 150 gave 90.9 / 97.3 and 95.8 / 99.3.
    pub semantic_candidates: usize,
    /// A dataset found only semantically must be at least this similar to count as a match,
    /// on the model's calibrated scale (0 = unrelated, 1 = related: see
    /// [`crate::embed::SimilarityScale`]). Default: no bar when the question matches some
    /// words (the fusion weighs these candidates): with e5, a bar at 0 cost 0.5 points of
    /// R@5 and 2 of complete@15 on the BIRD dev set (`descoberta eval`).
    pub min_similarity: f32,
    /// When nothing matches the question's words, a dataset found only semantically must be
    /// at least this similar (calibrated): a typical right answer scores 1, while strings
    /// that mean nothing still sit well above 0 with some models.
    pub min_similarity_alone: f32,
    /// Top results whose linked datasets (foreign keys, lineage) are looked at.
    pub link_seeds: usize,
    /// A dataset a seed refers to (its foreign key's target, or what it is derived from) that
    /// matches too is lifted by this share of the seed's score (never past the seed); 0
    /// turns relationship expansion off. The rows a seed holds are usually named, filtered or
    /// grouped by what they refer to ("likes" of a student by name, the languages of a
    /// country by its continent).
    pub link_lift: f32,
    /// The same for a dataset that refers to a seed: lifted by less, since a table is
    /// referred to by many that a question about it does not need. Measured on the dev sets
    /// (`descoberta eval`, 2026-12-01, 50 semantic candidates): lifting both directions by
    /// 0.5 gave Spider R@5 90.9 and complete@15 96.5, BIRD 93.9 and 99.5; 1.0 and 0.1 give
    /// 91.5 / 97.0 and 95.8 / 99.3.
    pub link_lift_referencing: f32,
    /// A linked dataset the question matches neither by its words nor among the
    /// `semantic_candidates` nearest still matches it by meaning when its similarity is at
    /// least this (calibrated: 0 = unrelated, 1 = a typical right answer). Half-way: a table
    /// is one of 876 in Spider's catalog, so the nearest 100 miss many a related one.
    pub link_min_similarity: f32,
    /// Linked datasets the question does not match that may join the ranking, below every
    /// dataset it matches.
    pub link_added: usize,
    /// The language the catalog is written in (`catalog_language`).
    pub catalog_language: Language,
    /// In a question in the other language, the lexical side's share of the fusion is scaled
    /// by the share of its words that reach the catalog's vocabulary (as typed or through a
    /// translation). Measured on the dev sets (`descoberta eval --no-coverage-fusion`):
    /// Portuguese R@5 +3.8 on Spider, BIRD unchanged (complete@15 +3.3); English questions are not affected.
    pub coverage_fusion: bool,
    /// The similarity scale of this search's question, when it is not the index's (a
    /// question embedded through the cross-lingual companion: [`crate::embed::Embedder::scale_for`]).
    pub query_scale: Option<crate::embed::SimilarityScale>,
    /// How long a search waits for its question's vector; past it, the search is lexical.
    pub question_timeout: std::time::Duration,
}

impl RetrievalConfig {
    /// The defaults with the settings' fusion weight and catalog language.
    pub fn from_settings(settings: &crate::settings::Settings) -> RetrievalConfig {
        RetrievalConfig {
            semantic_weight: settings.retrieval.semantic_weight,
            question_timeout: std::time::Duration::from_millis(
                settings.embedding.question_timeout_ms,
            ),
            catalog_language: if settings.catalog_language == "pt-BR" {
                Language::Portuguese
            } else {
                Language::English
            },
            ..RetrievalConfig::default()
        }
    }
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            boosts: Boosts::default(),
            column_weights: vec![0.5, 0.25, 0.12, 0.06, 0.03],
            semantic_weight: 0.5,
            semantic_candidates: 100,
            min_similarity: f32::NEG_INFINITY,
            min_similarity_alone: 1.0,
            link_seeds: 10,
            link_lift: 1.0,
            link_lift_referencing: 0.1,
            link_min_similarity: 0.5,
            link_added: 10,
            catalog_language: Language::English,
            coverage_fusion: true,
            query_scale: None,
            question_timeout: std::time::Duration::from_secs(1),
        }
    }
}

/// One dataset in a ranking.
#[derive(Debug, Clone)]
pub struct RankedDataset {
    pub dataset: u32,
    pub score: f32,
    /// Matching columns (ordinal, score), best first.
    pub columns: Vec<(u32, f32)>,
    /// The top result that lifted (or added) this one through a relationship.
    pub via: Option<u32>,
    /// The glossary terms of the question that link to this dataset.
    pub terms: Vec<TermMatch>,
}

impl RankedDataset {
    /// A dataset that joins the ranking through a relationship of `seed`'s.
    fn linked(dataset: u32, score: f32, seed: u32) -> RankedDataset {
        RankedDataset {
            dataset,
            score,
            columns: Vec::new(),
            via: Some(seed),
            terms: Vec::new(),
        }
    }
}

/// A ranking: how many visible datasets match, and the best `depth` of them, best first.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub plan: QueryPlan,
    pub total: usize,
    pub datasets: Vec<RankedDataset>,
    /// 0..1: how sure retrieval is that the best result answers the query.
    pub confidence: f32,
    /// `confidence` before it is bounded to 1: a semantic neighbour closer than a clearly
    /// related one keeps counting. It orders questions whose confidence is 1 (most on a large
    /// catalog: the cascade's choice of questions to read again, [`cascade`]).
    pub sureness: f32,
}

/// What ranking uses besides the index: the query's embedding, and the feedback votes for
/// similar questions (dataset ordinal, net helpful votes).
#[derive(Clone, Copy, Default)]
pub struct Signals<'a> {
    pub semantic: Option<(&'a SemanticIndex, &'a [f32])>,
    pub feedback: &'a [(u32, i64)],
}

/// Feedback bonus per net helpful vote, and its cap, as shares of the best score.
const FEEDBACK_STEP: f32 = 0.02;
const FEEDBACK_MAX: f32 = 0.1;

/// Helpful votes lift a dataset that already matches, by at most 10% of the best score: a
/// voted dataset never enters a ranking it does not match, and never passes one that scores
/// clearly better. Negative votes do not demote (one person's "not helpful" is weak evidence).
fn apply_feedback(datasets: &mut [RankedDataset], feedback: &[(u32, i64)]) {
    if feedback.is_empty() {
        return;
    }
    let top = datasets.iter().map(|d| d.score).fold(0.0f32, f32::max);
    for d in datasets.iter_mut() {
        if let Some(&(_, net)) = feedback.iter().find(|(ds, _)| *ds == d.dataset)
            && net > 0
        {
            d.score += top * (FEEDBACK_STEP * net as f32).min(FEEDBACK_MAX);
        }
    }
}

/// Typeahead for `text`: names by prefix (datasets and columns the caller may see), then
/// typo-tolerant matches when there are too few.
pub fn suggest(
    snapshot: &Snapshot,
    text: &str,
    visibility: &Visibility,
    limit: usize,
) -> anyhow::Result<Vec<SuggestHit>> {
    let all = snapshot.all_visible(visibility);
    let visible = |ds: u32| all || snapshot.is_visible(ds, visibility);
    let mut hits = snapshot.suggest.suggest(text, visible, limit);
    if hits.len() < limit {
        let acl = if all { None } else { visibility.acl_terms() };
        let name = |h: &SuggestHit| -> Option<String> {
            let dataset = snapshot.dataset(h.dataset)?;
            Some(match h.column {
                Some(c) => dataset.columns.get(c as usize)?.name.to_lowercase(),
                None => dataset.name.to_lowercase(),
            })
        };
        let mut known: HashSet<Option<String>> = hits.iter().map(&name).collect();
        for m in snapshot.lexical.fuzzy_suggest(text, acl, limit * 4)? {
            let hit = SuggestHit {
                dataset: m.dataset,
                column: m.column,
                shared_by: usize::from(m.column.is_some()),
            };
            if known.insert(name(&hit)) {
                hits.push(hit);
            }
            if hits.len() >= limit {
                break;
            }
        }
    }
    Ok(hits)
}

/// Datasets whose columns are always looked at (stage 2 of the lexical ranking).
const STAGE2_MIN: usize = 100;

/// Ranks the datasets of `snapshot` that `visibility` allows for `plan`: lexical matches and
/// (with a query vector) the semantically nearest datasets, fused into one score.
pub fn rank(
    snapshot: &Snapshot,
    plan: QueryPlan,
    signals: Signals<'_>,
    visibility: &Visibility,
    config: &RetrievalConfig,
    depth: usize,
) -> anyhow::Result<Ranked> {
    rank_within(snapshot, plan, signals, visibility, config, depth, None)
}

/// [`rank`] over a subset of the visible datasets (`within`: their ordinals, e.g. one domain),
/// applied with the visibility filter: before anything is ranked, counted or cut to `depth`.
pub fn rank_within(
    snapshot: &Snapshot,
    plan: QueryPlan,
    signals: Signals<'_>,
    visibility: &Visibility,
    config: &RetrievalConfig,
    depth: usize,
    within: Option<&HashSet<u32>>,
) -> anyhow::Result<Ranked> {
    let scope = Scope {
        visibility,
        config,
        depth,
        within,
    };
    let words = match_words(snapshot, &plan, scope)?;
    rank_matched(snapshot, plan, words, signals, scope)
}

/// What the question's words match, before any other signal: the first half of
/// [`rank_within`], which needs no query vector (a search runs it while its question is
/// embedded).
pub struct WordMatches {
    datasets: Vec<RankedDataset>,
}

/// What both halves of a ranking share: who asks (their visibility), with what parameters,
/// how many of the best datasets the caller will show, and within which subset.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub visibility: &'a Visibility,
    pub config: &'a RetrievalConfig,
    pub depth: usize,
    pub within: Option<&'a HashSet<u32>>,
}

/// The visibility filter to query the indexes with: none when the caller may see every
/// dataset (a cheaper query, the same result).
fn effective<'v>(snapshot: &Snapshot, visibility: &'v Visibility) -> &'v Visibility {
    if snapshot.all_visible(visibility) {
        &Visibility::All
    } else {
        visibility
    }
}

/// Stage 1: every dataset the question's words match, by its own document. Stage 2: the
/// columns of the best `depth` (at least STAGE2_MIN) of them, which add to their score.
pub fn match_words(
    snapshot: &Snapshot,
    plan: &QueryPlan,
    scope: Scope<'_>,
) -> anyhow::Result<WordMatches> {
    let (config, depth, within) = (scope.config, scope.depth, scope.within);
    let visibility = effective(snapshot, scope.visibility);
    let mut matches =
        snapshot
            .lexical
            .search_datasets(&plan.lexical, visibility.acl_terms(), &config.boosts)?;
    if let Some(within) = within {
        matches.retain(|m| within.contains(&m.dataset));
    }
    let stage2 = depth.max(STAGE2_MIN).min(matches.len());
    // The best `stage2` first (by score, then ordinal).
    let best = best_first(&matches, stage2, |m| (m.dataset_score, m.dataset));
    bring_forward(&mut matches, &best);
    let top: Vec<u32> = matches.iter().take(stage2).map(|m| m.dataset).collect();
    let mut columns: HashMap<u32, Vec<(u32, f32)>> = snapshot
        .lexical
        .column_matches(&plan.lexical, &top, &config.boosts)?
        .into_iter()
        .map(|m| (m.dataset, m.columns))
        .collect();
    // Only the first `stage2` matches had their columns looked at.
    let datasets = matches
        .into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            if i < stage2
                && let Some(c) = columns.remove(&m.dataset)
            {
                m.columns = c;
            }
            lexical_score(m, &config.column_weights)
        })
        .collect();
    Ok(WordMatches { datasets })
}

/// The second half of [`rank_within`]: the word matches fused with the other signals
/// (meaning, votes, glossary, relationships), in the same scope as the first half.
pub fn rank_matched(
    snapshot: &Snapshot,
    plan: QueryPlan,
    words: WordMatches,
    signals: Signals<'_>,
    scope: Scope<'_>,
) -> anyhow::Result<Ranked> {
    let (config, depth, within) = (scope.config, scope.depth, scope.within);
    let visibility = effective(snapshot, scope.visibility);
    let mut datasets = words.datasets;
    let top_lexical = datasets.iter().map(|d| d.score).fold(0.0f32, f32::max);
    // What may be added to the ranking: visible, and within the subset.
    let allow = |ordinal: u32| {
        snapshot.is_visible(ordinal, visibility) && within.is_none_or(|w| w.contains(&ordinal))
    };
    let mut top_similarity = None;
    if let Some((semantic, query)) = signals.semantic
        && config.semantic_weight > 0.0
    {
        // A question asked in another language than the catalog's reaches it through
        // translations, and the words the dictionary misses leave the lexical side matching
        // the rest alone: it weighs by the share of words that got through.
        let coverage = if config.coverage_fusion && plan.language != config.catalog_language {
            lexical_coverage(snapshot, &plan)?
        } else {
            1.0
        };
        top_similarity = fuse(&mut datasets, semantic, query, allow, config, coverage);
    }
    apply_feedback(&mut datasets, signals.feedback);
    let terms = snapshot.glossary.matches(&plan.original);
    let by_glossary = apply_glossary(&mut datasets, &terms, snapshot, visibility, within);
    if config.link_lift > 0.0 && !snapshot.links.is_empty() {
        expand_links(&mut datasets, signals.semantic, snapshot, allow, config);
    }
    // How sure retrieval is that something answers: a strong lexical match, or a close
    // semantic neighbour (used to find catalog gaps).
    let sureness = if datasets.is_empty() {
        0.0
    } else {
        let lexical = 1.0 - (-top_lexical / 8.0).exp();
        let semantic = top_similarity.map_or(0.0, |s| s.max(0.0));
        let glossary = if by_glossary {
            GLOSSARY_CONFIDENCE
        } else {
            0.0
        };
        lexical.max(semantic).max(glossary)
    };
    let confidence = sureness.min(1.0);
    debug_assert!(
        datasets
            .iter()
            .map(|d| d.dataset)
            .collect::<HashSet<_>>()
            .len()
            == datasets.len()
    );
    let total = datasets.len();
    top_sorted(&mut datasets, depth.max(1));
    Ok(Ranked {
        total,
        plan,
        datasets,
        confidence,
        sureness,
    })
}

/// How sure retrieval is when the question uses a glossary term that links to a visible
/// dataset (a steward said this is where it is).
const GLOSSARY_CONFIDENCE: f32 = 0.9;

/// A question that uses a glossary term (or a synonym) matches the datasets the term links
/// to: each one the caller may see ranks above every dataset no term links to (ordered among
/// themselves by their own scores), and a linked column is among its matching columns.
/// Returns whether any linked dataset was visible.
fn apply_glossary(
    datasets: &mut Vec<RankedDataset>,
    terms: &[TermMatch],
    snapshot: &Snapshot,
    visibility: &Visibility,
    within: Option<&HashSet<u32>>,
) -> bool {
    if terms.is_empty() {
        return false;
    }
    let top = datasets
        .iter()
        .map(|d| d.score)
        .fold(0.0f32, f32::max)
        .max(1.0);
    let mut position: HashMap<u32, usize> = datasets
        .iter()
        .enumerate()
        .map(|(i, d)| (d.dataset, i))
        .collect();
    let mut linked: HashSet<usize> = HashSet::new();
    for m in terms {
        for link in snapshot.glossary.links(m.term) {
            if !snapshot.is_visible(link.dataset, visibility)
                || within.is_some_and(|w| !w.contains(&link.dataset))
            {
                continue;
            }
            let i = *position.entry(link.dataset).or_insert_with(|| {
                datasets.push(RankedDataset {
                    dataset: link.dataset,
                    score: 0.0,
                    columns: Vec::new(),
                    via: None,
                    terms: Vec::new(),
                });
                datasets.len() - 1
            });
            let d = &mut datasets[i];
            if !d.terms.contains(m) {
                d.terms.push(*m);
            }
            if let Some(column) = link.column
                && !d.columns.iter().any(|(c, _)| *c == column)
            {
                let best = d.columns.first().map_or(1.0, |c| c.1);
                d.columns.insert(0, (column, best));
            }
            linked.insert(i);
        }
    }
    for &i in &linked {
        let own = datasets[i].score;
        datasets[i].score = top * 1.05 + 0.1 * own;
    }
    !linked.is_empty()
}

/// The share of the question's plain words that reach the catalog's vocabulary, as typed or
/// through a translation (1 when it has none).
/// The share of a question's plain words that reach the catalog as typed, analyzed in the
/// catalog's language (no translation): 1 for a Portuguese sentence around English names
/// ("onde estão os dados de client da atlas?"), low for a question in Portuguese throughout.
/// 1 when the question has no plain words (identifiers only).
pub(crate) fn typed_share(
    snapshot: &Snapshot,
    plan: &QueryPlan,
    catalog_language: Language,
) -> anyhow::Result<f32> {
    if plan.word_terms.is_empty() {
        return Ok(1.0);
    }
    let typed: Vec<LexicalQuery> = plan
        .word_terms
        .iter()
        .map(|w| match catalog_language {
            Language::English => LexicalQuery {
                en: w.en.clone(),
                ..LexicalQuery::default()
            },
            Language::Portuguese => LexicalQuery {
                pt: w.pt.clone(),
                ..LexicalQuery::default()
            },
        })
        .collect();
    let known = snapshot.lexical.known_words(&typed)?;
    Ok(known as f32 / typed.len() as f32)
}

fn lexical_coverage(snapshot: &Snapshot, plan: &QueryPlan) -> anyhow::Result<f32> {
    if plan.word_terms.is_empty() {
        return Ok(1.0);
    }
    let known = snapshot.lexical.known_words(&plan.word_terms)?;
    Ok(known as f32 / plan.word_terms.len() as f32)
}

/// Weighted fusion of the normalized lexical score and the normalized cosine similarity.
/// Every lexical match gets its similarity; the nearest datasets above `min_similarity` join.
/// Returns the best similarity on the calibrated scale.
#[allow(clippy::too_many_arguments)]
fn fuse(
    datasets: &mut Vec<RankedDataset>,
    semantic: &SemanticIndex,
    query: &[f32],
    allow: impl Fn(u32) -> bool,
    config: &RetrievalConfig,
    coverage: f32,
) -> Option<f32> {
    // Only the nearest count: every other dataset's similarity is at most the last one's,
    // which the rescaling below maps to 0.
    let nearest = semantic.top(query, allow, config.semantic_candidates);
    // Similarities are rescaled to [0, 1] over the nearest candidates (best → 1, the
    // `semantic_candidates`-th → 0), as lexical scores are by their maximum, so the two
    // sides weigh the same whatever the spread of a model's cosines.
    let top = nearest.first().map_or(1.0, |n| n.1);
    let floor = nearest.last().map_or(0.0, |n| n.1);
    // With one candidate (or all equally similar) there is no spread: each counts as the
    // nearest.
    let spread = top - floor;
    let norm = |similarity: f32| {
        if spread < 1e-6 {
            return if similarity >= floor { 1.0 } else { 0.0 };
        }
        ((similarity - floor) / spread).clamp(0.0, 1.0)
    };
    let max_lexical = datasets.iter().map(|d| d.score).fold(0.0f32, f32::max);
    let w = config.semantic_weight.clamp(0.0, 1.0);
    // By ordinal (a search can match every dataset: no hashing each one): whether it is
    // ranked already, and its place among the nearest.
    let mut present = vec![false; semantic.len()];
    let mut near = vec![u32::MAX; semantic.len()];
    for (rank, (ordinal, _)) in nearest.iter().enumerate() {
        if let Some(n) = near.get_mut(*ordinal as usize) {
            *n = rank as u32;
        }
    }
    for d in datasets.iter_mut() {
        if let Some(p) = present.get_mut(d.dataset as usize) {
            *p = true;
        }
        let lexical = if max_lexical > 0.0 {
            d.score / max_lexical
        } else {
            0.0
        };
        let semantic_share = match near.get(d.dataset as usize) {
            Some(&rank) if rank != u32::MAX => norm(nearest[rank as usize].1),
            // Not among the nearest: at most as similar as the last of them, 0 once
            // rescaled, unless they are all equally similar (then its own similarity
            // decides).
            _ if spread < 1e-6 => norm(semantic.similarity(d.dataset, query)),
            _ => 0.0,
        };
        d.score = (1.0 - w) * coverage * lexical + w * semantic_share;
    }
    let scale = config.query_scale.unwrap_or(semantic.scale);
    let best = nearest.first().map(|n| scale.calibrate(n.1));
    let min_similarity = if datasets.is_empty() {
        config.min_similarity.max(config.min_similarity_alone)
    } else {
        config.min_similarity
    };
    for (ordinal, similarity) in nearest {
        if scale.calibrate(similarity) >= min_similarity
            && !present.get(ordinal as usize).copied().unwrap_or(false)
        {
            datasets.push(RankedDataset {
                dataset: ordinal,
                score: w * norm(similarity),
                columns: Vec::new(),
                via: None,
                terms: Vec::new(),
            });
        }
    }
    best
}

/// Join-aware ranking: the datasets linked to the top `link_seeds` results (that the caller
/// may see, within the ranked subset: `allow`) are lifted by `link_lift` × the seed's score (`link_lift_referencing` when they
/// refer to the seed) when the question matches them too, by its words or its meaning (never
/// past their seed), and, when it does not, may join the ranking below every dataset it
/// matches. Each one remembers the seed (`via`), for the reason shown.
fn expand_links(
    datasets: &mut Vec<RankedDataset>,
    semantic: Option<(&SemanticIndex, &[f32])>,
    snapshot: &Snapshot,
    allow: impl Fn(u32) -> bool,
    config: &RetrievalConfig,
) {
    if datasets.is_empty() {
        return;
    }
    let by_score = |a: &RankedDataset, b: &RankedDataset| {
        b.score.total_cmp(&a.score).then(a.dataset.cmp(&b.dataset))
    };
    // The seeds: the best `link_seeds` (selected, then sorted: a search can rank every
    // dataset).
    let mut order: Vec<usize> = (0..datasets.len()).collect();
    let seeds = config.link_seeds.min(order.len());
    if seeds > 0 && seeds < order.len() {
        order.select_nth_unstable_by(seeds - 1, |&a, &b| by_score(&datasets[a], &datasets[b]));
    }
    order.truncate(seeds);
    order.sort_by(|&a, &b| by_score(&datasets[a], &datasets[b]));
    let seeds: Vec<(u32, f32)> = order
        .iter()
        .map(|&i| (datasets[i].dataset, datasets[i].score))
        .collect();
    // Where each ranked dataset is, by ordinal (no hashing of every ranked dataset).
    let mut place = vec![u32::MAX; snapshot.catalog.datasets.len()];
    for (i, d) in datasets.iter().enumerate() {
        if let Some(p) = place.get_mut(d.dataset as usize) {
            *p = i as u32;
        }
    }
    let position = |dataset: u32| {
        place
            .get(dataset as usize)
            .filter(|&&p| p != u32::MAX)
            .map(|&p| p as usize)
    };
    let floor = datasets.iter().map(|d| d.score).fold(f32::MAX, f32::min);
    let top = seeds.first().map_or(0.0, |s| s.1).max(f32::MIN_POSITIVE);
    // A linked dataset outside the ranking that is close enough in meaning.
    let by_meaning = |dataset: u32| {
        semantic.is_some_and(|(index, query)| {
            let scale = config.query_scale.unwrap_or(index.scale);
            scale.calibrate(index.similarity(dataset, query)) >= config.link_min_similarity
        })
    };
    // Lifted scores are computed from the scores before any lift (order-independent).
    let mut lifted: HashMap<u32, (f32, u32)> = HashMap::new();
    let mut added: HashMap<u32, (f32, u32)> = HashMap::new();
    for &(seed, seed_score) in &seeds {
        for link in snapshot.links.of(seed) {
            if !allow(link.other) {
                continue;
            }
            let lift = if link.outgoing {
                config.link_lift
            } else {
                config.link_lift_referencing
            };
            let present = position(link.other).map(|i| datasets[i].score);
            // Outside the ranking but close in meaning: lifted from nothing.
            let current = present.or_else(|| by_meaning(link.other).then_some(0.0));
            if let Some(current) = current {
                // Strictly below the seed: a linked dataset never passes what led to it.
                let target = (current + lift * seed_score).min(seed_score * 0.98);
                if target > current
                    && lifted
                        .get(&link.other)
                        .is_none_or(|(best, _)| target > *best)
                {
                    lifted.insert(link.other, (target, seed));
                }
            }
            if present.is_none() {
                // Below every matched dataset, in the order of their seeds (unless lifted).
                let score = floor * 0.99 * (seed_score / top).clamp(0.0, 1.0);
                let entry = added.entry(link.other).or_insert((score, seed));
                if score > entry.0 {
                    *entry = (score, seed);
                }
            }
        }
    }
    for (dataset, (score, seed)) in lifted {
        match position(dataset) {
            Some(i) => {
                datasets[i].score = score;
                datasets[i].via = Some(seed);
            }
            None => {
                added.remove(&dataset);
                datasets.push(RankedDataset::linked(dataset, score, seed));
            }
        }
    }
    let mut added: Vec<(u32, (f32, u32))> = added.into_iter().collect();
    added.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.0.cmp(&b.0)));
    datasets.extend(
        added
            .into_iter()
            .take(config.link_added)
            .map(|(dataset, (score, seed))| RankedDataset::linked(dataset, score, seed)),
    );
}

fn lexical_score(m: DatasetMatch, column_weights: &[f32]) -> RankedDataset {
    let columns_score: f32 = m
        .columns
        .iter()
        .zip(column_weights)
        .map(|((_, s), w)| s * w)
        .sum();
    RankedDataset {
        dataset: m.dataset,
        score: m.dataset_score + columns_score,
        columns: m.columns,
        via: None,
        terms: Vec::new(),
    }
}

/// Keeps the best `n`, sorted: best score first, ties by catalog order (deterministic).
fn top_sorted(datasets: &mut Vec<RankedDataset>, n: usize) {
    let best = best_first(datasets, n, |d| (d.score, d.dataset));
    bring_forward(datasets, &best);
    datasets.truncate(n);
    datasets.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.dataset.cmp(&b.dataset)));
}

/// The positions of the best `n` of `items` by `key` (score, then the lower ordinal), in no
/// particular order. A search can rank every dataset and keeps the best 100 at most: a heap
/// of the best so far, which nearly every item leaves at one comparison (a selection over
/// all the items was 4% of a search's CPU at 1M columns).
fn best_first<T>(items: &[T], n: usize, key: impl Fn(&T) -> (f32, u32)) -> Vec<usize> {
    if n >= items.len() {
        return (0..items.len()).collect();
    }
    let mut best: BinaryHeap<Reverse<Better>> = BinaryHeap::with_capacity(n + 1);
    for (i, item) in items.iter().enumerate() {
        let (score, ordinal) = key(item);
        let candidate = Better(score, ordinal, i as u32);
        if best.len() < n {
            best.push(Reverse(candidate));
        } else if best.peek().is_some_and(|Reverse(worst)| candidate > *worst) {
            best.pop();
            best.push(Reverse(candidate));
        }
    }
    best.into_iter().map(|Reverse(b)| b.2 as usize).collect()
}

/// (score, ordinal, position), ordered from worse to better: a higher score, then a lower
/// ordinal.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Better(f32, u32, u32);

impl Eq for Better {}

impl PartialOrd for Better {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Better {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// Moves the items at `positions` (distinct) to the front, in the order they had; the
/// others follow.
fn bring_forward<T>(items: &mut [T], positions: &[usize]) {
    let mut sorted = positions.to_vec();
    sorted.sort_unstable();
    // Swapping position p into slot i, for increasing p, never moves a later chosen one:
    // slot i < p held an unchosen item or one already placed (all chosen below p are placed).
    for (slot, &p) in sorted.iter().enumerate() {
        items.swap(slot, p);
    }
}

#[cfg(test)]
mod tests;
