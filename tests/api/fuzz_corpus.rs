//! The regression corpus (`tests/corpus/`): inputs that once were, or could be, trouble for
//! the CSV parser and the query analyzer. Each must be handled without a panic: a CSV is
//! either a catalog or a list of problems each with a line; every query gives a plan, and
//! the live service answers it with 200.

use descoberta::catalog::parse_catalog;
use descoberta::retrieval::highlight::Highlighter;
use descoberta::retrieval::understand;

use crate::helpers::{Backend, repo_path, spawn_app};

#[test]
fn every_corpus_csv_is_a_catalog_or_line_numbered_problems() {
    let dir = repo_path("tests/corpus/csv");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    files.sort_by_key(|f| f.file_name());
    assert!(files.len() >= 10);
    for file in files {
        let bytes = std::fs::read(file.path()).unwrap();
        let name = file.file_name().to_string_lossy().to_string();
        match parse_catalog([(name.clone(), &bytes[..])], 1 << 20) {
            Ok(catalog) => assert!(!catalog.datasets.is_empty(), "{name}"),
            Err(invalid) => {
                assert!(invalid.total_problems >= 1, "{name}");
                for p in &invalid.problems {
                    assert_eq!(p.file, name);
                    assert!(!p.message.is_empty(), "{name}");
                }
            }
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
