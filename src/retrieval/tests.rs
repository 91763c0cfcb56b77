//! Ranking, fusion and feedback over a small in-memory snapshot (a real Tantivy index in a
//! temporary directory, hand-made 2-dimensional embeddings).

use super::*;
use crate::catalog::{Catalog, Column, Dataset, Sensitivity};
use crate::embed::SimilarityScale;
use std::sync::Arc;

fn dataset(name: &str, description: Option<&str>, columns: &[(&str, &str)]) -> Dataset {
    let mut d = Dataset::new(name);
    d.description = description.map(str::to_string);
    d.columns = columns
        .iter()
        .map(|(name, description)| Column {
            name: name.to_string(),
            description: Some(description.to_string()),
            data_type: None,
            tags: Vec::new(),
            properties: Default::default(),
            references: Vec::new(),
        })
        .collect();
    d
}

/// A snapshot of `datasets` (the temporary directory holds its index and must outlive it).
fn snapshot(
    datasets: Vec<Dataset>,
    vectors: Option<Vec<[f32; 2]>>,
) -> (tempfile::TempDir, Snapshot) {
    let tmp = tempfile::tempdir().unwrap();
    let catalog = Catalog::new(datasets);
    let lexical = crate::index::LexicalIndex::build(
        &tmp.path().join("v1"),
        1,
        &catalog,
        &crate::index::Unfiltered,
    )
    .unwrap();
    let semantic = vectors.map(|v| {
        assert_eq!(v.len(), catalog.datasets.len());
        SemanticIndex::new(
            "test-model".into(),
            SimilarityScale::MINILM,
            2,
            v.into_iter().flatten().collect(),
        )
    });
    (tmp, Snapshot::new(1, catalog, lexical, semantic))
}

/// A unit vector at `similarity` (cosine) to the query `[1, 0]`. The index stores vectors in
/// half precision: tests that check exact scores use multiples of 1/16, which it stores
/// exactly.
fn at(similarity: f32) -> [f32; 2] {
    [similarity, (1.0 - similarity * similarity).sqrt()]
}

const QUERY: [f32; 2] = [1.0, 0.0];

fn names(snapshot: &Snapshot, ranked: &Ranked) -> Vec<String> {
    ranked
        .datasets
        .iter()
        .map(|d| snapshot.dataset(d.dataset).unwrap().name.clone())
        .collect()
}

fn rank_with(
    snapshot: &Snapshot,
    text: &str,
    signals: Signals<'_>,
    visibility: &Visibility,
    config: &RetrievalConfig,
) -> Ranked {
    rank(snapshot, understand(text), signals, visibility, config, 10).unwrap()
}

fn lexical_only(snapshot: &Snapshot, text: &str) -> Ranked {
    rank_with(
        snapshot,
        text,
        Signals::default(),
        &Visibility::All,
        &RetrievalConfig::default(),
    )
}

fn ranked(scores: &[(u32, f32)]) -> Vec<RankedDataset> {
    scores
        .iter()
        .map(|&(dataset, score)| RankedDataset {
            dataset,
            score,
            columns: Vec::new(),
            via: None,
            terms: Vec::new(),
        })
        .collect()
}

fn order(datasets: &[RankedDataset]) -> Vec<u32> {
    datasets.iter().map(|d| d.dataset).collect()
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

/// Three datasets that all match "orders", clearly in this lexical order: in the name and the
/// description, in the description only, in a tag only.
fn orders_catalog() -> Vec<Dataset> {
    let mut tagged = dataset("sales.misc", Some("Miscellaneous"), &[]);
    tagged.tags = vec!["orders".into()];
    vec![
        dataset("sales.orders", Some("Orders of customers"), &[]),
        dataset("sales.archive", Some("Old orders"), &[]),
        tagged,
    ]
}

#[test]
fn a_name_match_ranks_above_a_column_description_match() {
    // The column match comes first in catalog order, so only the score can put it second.
    let (_tmp, snap) = snapshot(
        vec![
            dataset("ops.holidays", Some("Public holidays"), &[("day", "Date")]),
            dataset(
                "sales.ledger",
                Some("Ledger entries"),
                &[("note", "Refers to invoices")],
            ),
            dataset("finance.invoices", Some("Billing documents"), &[]),
        ],
        None,
    );
    let ranked = lexical_only(&snap, "invoices");
    assert_eq!(names(&snap, &ranked), ["finance.invoices", "sales.ledger"]);
    assert_eq!(ranked.total, 2);
    assert!(ranked.datasets[0].score > ranked.datasets[1].score);
    // The column that matched is reported for the dataset it belongs to.
    assert_eq!(order_of_columns(&ranked.datasets[1]), [0]);
    assert!(ranked.datasets[0].columns.is_empty());
}

fn order_of_columns(d: &RankedDataset) -> Vec<u32> {
    d.columns.iter().map(|c| c.0).collect()
}

#[test]
fn the_visibility_filter_excludes_a_restricted_dataset_from_results_and_total() {
    let mut salaries = dataset("hr.salaries", Some("Employee salary payments"), &[]);
    salaries.sensitivity = Sensitivity::Restricted;
    salaries.allowed_groups = vec!["hr".into()];
    let (_tmp, snap) = snapshot(
        vec![
            salaries,
            dataset("crm.salary_bands", Some("Salary bands of sales staff"), &[]),
        ],
        Some(vec![at(0.99), at(0.9)]),
    );
    let semantic = snap.semantic().unwrap();
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[(0, 10)],
    };
    let config = RetrievalConfig::default();
    let anonymous = Visibility::anonymous(Sensitivity::Internal);
    let ranked = rank_with(&snap, "salary", signals, &anonymous, &config);
    assert_eq!(names(&snap, &ranked), ["crm.salary_bands"]);
    assert_eq!(ranked.total, 1);

    let hr = Visibility::for_groups(Sensitivity::Internal, &["hr".into()]);
    let ranked = rank_with(&snap, "salary", signals, &hr, &config);
    assert_eq!(ranked.total, 2);
    assert!(names(&snap, &ranked).contains(&"hr.salaries".to_string()));
}

#[test]
fn top_sorted_keeps_the_best_n_with_ties_in_catalog_order() {
    let mut datasets = ranked(&[(5, 1.0), (4, 2.0), (1, 3.0), (3, 2.0), (0, 0.5), (2, 2.0)]);
    top_sorted(&mut datasets, 3);
    assert_eq!(order(&datasets), [1, 2, 3]);

    let mut all = ranked(&[(2, 1.0), (1, 1.0), (0, 4.0)]);
    top_sorted(&mut all, 10);
    assert_eq!(order(&all), [0, 1, 2]);
}

#[test]
fn lexical_score_adds_the_weighted_best_columns() {
    let m = DatasetMatch {
        dataset: 7,
        dataset_score: 2.0,
        columns: vec![(3, 4.0), (1, 2.0), (0, 1.0)],
    };
    let d = lexical_score(m, &[0.5, 0.25]);
    assert_eq!(d.dataset, 7);
    // 2 + 0.5 × 4 + 0.25 × 2; the third column has no weight.
    assert!(close(d.score, 4.5), "{}", d.score);
    assert_eq!(order_of_columns(&d), [3, 1, 0]);
}

#[test]
fn a_name_match_beats_a_description_match_beats_a_tag_match() {
    let (_tmp, snap) = snapshot(orders_catalog(), None);
    let ranked = lexical_only(&snap, "orders");
    assert_eq!(
        names(&snap, &ranked),
        ["sales.orders", "sales.archive", "sales.misc"]
    );
}

#[test]
fn fusion_with_semantic_weight_0_keeps_the_lexical_order() {
    // Similarity says the exact opposite of the lexical order.
    let (_tmp, snap) = snapshot(orders_catalog(), Some(vec![at(0.1), at(0.5), at(0.9)]));
    let semantic = snap.semantic().unwrap();
    let config = RetrievalConfig {
        semantic_weight: 0.0,
        ..RetrievalConfig::default()
    };
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    let fused = rank_with(&snap, "orders", signals, &Visibility::All, &config);
    let lexical = lexical_only(&snap, "orders");
    assert_eq!(
        names(&snap, &fused),
        ["sales.orders", "sales.archive", "sales.misc"]
    );
    let scores = |r: &Ranked| r.datasets.iter().map(|d| d.score).collect::<Vec<_>>();
    assert_eq!(scores(&fused), scores(&lexical));
}

#[test]
fn fusion_with_semantic_weight_1_follows_similarity() {
    let (_tmp, snap) = snapshot(orders_catalog(), Some(vec![at(0.125), at(0.5), at(0.875)]));
    let semantic = snap.semantic().unwrap();
    let config = RetrievalConfig {
        semantic_weight: 1.0,
        ..RetrievalConfig::default()
    };
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    let ranked = rank_with(&snap, "orders", signals, &Visibility::All, &config);
    assert_eq!(
        names(&snap, &ranked),
        ["sales.misc", "sales.archive", "sales.orders"]
    );
    // Similarities rescaled over the candidates: best 1, worst 0, 0.5 halfway.
    let scores: Vec<f32> = ranked.datasets.iter().map(|d| d.score).collect();
    assert!(
        close(scores[0], 1.0) && close(scores[1], 0.5) && close(scores[2], 0.0),
        "{scores:?}"
    );
}

#[test]
fn fuse_mixes_normalized_lexical_and_similarity_by_the_weight() {
    let (_tmp, snap) = snapshot(orders_catalog(), Some(vec![at(0.125), at(0.5), at(0.875)]));
    let semantic = snap.semantic().unwrap();
    let config = RetrievalConfig {
        semantic_weight: 0.25,
        ..RetrievalConfig::default()
    };
    let mut datasets = ranked(&[(0, 8.0), (1, 4.0), (2, 2.0)]);
    let best = fuse(&mut datasets, &semantic, &QUERY, |_| true, &config, 1.0);
    // The best similarity on the calibrated scale: (0.875 − 0.2) / 0.4 for MiniLM.
    assert!(close(
        best.unwrap(),
        SimilarityScale::MINILM.calibrate(0.875)
    ));
    assert!(close(best.unwrap(), 1.6875));
    // 0.75 × lexical / 8 + 0.25 × (similarity − 0.125) / 0.75
    let expected = [0.75, 0.75 * 0.5 + 0.25 * 0.5, 0.75 * 0.25 + 0.25];
    for (d, e) in datasets.iter().zip(expected) {
        assert!(
            close(d.score, e),
            "{} scored {}, expected {e}",
            d.dataset,
            d.score
        );
    }
    assert_eq!(
        datasets.len(),
        3,
        "no dataset joins that was not already there"
    );
}

#[test]
fn a_question_in_the_other_language_weighs_its_lexical_side_by_the_words_that_got_through() {
    let (_tmp, snap) = snapshot(
        vec![
            dataset("sales.orders", Some("Orders placed"), &[]),
            dataset("pets.dogs", Some("Dogs"), &[]),
            dataset("ops.misc", Some("Misc"), &[]),
        ],
        Some(vec![at(0.3125), at(0.875), at(0.125)]),
    );
    let semantic = snap.semantic().unwrap();
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    // "pedidos" reaches the catalog through its translation (order), "cachorros" does not
    // (the built-in words have no dog): half the question's words got through.
    let question = "pedidos dos cachorros";
    assert_eq!(understand(question).language, Language::Portuguese);
    let off = RetrievalConfig {
        coverage_fusion: false,
        ..RetrievalConfig::default()
    };
    let ranked = rank_with(&snap, question, signals, &Visibility::All, &off);
    // 0.5 × 1 (the only lexical match) + 0.5 × (0.3125 − 0.125) / 0.75, against 0.5 × 1.
    assert_eq!(names(&snap, &ranked)[..2], ["sales.orders", "pets.dogs"]);
    assert!(close(ranked.datasets[0].score, 0.625));
    let on = RetrievalConfig::default();
    let ranked = rank_with(&snap, question, signals, &Visibility::All, &on);
    assert_eq!(names(&snap, &ranked)[..2], ["pets.dogs", "sales.orders"]);
    assert!(close(ranked.datasets[1].score, 0.5 * 0.5 + 0.125));
    // A question in the catalog's language is fused as before, whatever its words.
    let ranked = rank_with(&snap, "orders of unicorns", signals, &Visibility::All, &on);
    assert_eq!(names(&snap, &ranked)[0], "sales.orders");
    assert!(close(ranked.datasets[0].score, 0.625));
}

#[test]
fn a_semantic_only_candidate_below_min_similarity_does_not_join() {
    let (_tmp, snap) = snapshot(
        vec![
            dataset("sales.orders", Some("Orders"), &[]),
            dataset("ops.holidays", Some("Public holidays"), &[]),
            dataset("web.sessions", Some("Web sessions"), &[]),
        ],
        Some(vec![at(0.0), at(0.19), at(0.21)]),
    );
    let semantic = snap.semantic().unwrap();
    let config = RetrievalConfig {
        min_similarity: 0.0,
        ..RetrievalConfig::default()
    };
    // 0 on the calibrated scale (an unrelated dataset) is a cosine of 0.2 on the MiniLM one.
    assert!(close(SimilarityScale::MINILM.calibrate(0.2), 0.0));
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    let ranked = rank_with(&snap, "orders", signals, &Visibility::All, &config);
    let mut found = names(&snap, &ranked);
    found.sort();
    assert_eq!(found, ["sales.orders", "web.sessions"]);
    assert_eq!(ranked.total, 2);
    // The candidate that joined on similarity alone has no matching columns.
    let sessions = ranked.datasets.iter().find(|d| d.dataset == 2).unwrap();
    assert!(sessions.columns.is_empty());
}

#[test]
fn without_a_word_match_only_a_close_neighbour_joins() {
    let (_tmp, snap) = snapshot(
        vec![
            dataset("sales.orders", Some("Orders"), &[]),
            dataset("ops.holidays", Some("Public holidays"), &[]),
            dataset("web.sessions", Some("Web sessions"), &[]),
        ],
        Some(vec![at(0.3), at(0.59), at(0.61)]),
    );
    let semantic = snap.semantic().unwrap();
    let config = RetrievalConfig::default();
    // 1 on the calibrated scale (as similar as a typical right answer): 0.6 for MiniLM.
    assert!(close(config.min_similarity_alone, 1.0));
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    let ranked = rank_with(&snap, "xyzzy plugh", signals, &Visibility::All, &config);
    assert_eq!(names(&snap, &ranked), ["web.sessions"]);
    // With a word match, by default there is no bar for the others.
    let ranked = rank_with(&snap, "orders", signals, &Visibility::All, &config);
    let mut found = names(&snap, &ranked);
    found.sort();
    assert_eq!(found, ["ops.holidays", "sales.orders", "web.sessions"]);
}

#[test]
fn a_question_on_another_similarity_scale_is_calibrated_on_its_own() {
    let (_tmp, snap) = snapshot(
        vec![
            dataset("sales.orders", Some("Orders"), &[]),
            dataset("web.sessions", Some("Web sessions"), &[]),
        ],
        Some(vec![at(0.3), at(0.5)]),
    );
    let semantic = snap.semantic().unwrap();
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    // On the index's scale (MiniLM: 0.6 = related) 0.5 is no close neighbour ...
    let config = RetrievalConfig::default();
    let ranked = rank_with(&snap, "xyzzy plugh", signals, &Visibility::All, &config);
    assert!(names(&snap, &ranked).is_empty());
    // ... but for a question whose similarities lie lower (the cross-lingual companion's), it is.
    let config = RetrievalConfig {
        query_scale: Some(SimilarityScale {
            unrelated: 0.2,
            related: 0.45,
        }),
        ..RetrievalConfig::default()
    };
    let ranked = rank_with(&snap, "xyzzy plugh", signals, &Visibility::All, &config);
    assert_eq!(names(&snap, &ranked), ["web.sessions"]);
}

#[test]
fn a_hidden_dataset_never_joins_on_similarity() {
    let mut hidden = dataset("hr.salaries", Some("Salaries"), &[]);
    hidden.sensitivity = Sensitivity::Restricted;
    hidden.allowed_groups = vec!["hr".into()];
    let (_tmp, snap) = snapshot(
        vec![dataset("sales.orders", Some("Orders"), &[]), hidden],
        Some(vec![at(0.2), at(0.99)]),
    );
    let semantic = snap.semantic().unwrap();
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    let anonymous = Visibility::anonymous(Sensitivity::Internal);
    let config = RetrievalConfig::default();
    let ranked = rank_with(&snap, "orders", signals, &anonymous, &config);
    assert_eq!(names(&snap, &ranked), ["sales.orders"]);
    assert_eq!(ranked.total, 1);
}

#[test]
fn feedback_lifts_a_matching_dataset_past_a_near_twin() {
    let mut datasets = ranked(&[(0, 10.0), (1, 9.5), (2, 5.0)]);
    apply_feedback(&mut datasets, &[(1, 3)]);
    // 3 votes × 2% of the top score.
    assert!(close(datasets[1].score, 10.1), "{}", datasets[1].score);
    assert!(close(datasets[0].score, 10.0));
    assert!(close(datasets[2].score, 5.0));
    top_sorted(&mut datasets, 3);
    assert_eq!(order(&datasets), [1, 0, 2]);
}

#[test]
fn feedback_lifts_by_at_most_10_percent_of_the_top_score() {
    let mut datasets = ranked(&[(0, 10.0), (1, 8.0), (2, 5.0)]);
    apply_feedback(&mut datasets, &[(2, 1_000), (1, 5)]);
    assert!(close(datasets[2].score, 6.0), "{}", datasets[2].score);
    assert!(close(datasets[1].score, 9.0), "{}", datasets[1].score);
    top_sorted(&mut datasets, 3);
    assert_eq!(
        order(&datasets),
        [0, 1, 2],
        "a clearly better dataset is never passed"
    );
}

#[test]
fn feedback_never_adds_a_dataset_that_does_not_match() {
    let mut datasets = ranked(&[(0, 10.0), (1, 9.0)]);
    apply_feedback(&mut datasets, &[(2, 50)]);
    assert_eq!(order(&datasets), [0, 1]);
    assert!(close(datasets[0].score, 10.0) && close(datasets[1].score, 9.0));

    // Through the whole ranking too.
    let (_tmp, snap) = snapshot(
        vec![
            dataset("sales.orders_eu", Some("Customer orders"), &[]),
            dataset("ops.holidays", Some("Public holidays"), &[]),
        ],
        None,
    );
    let signals = Signals {
        semantic: None,
        feedback: &[(1, 50)],
    };
    let ranked = rank_with(
        &snap,
        "customer orders",
        signals,
        &Visibility::All,
        &RetrievalConfig::default(),
    );
    assert_eq!(names(&snap, &ranked), ["sales.orders_eu"]);
    assert_eq!(ranked.total, 1);
}

#[test]
fn negative_votes_do_not_demote() {
    let mut datasets = ranked(&[(0, 10.0), (1, 9.0)]);
    apply_feedback(&mut datasets, &[(0, -5), (1, 0)]);
    assert!(close(datasets[0].score, 10.0) && close(datasets[1].score, 9.0));
    top_sorted(&mut datasets, 2);
    assert_eq!(order(&datasets), [0, 1]);
}

#[test]
fn feedback_in_a_ranking_lifts_the_voted_twin() {
    let twin = |name| dataset(name, Some("Customer orders"), &[("order_id", "Order key")]);
    let (_tmp, snap) = snapshot(
        vec![twin("sales.orders_north"), twin("sales.orders_south")],
        None,
    );
    let before = lexical_only(&snap, "customer orders");
    assert_eq!(
        names(&snap, &before),
        ["sales.orders_north", "sales.orders_south"]
    );
    assert_eq!(
        before.datasets[0].score, before.datasets[1].score,
        "the twins tie, and ties go by catalog order"
    );
    let signals = Signals {
        semantic: None,
        feedback: &[(1, 1)],
    };
    let after = rank_with(
        &snap,
        "customer orders",
        signals,
        &Visibility::All,
        &RetrievalConfig::default(),
    );
    assert_eq!(
        names(&snap, &after),
        ["sales.orders_south", "sales.orders_north"]
    );
    let lifted = after.datasets[0].score;
    assert!(close(lifted, before.datasets[1].score * 1.02), "{lifted}");
    assert_eq!(after.total, 2);
}

#[test]
fn confidence_is_0_with_no_results() {
    let (_tmp, snap) = snapshot(orders_catalog(), Some(vec![at(0.29), at(0.1), at(0.0)]));
    let semantic = snap.semantic().unwrap();
    // The nearest dataset is too far to join, though close enough to count if it had.
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    let ranked = rank_with(
        &snap,
        "zzyzx qwxrtp",
        signals,
        &Visibility::All,
        &RetrievalConfig::default(),
    );
    assert!(ranked.datasets.is_empty());
    assert_eq!(ranked.total, 0);
    assert_eq!(ranked.confidence, 0.0);
}

#[test]
fn confidence_grows_with_the_top_lexical_score() {
    let (_tmp, snap) = snapshot(orders_catalog(), None);
    let ranked = lexical_only(&snap, "orders");
    let top = ranked.datasets[0].score;
    let expected = 1.0 - (-top / 8.0).exp();
    assert!(
        close(ranked.confidence, expected),
        "{} vs {expected}",
        ranked.confidence
    );
    assert!(ranked.confidence > 0.0 && ranked.confidence < 1.0);
}

/// A semantic neighbour closer than a clearly related dataset makes confidence 1 however
/// close it is; sureness goes on counting (the cascade orders questions by it).
#[test]
fn sureness_orders_what_confidence_bounds_at_1() {
    let sure = |similarity: f32| {
        let vectors = vec![at(similarity), at(0.1), at(0.0)];
        let (_tmp, snap) = snapshot(orders_catalog(), Some(vectors));
        let semantic = snap.semantic().unwrap();
        let signals = Signals {
            semantic: Some((&semantic, &QUERY)),
            feedback: &[],
        };
        let config = RetrievalConfig::default();
        let ranked = rank_with(&snap, "zzyzx qwxrtp", signals, &Visibility::All, &config);
        assert!(!ranked.datasets.is_empty());
        (ranked.confidence, ranked.sureness)
    };
    // On all-MiniLM-L6-v2's scale (the default): 0.2 unrelated, 0.6 related (the index
    // keeps its vectors quantized: near, not exact).
    let near_to = |a: f32, b: f32| (a - b).abs() < 0.01;
    let (near, nearer) = (sure(0.7), sure(0.9));
    assert_eq!((near.0, nearer.0), (1.0, 1.0));
    assert!(
        near_to(near.1, 1.25) && near_to(nearer.1, 1.75),
        "{near:?} {nearer:?}"
    );
    // Below 1 they agree.
    let (_tmp, snap) = snapshot(orders_catalog(), None);
    let ranked = lexical_only(&snap, "orders");
    assert!(ranked.confidence < 1.0);
    assert_eq!(ranked.confidence, ranked.sureness);
}

#[test]
fn depth_limits_the_datasets_but_not_the_total() {
    let (_tmp, snap) = snapshot(orders_catalog(), None);
    let ranked = rank(
        &snap,
        understand("orders"),
        Signals::default(),
        &Visibility::All,
        &RetrievalConfig::default(),
        2,
    )
    .unwrap();
    assert_eq!(names(&snap, &ranked), ["sales.orders", "sales.archive"]);
    assert_eq!(ranked.total, 3);
}

#[test]
fn the_only_semantic_candidate_counts_as_the_most_similar() {
    // The caller sees one dataset: it is both the best and the last of the nearest
    // candidates. Rescaled "best → 1", it must not get 0.
    let mut hidden = dataset("hr.salaries", Some("Salaries"), &[]);
    hidden.sensitivity = Sensitivity::Restricted;
    hidden.allowed_groups = vec!["hr".into()];
    let (_tmp, snap) = snapshot(
        vec![dataset("web.sessions", Some("Web sessions"), &[]), hidden],
        Some(vec![at(0.9), at(0.1)]),
    );
    let semantic = snap.semantic().unwrap();
    let signals = Signals {
        semantic: Some((&semantic, &QUERY)),
        feedback: &[],
    };
    let anonymous = Visibility::anonymous(Sensitivity::Internal);
    let config = RetrievalConfig::default();
    let ranked = rank_with(&snap, "zzyzx", signals, &anonymous, &config);
    assert_eq!(names(&snap, &ranked), ["web.sessions"]);
    assert!(
        close(ranked.datasets[0].score, config.semantic_weight),
        "scored {}",
        ranked.datasets[0].score
    );
}

/// `net.likes` refers to `net.students`, `net.notes` refers to `net.likes`, and
/// `net.clubs` stands alone; each dataset at the given similarity to [`QUERY`].
fn linked_snapshot(similarities: [f32; 4]) -> (tempfile::TempDir, Snapshot) {
    let refer = |mut d: Dataset, column: usize, target: &str| {
        d.columns[column].references = vec![target.to_string()];
        d
    };
    snapshot(
        vec![
            refer(
                dataset("net.likes", Some("Likes"), &[("student_id", "who")]),
                0,
                "net.students.id",
            ),
            dataset("net.students", Some("High schoolers"), &[("id", "student")]),
            dataset("net.clubs", Some("Clubs"), &[("id", "club")]),
            refer(
                dataset("net.notes", Some("Notes"), &[("like_id", "on what")]),
                0,
                "net.likes.student_id",
            ),
        ],
        Some(similarities.map(at).to_vec()),
    )
}

#[test]
fn a_dataset_the_seed_refers_to_is_lifted_to_just_below_it_when_close_in_meaning() {
    // The ranking holds the seed (likes) and a weaker direct match (clubs); the students
    // table matched no word and is not among the nearest, but is close in meaning.
    let (_tmp, snap) = linked_snapshot([0.9, 0.5, 0.3, 0.1]);
    let semantic = snap.semantic().unwrap();
    let config = RetrievalConfig::default();
    let mut datasets = ranked(&[(0, 1.0), (2, 0.6)]);
    expand_links(
        &mut datasets,
        Some((&semantic, &QUERY)),
        &snap,
        |_| true,
        &config,
    );
    top_sorted(&mut datasets, 10);
    assert_eq!(order(&datasets)[..3], [0, 1, 2]);
    assert!(close(datasets[1].score, 0.98), "never past its seed");
    assert_eq!(datasets[1].via, Some(0));
    // Far in meaning (calibrated below the bar), it only joins below every direct match.
    let (_tmp, far) = linked_snapshot([0.9, 0.3, 0.3, 0.1]);
    let semantic = far.semantic().unwrap();
    let mut datasets = ranked(&[(0, 1.0), (2, 0.6)]);
    expand_links(
        &mut datasets,
        Some((&semantic, &QUERY)),
        &far,
        |_| true,
        &config,
    );
    top_sorted(&mut datasets, 10);
    assert_eq!(order(&datasets)[..2], [0, 2]);
    assert!(datasets.iter().skip(2).all(|d| d.score < 0.6));
    // Outside the ranked subset (another domain, a hidden dataset), it is never added.
    let mut datasets = ranked(&[(0, 1.0), (2, 0.6)]);
    expand_links(
        &mut datasets,
        Some((&semantic, &QUERY)),
        &far,
        |d| d != 1,
        &config,
    );
    assert!(!order(&datasets).contains(&1));
}

#[test]
fn a_dataset_that_refers_to_the_seed_is_lifted_by_less_than_one_it_refers_to() {
    let (_tmp, snap) = linked_snapshot([0.9, 0.3, 0.3, 0.3]);
    let semantic = snap.semantic().unwrap();
    let config = RetrievalConfig::default();
    // Both linked datasets matched weakly (0.1): students is referred to by the seed,
    // notes refers to it.
    let mut datasets = ranked(&[(0, 1.0), (2, 0.5), (1, 0.1), (3, 0.1)]);
    expand_links(
        &mut datasets,
        Some((&semantic, &QUERY)),
        &snap,
        |_| true,
        &config,
    );
    top_sorted(&mut datasets, 10);
    assert_eq!(order(&datasets), [0, 1, 2, 3]);
    assert!(close(datasets[1].score, 0.98));
    assert!(close(
        datasets[3].score,
        0.1 + config.link_lift_referencing * 1.0
    ));
    assert_eq!(datasets[3].via, Some(0));
}

#[test]
fn a_portuguese_sentence_around_the_catalogs_english_names_counts_as_typed_in_its_language() {
    let (_tmp, snap) = snapshot(
        vec![dataset(
            "sales.orders",
            Some("Orders placed"),
            &[("customer_id", "Customer"), ("placed_at", "When")],
        )],
        None,
    );
    let share = |q: &str| {
        let plan = understand(q);
        assert_eq!(plan.language, Language::Portuguese, "{q}");
        typed_share(&snap, &plan, Language::English).unwrap()
    };
    // Every plain word is an English name of the catalog: embedded as English.
    assert!(share("onde estão os dados de orders, com o customer?") > 0.5);
    // Portuguese throughout: nothing reaches the catalog as typed.
    assert_eq!(share("onde estão os pedidos dos clientes?"), 0.0);
    // Half and half is still the other language.
    assert!(share("quais pedidos têm customer?") <= 0.5);
    // Identifiers alone have no plain word to tell by.
    assert_eq!(share("onde está customer_id?"), 1.0);
}

#[test]
fn the_best_are_selected_by_score_then_ordinal_and_brought_forward() {
    // (score, ordinal): ties on score go to the lower ordinal.
    let items: Vec<(f32, u32)> = vec![(0.5, 7), (0.9, 3), (0.5, 2), (0.1, 9), (0.9, 1), (0.7, 4)];
    let mut best = best_first(&items, 4, |&(s, o)| (s, o));
    best.sort_unstable();
    assert_eq!(best, vec![1, 2, 4, 5]);
    assert_eq!(best_first(&items, 0, |&(s, o)| (s, o)), Vec::<usize>::new());
    assert_eq!(best_first(&items, 9, |&(s, o)| (s, o)).len(), 6);

    for positions in [vec![1, 2, 4, 5], vec![5, 0], vec![0, 1, 2], vec![3], vec![]] {
        let mut moved = items.clone();
        bring_forward(&mut moved, &positions);
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        let front: Vec<(f32, u32)> = sorted.iter().map(|&p| items[p]).collect();
        assert_eq!(moved[..positions.len()], front[..], "{positions:?}");
        // Nothing lost, nothing repeated.
        let mut all = moved.clone();
        all.sort_by_key(|a| a.1);
        let mut original = items.clone();
        original.sort_by_key(|a| a.1);
        assert_eq!(all, original);
    }
}

/// A search reads a question's similarities on the scale of the way it was embedded: one in
/// another language on the scale its embedder gives such questions. Questions that match no
/// word show only a dataset that is related on that scale.
#[tokio::test]
async fn a_search_reads_a_foreign_question_on_its_own_scale() {
    let (_tmp, snap) = snapshot(
        vec![
            dataset("sales.orders", Some("Orders"), &[]),
            dataset("web.sessions", Some("Web sessions"), &[]),
        ],
        Some(vec![at(0.3), at(0.5)]),
    );
    let searcher = Searcher::new(
        Arc::new(Live::from_pointee(snap)),
        // Questions in Portuguese lie lower, as through e5's cross-lingual companion: 0.45
        // is related there, not 0.6.
        Some(Arc::new(crate::embed::TwoScales {
            vector: QUERY.to_vec(),
            foreign: SimilarityScale {
                unrelated: 0.2,
                related: 0.45,
            },
        })),
        RetrievalConfig::default(),
        4,
        Arc::new(arc_swap::ArcSwap::from_pointee(Votes::default())),
        Arc::new(Dictionary::built_in()),
        Arc::new(crate::metrics::Metrics::new().unwrap()),
    );
    let search = |q: &'static str| {
        let searcher = &searcher;
        async move {
            let (snap, ranked) = searcher.search(q, &Visibility::All, 10).await.unwrap();
            names(&snap, &ranked)
        }
    };
    // In the catalog's language, 0.5 is no close neighbour (MiniLM's scale) ...
    assert_eq!(search("xyzzy plugh").await, Vec::<String>::new());
    // ... but for a question in Portuguese, embedded on the lower scale, it is.
    let plan = searcher.understand("não há xyzzy plúgh");
    assert_eq!(plan.language, Language::Portuguese);
    assert_eq!(search("não há xyzzy plúgh").await, ["web.sessions"]);
}
