//! The regression corpus (`tests/corpus/`): inputs that once were, or could be, trouble for
//! the CSV parser and the query analyzer. Each must be handled without a panic: a CSV is
//! either a catalog or a list of problems each with a line; every query gives a plan, and
//! the live service answers it with 200.

use descoberta::retrieval::highlight::Highlighter;
use descoberta::retrieval::understand;
use descoberta::sources::parse_catalog;

use crate::helpers::{Backend, repo_path, spawn_app};

/// What each corpus file must give: a catalog of so many datasets, or a problem on a line
/// whose message contains some text.
enum Expected {
    Catalog(usize),
    Problem(u64, &'static str),
}

const CSV_CORPUS: &[(&str, Expected)] = &[
    ("case.csv", Expected::Catalog(1)),
    (
        "control_chars.csv",
        Expected::Problem(2, "control characters"),
    ),
    ("crlf.csv", Expected::Catalog(1)),
    ("double_bom.csv", Expected::Catalog(1)),
    (
        "duplicate_header.csv",
        Expected::Problem(1, "appears twice"),
    ),
    (
        "empty_header.csv",
        Expected::Problem(1, "header 1 is empty"),
    ),
    ("empty_list_items.csv", Expected::Catalog(1)),
    ("long_name.csv", Expected::Problem(2, "longer than 512")),
    (
        "multiline_and_bad_utf8.csv",
        Expected::Problem(5, "invalid UTF-8"),
    ),
    (
        "unterminated_quote.csv",
        Expected::Problem(2, "fields but the header has"),
    ),
];

#[test]
fn every_corpus_csv_gives_its_pinned_outcome() {
    let dir = repo_path("tests/corpus/csv");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|f| f.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let listed: Vec<&str> = CSV_CORPUS.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, listed, "every corpus file has a pinned outcome");
    for (name, expected) in CSV_CORPUS {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let outcome = parse_catalog([(name.to_string(), &bytes[..])], 1 << 20);
        match (expected, outcome) {
            (Expected::Catalog(n), Ok(catalog)) => assert_eq!(catalog.datasets.len(), *n, "{name}"),
            (Expected::Problem(line, text), Err(invalid)) => {
                let first = &invalid.problems[0];
                assert_eq!(first.file, *name);
                assert_eq!(first.line, *line, "{name}: {first:?}");
                assert!(first.message.contains(text), "{name}: {first:?}");
            }
            (_, Ok(_)) => panic!("{name}: parsed, but a problem was expected"),
            (_, Err(invalid)) => panic!("{name}: unexpected problems {:?}", invalid.problems),
        }
    }
}

fn corpus_queries() -> Vec<String> {
    std::fs::read_to_string(repo_path("tests/corpus/queries.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

#[test]
fn every_corpus_query_is_understood_and_highlighted() {
    for q in corpus_queries() {
        let plan = understand(&q);
        let mut h = Highlighter::new(&plan.lexical.en, &plan.lexical.pt);
        let _ = h.highlight(&q);
        let _ = plan.key();
        let _ = plan.semantic_text();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_every_corpus_query() {
    let app = spawn_app(Backend::Sqlite).await;
    for q in corpus_queries() {
        for path in ["/v1/search", "/v1/suggest"] {
            let res = app
                .client
                .get(app.url(path))
                .query(&[("q", q.as_str())])
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            assert!(
                status == 200 || (status == 400 && q.trim().is_empty()),
                "{path} {q:?}: {status}"
            );
        }
    }
}
