//! Semantic retrieval: the embedding model, its cache, and life without it.

use std::sync::Arc;

use descoberta::retrieval::Visibility;
use descoberta::settings::{E5Questions, Settings};
use sqlx::Connection;

use crate::helpers::{Backend, TestApp, result_names, sample, spawn_custom, spawn_with};
use crate::llm_server::{FakeLlm, spawn_fake_llm};
use crate::on_both_backends;

on_both_backends!(reload_embeds_only_what_changed);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_retrieval_finds_meaning_without_shared_words() {
    finds_meaning_without_shared_words(|_| {}).await;
}

/// The same with the distilled encoder for questions in the catalog's language
/// (README, "Fast questions").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_questions_find_meaning_without_shared_words() {
    finds_meaning_without_shared_words(|s| s.embedding.e5_questions = E5Questions::Fast).await;
}

/// Questions that share no word with the dataset that answers them find it among the
/// first 3 results.
async fn finds_meaning_without_shared_words(configure: impl FnOnce(&mut Settings)) {
    let app = spawn_custom(Backend::Sqlite, None, configure).await;
    assert!(
        app.app.search.has_embedder(),
        "run scripts/setup to fetch the model"
    );
    let fast = app.settings.embedding.e5_questions == E5Questions::Fast;
    assert_eq!(app.app.search.fast_questions(), fast);
    let (_, body) = app.get_json("/readyz").await;
    assert_eq!(body["warnings"], serde_json::json!([]), "{body}");
    // Lexical alone, without the bilingual tables (which would match "assistant" to the
    // Portuguese "assistente"): it shares no word with these questions.
    let lexical = spawn_custom(Backend::Sqlite, None, |s| {
        s.embedding.enabled = false;
        s.retrieval.dictionary_dir = Some(s.data_dir.join("no-dictionary"));
    })
    .await;
    for (q, expected) in [
        ("parcels on the road", "logistics.shipments"),
        ("virtual assistant dialogues", "support.chatbot_messages"),
    ] {
        let path = format!("/v1/search?q={}", q.replace(' ', "+"));
        let (_, body) = app.get_json(&path).await;
        assert!(
            result_names(&body).iter().take(3).any(|n| n == expected),
            "{body}"
        );
        let (_, body) = lexical.get_json(&path).await;
        assert!(
            !result_names(&body).contains(&expected.to_string()),
            "no shared words, so lexical search alone must miss it: {body}"
        );
    }
}

/// A question the model must embed is matched by its words while it is embedded (when a
/// core is spare: alone, not among many); asked again, its vector comes from the memo and
/// it is ranked in one step. All give the same ranking, in English and in Portuguese
/// (through the companion).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_question_ranks_as_when_its_vector_is_remembered() {
    let app = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    assert!(
        app.app.search.has_embedder(),
        "run scripts/setup to fetch the model"
    );
    let model = "descoberta_question_embeddings_total{source=\"model\"}";
    let computed = || async {
        let metrics = app.get("/metrics").await.text().await.unwrap_or_default();
        sample(&metrics, model)
    };
    // The memo is shared by every service in this process: questions nobody asked.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for question in [
        "parcels on the road",
        "customer churn scores by month",
        "onde estao os dados de churn dos clientes",
    ] {
        let path = format!("/v1/search?q={}+{nonce}", question.replace(' ', "+"));
        let before = computed().await;
        let (status, first) = app.get_json(&path).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(computed().await - before, 1.0, "{question}: embedded once");
        let (status, again) = app.get_json(&path).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(computed().await - before, 1.0, "{question}: remembered");
        assert!(!result_names(&first).is_empty(), "{first}");
        assert_eq!(first["results"], again["results"], "{question}");
        assert_eq!(first["total"], again["total"], "{question}");
    }
    // Many new questions at once: most find no spare core.
    let paths: Vec<String> = (0..12)
        .map(|i| format!("/v1/search?q=customer+orders+and+churn+{nonce}x{i}"))
        .collect();
    let firsts = futures::future::join_all(paths.iter().map(|p| app.get_json(p))).await;
    for (path, (status, first)) in paths.iter().zip(firsts) {
        assert_eq!(status, 200, "{first}");
        let (_, again) = app.get_json(path).await;
        assert!(!result_names(&first).is_empty(), "{first}");
        assert_eq!(first["results"], again["results"], "{path}");
    }
}

/// `e5_questions = "cascade"`: each new question is read fast, and the least sure of them
/// are read again in full, each ranked exactly as the full setting or the fast one ranks it
/// (the first questions, with no others to compare with, all in full). Asked again, a
/// question is ranked as it was the first time, without a new decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cascade_reads_the_least_sure_questions_again_in_full() {
    let cascade = spawn_custom(Backend::Sqlite, None, |s| {
        s.embedding.e5_questions = E5Questions::Cascade;
    })
    .await;
    let full = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    let fast = spawn_custom(Backend::Sqlite, None, |s| {
        s.embedding.e5_questions = E5Questions::Fast;
    })
    .await;
    assert!(cascade.app.search.fast_questions() && !full.app.search.fast_questions());
    let decided = |reading: &'static str| {
        let app = &cascade;
        async move {
            let metrics = app.get("/metrics").await.text().await.unwrap_or_default();
            let name = format!("descoberta_cascade_decisions_total{{reading=\"{reading}\"}}");
            sample(&metrics, &name) as usize
        }
    };
    let topics = [
        "orders placed by customers",
        "customer churn probability",
        "commission paid to sellers",
        "revenue per day",
        "salaries by cost center",
        "survey answers about satisfaction",
        "parcels on the road",
        "virtual assistant dialogues",
        "product prices over time",
        "coupons used in campaigns",
        "fraud risk of payments",
        "refunds issued to buyers",
        "stock in the warehouses",
        "pages visited on the website",
        "what shoppers type in the search box",
        "tickets opened with support",
        "zip codes and cities",
        "reviews written after delivery",
        "data quality check failures",
        "recommended products for each customer",
    ];
    let questions: Vec<String> = topics
        .iter()
        .flat_map(|t| [t.to_string(), format!("{t} in detail")])
        .collect();
    let path = |q: &str| format!("/v1/search?q={}", q.replace(' ', "+"));
    let (mut as_full, mut as_fast) = (0, 0);
    let mut firsts = Vec::new();
    for (i, question) in questions.iter().enumerate() {
        let (status, body) = cascade.get_json(&path(question)).await;
        assert_eq!(status, 200, "{body}");
        let (_, by_full) = full.get_json(&path(question)).await;
        let (_, by_fast) = fast.get_json(&path(question)).await;
        let (is_full, is_fast) = (
            body["results"] == by_full["results"],
            body["results"] == by_fast["results"],
        );
        assert!(
            is_full || is_fast,
            "{question}: ranked neither as full nor as fast: {body}"
        );
        if i < descoberta::retrieval::cascade::FIRST {
            assert!(is_full, "{question}: among the first, read in full: {body}");
        }
        as_full += usize::from(is_full && !is_fast);
        as_fast += usize::from(is_fast && !is_full);
        firsts.push(body);
    }
    let (read_full, read_fast) = (decided("full").await, decided("fast").await);
    assert_eq!(read_full + read_fast, questions.len());
    assert!(
        read_full >= descoberta::retrieval::cascade::FIRST && read_fast >= 1,
        "{read_full} / {read_fast}"
    );
    // Where the two readings differ, the ranking says which one the question had.
    assert!(
        as_full <= read_full && as_fast <= read_fast,
        "{as_full} / {as_fast}"
    );
    assert!(as_fast >= 1, "no question kept its fast ranking");
    for (question, first) in questions.iter().zip(&firsts) {
        let (_, again) = cascade.get_json(&path(question)).await;
        assert_eq!(first["results"], again["results"], "{question}");
    }
    assert_eq!(
        decided("full").await + decided("fast").await,
        questions.len()
    );
    // A caller who sees other datasets gets a decision of their own (what they see decides
    // it), remembered for them too.
    for _ in 0..2 {
        let (status, body) = cascade.get_as_admin(&path(&questions[20])).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            decided("full").await + decided("fast").await,
            questions.len() + 1
        );
    }
    // So does a search within one domain (an agent's `search_datasets` with a domain): what it
    // ranks among decides it. The caller below is the anonymous one of the HTTP searches
    // above: without a domain, it finds their decision.
    let anonymous = Visibility::anonymous(cascade.settings.access.anonymous_level);
    let search = &cascade.app.search;
    let decisions = || async { decided("full").await + decided("fast").await };
    search.search(&questions[20], &anonymous, 10).await.unwrap();
    assert_eq!(decisions().await, questions.len() + 1);
    for _ in 0..2 {
        let (snapshot, ranked) = search
            .search_in(&questions[20], &anonymous, 10, Some("sales"))
            .await
            .unwrap();
        let sales = snapshot.in_domain("sales", &anonymous);
        assert!(!ranked.datasets.is_empty());
        assert!(ranked.datasets.iter().all(|d| sales.contains(&d.dataset)));
        assert_eq!(decisions().await, questions.len() + 2);
    }
}

/// The distilled question encoder fits only the model file it was distilled from: over
/// another, `/readyz` says so and questions keep the full model (with the cascade too:
/// there is nothing to read again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_questions_over_another_model_file_are_reported() {
    for questions in [E5Questions::Fast, E5Questions::Cascade] {
        let app = spawn_custom(Backend::Sqlite, None, |s| {
            s.embedding.e5_file = Some("e5-small-q4.bin".into());
            s.embedding.e5_questions = questions;
        })
        .await;
        let warning = the_one_warning(&app, "SHA-256").await;
        assert!(
            warning.contains("e5-small-enpt-q4.bin") && warning.contains("full model"),
            "{warning}"
        );
        assert!(!app.app.search.fast_questions());
        let (status, body) = app.get_json("/v1/search?q=parcels+on+the+road").await;
        assert_eq!(status, 200, "{body}");
        assert!(
            result_names(&body)
                .iter()
                .take(3)
                .any(|n| n == "logistics.shipments"),
            "{body}"
        );
        let metrics = app.get("/metrics").await.text().await.unwrap_or_default();
        assert!(
            !metrics.contains("descoberta_cascade_decisions_total{"),
            "{questions:?}: no decisions without the fast encoder"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_model_degrades_to_lexical_search_with_a_warning() {
    let app = spawn_custom(Backend::Sqlite, None, |s| {
        s.embedding.model_dir = Some("/nonexistent/model".into());
    })
    .await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let warning = the_one_warning(&app, "/nonexistent/model").await;
    assert!(warning.contains("lexical search only"), "{warning}");
    let (status, body) = app.get_json("/v1/search?q=customer+churn").await;
    assert_eq!(status, 200);
    assert_eq!(result_names(&body)[0], "crm.customer_churn_scores");
}

async fn embedding_rows(url: &str) -> i64 {
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM embeddings")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM embeddings")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

async fn reload_embeds_only_what_changed(backend: Backend) {
    let csv = "dataset,column,description\n\
        sales.orders,,Customer orders\nsales.orders,id,\n\
        crm.churn,,Churn scores\ncrm.churn,p,probability\n";
    let app = spawn_custom(backend, Some(csv), |_| {}).await;
    assert_eq!(embedding_rows(&app.database_url).await, 2);
    let metadata = app.settings.metadata_dir.clone();
    let url = app.database_url.clone();
    let (settings, tmp) = app.stop().await;
    std::fs::write(
        metadata.join("catalog.csv"),
        csv.replace("Churn scores", "Customer churn scores"),
    )
    .unwrap();
    let app = spawn_with(settings, tmp).await;
    assert_eq!(app.app.versions.snapshot().unwrap().version, 2);
    // One dataset changed: one new vector; the unchanged one came from the cache.
    assert_eq!(embedding_rows(&url).await, 3);
}

/// Embeddings from the test server at `base` instead of the local model (which is absent).
fn remote_embeddings(s: &mut Settings, base: String) {
    s.embedding.model_dir = Some("/nonexistent/model".into());
    s.embedding.base_url = Some(base);
    s.embedding.model = Some("test-embedding".into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_compatible_embeddings_endpoint_can_replace_the_local_model() {
    let fake = spawn_fake_llm().await;
    let base = fake.base_url.clone();
    let app = spawn_custom(Backend::Sqlite, None, move |s| remote_embeddings(s, base)).await;
    assert!(app.app.search.has_embedder());
    let (_, ready) = app.get_json("/readyz").await;
    assert!(ready["warnings"].as_array().unwrap().is_empty(), "{ready}");
    let (_, body) = app.get_json("/v1/search?q=customer+churn").await;
    assert_eq!(result_names(&body)[0], "crm.customer_churn_scores");
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r["model"] == "test-embedding"));
    // The catalog was embedded at load (40 datasets), then the query.
    let inputs: usize = requests
        .iter()
        .map(|r| r["input"].as_array().map_or(1, Vec::len))
        .sum();
    assert_eq!(inputs, 41, "{requests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portuguese_questions_find_english_names_and_the_reverse() {
    let app = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    for (q, expected) in [
        // Portuguese questions, English-named datasets.
        (
            "quais transportadoras entregam as encomendas",
            "logistics.carriers",
        ),
        (
            "onde ficam as avaliações dos pedidos",
            "reviews.order_reviews",
        ),
        // An English question, a Portuguese-named dataset with no English text.
        ("tax invoices issued", "raw.erp_notas_fiscais_stg"),
    ] {
        let path = format!("/v1/search?q={}", q.replace(' ', "+"));
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 200);
        assert!(
            result_names(&body).iter().take(5).any(|n| n == expected),
            "{q}: {:?}",
            result_names(&body)
        );
    }
}

/// The one warning `/readyz` (200) gives anyone, which must not name `internal` (a path:
/// which file, and why, is for operators); an admin gets the same text with `internal` in it.
async fn the_one_warning(app: &TestApp, internal: &str) -> String {
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["warnings"].as_array().map(Vec::len), Some(1), "{body}");
    let warning = body["warnings"][0].as_str().unwrap().to_string();
    assert!(!warning.contains(internal), "{warning}");
    let (_, body) = app.get_as_admin("/readyz").await;
    let detail = body["warnings"][0].as_str().unwrap();
    assert!(
        detail.contains(&warning) && detail.contains(internal),
        "{detail}"
    );
    warning
}

/// Without the bilingual word tables, Portuguese questions still answer (through the
/// built-in words and the model), and `/readyz` says what is missing: where, to operators.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_word_tables_are_reported() {
    let app = spawn_custom(Backend::Sqlite, None, |s| {
        s.retrieval.dictionary_dir = Some(s.data_dir.join("no-dictionary"));
    })
    .await;
    let warning = the_one_warning(&app, "no-dictionary").await;
    assert!(warning.contains("no bilingual word tables"), "{warning}");
    let (status, body) = app.get_json("/v1/search?q=pedidos+dos+clientes").await;
    assert_eq!(status, 200, "{body}");
    assert!(!result_names(&body).is_empty(), "{body}");
}

/// Without its cross-lingual companion (here: unreadable files), e5 serves alone: search
/// stays semantic, Portuguese questions still answer, and `/readyz` says what is missing,
/// since Portuguese questions then find fewer English-named datasets (the README measures
/// how many).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_cross_lingual_companion_is_reported_and_e5_serves_alone() {
    let healthy = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    let (_, body) = healthy.get_json("/readyz").await;
    assert_eq!(body["warnings"], serde_json::json!([]), "{body}");
    let app = spawn_custom(Backend::Sqlite, None, |s| {
        let dir = s.data_dir.join("broken-companion");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("weights.npz"), b"PK\x03\x04 not a zip").unwrap();
        std::fs::write(dir.join("sp.model"), b"not a sentencepiece model").unwrap();
        s.embedding.cross_lingual_dir = Some(dir);
    })
    .await;
    let warning = the_one_warning(&app, "broken-companion").await;
    assert!(
        warning.contains("no cross-lingual companion") && warning.contains("Portuguese"),
        "{warning}"
    );
    assert!(app.app.search.has_embedder());
    for (q, expected) in [
        ("parcels on the road", "logistics.shipments"),
        (
            "quais transportadoras entregam as encomendas",
            "logistics.carriers",
        ),
    ] {
        let (status, body) = app
            .get_json(&format!("/v1/search?q={}", q.replace(' ', "+")))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            result_names(&body).iter().take(5).any(|n| n == expected),
            "{q}: {:?}",
            result_names(&body)
        );
    }
}

/// A search of the demo catalog answers (lexically, when no semantic index serves).
async fn churn_is_found(app: &TestApp) {
    let (status, body) = app.get_json("/v1/search?q=customer+churn").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(result_names(&body)[0], "crm.customer_churn_scores");
}

/// The texts a list of recorded requests asked the embeddings endpoint for.
fn embedded_texts(requests: &[serde_json::Value]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|r| r["input"].as_array())
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect()
}

/// The service on the demo catalog with the test server's embeddings, warming `warm`
/// questions at start: asks each of `questions` (URL-encoded, how many times), then stops.
/// Returns what a restart needs and what each question's search sent to the endpoint (once:
/// the repeats hit the memo).
async fn ask_then_stop(
    fake: &FakeLlm,
    warm: usize,
    questions: &[(&str, usize)],
) -> (Settings, Arc<tempfile::TempDir>, Vec<String>) {
    let base = fake.base_url.clone();
    let app = spawn_custom(Backend::Sqlite, None, move |s| {
        remote_embeddings(s, base);
        s.retrieval.warm_questions = warm;
    })
    .await;
    let mut sent = Vec::new();
    for &(q, times) in questions {
        let before = fake.requests().len();
        for _ in 0..times {
            let (status, body) = app.get_json(&format!("/v1/search?q={q}")).await;
            assert_eq!(status, 200, "{body}");
        }
        let texts = embedded_texts(&fake.requests()[before..]);
        assert_eq!(texts.len(), 1, "{q}: {texts:?}");
        sent.push(texts[0].clone());
    }
    app.app
        .governance
        .flush_question_log(std::time::Duration::from_secs(5))
        .await;
    let (settings, tmp) = app.stop().await;
    (settings, tmp, sent)
}

/// Waits (30 s at most) until the test server has received `n` embedding texts since
/// request `since`; returns those it has.
async fn texts_since(fake: &FakeLlm, since: usize, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    for _ in 0..600 {
        texts = embedded_texts(&fake.requests()[since..]);
        if texts.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_embeds_the_most_asked_questions_before_they_come_again() {
    let fake = spawn_fake_llm().await;
    let questions = [
        ("customer+churn+scores", 3),
        ("pedidos+por+cliente", 4),
        ("warehouse+stock+levels", 1),
    ];
    let (settings, tmp, sent) = ask_then_stop(&fake, 2, &questions).await;

    // The catalog's vectors come from the store: whatever is asked now is the warming.
    let before = fake.requests().len();
    let app = spawn_with(settings, tmp).await;
    let warmed = texts_since(&fake, before, 2).await;
    // The two most asked, the most asked first, as their searches embed them.
    assert_eq!(warmed, [sent[1].clone(), sent[0].clone()]);
    let before = fake.requests().len();
    for (q, _) in &questions[..2] {
        let (status, body) = app.get_json(&format!("/v1/search?q={q}")).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        embedded_texts(&fake.requests()[before..]),
        Vec::<String>::new(),
        "warmed questions are not embedded again"
    );
    let (status, _) = app
        .get_json(&format!("/v1/search?q={}", questions[2].0))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        embedded_texts(&fake.requests()[before..]),
        [sent[2].clone()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_stops_at_the_first_question_the_model_fails() {
    let fake = spawn_fake_llm().await;
    let questions = [
        ("customer+churn+scores", 3),
        ("pedidos+por+cliente", 2),
        ("warehouse+stock+levels", 1),
    ];
    let (settings, tmp, sent) = ask_then_stop(&fake, 3, &questions).await;
    fake.refuse_embeddings(true);
    let before = fake.requests().len();
    let app = spawn_with(settings, tmp).await;
    assert_eq!(texts_since(&fake, before, 1).await, [sent[0].clone()]);
    // Had it gone on, the other two would follow at once (each refusal takes a round trip
    // on loopback); searches still answer, lexically.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        embedded_texts(&fake.requests()[before..]),
        [sent[0].clone()]
    );
    churn_is_found(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_gives_up_without_a_semantic_index_and_embeds_no_question() {
    let fake = spawn_fake_llm().await;
    let questions = [("customer+churn+scores", 2), ("pedidos+por+cliente", 2)];
    let (mut settings, tmp, sent) = ask_then_stop(&fake, 2, &questions).await;
    // Another model: the store holds no vectors of it, and the endpoint refuses to make
    // them, so the restarted service never gets a semantic index.
    settings.embedding.model = Some("another-embedding".into());
    fake.refuse_embeddings(true);
    let before = fake.requests().len();
    let app = spawn_with(settings, tmp).await;
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.app
            .clone()
            .warm_query_cache_within(std::time::Duration::from_millis(500)),
    )
    .await;
    assert!(gave_up.is_ok(), "warming kept waiting for a semantic index");
    assert!(app.app.search.snapshot().unwrap().semantic().is_none());
    let asked = embedded_texts(&fake.requests()[before..]);
    assert!(
        sent.iter().all(|q| !asked.contains(q)),
        "a question was embedded: {asked:?}"
    );
    // Searches still answer, lexically.
    churn_is_found(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_serves_lexically_while_the_embeddings_endpoint_is_down_then_semantically() {
    let fake = spawn_fake_llm().await;
    fake.refuse_embeddings(true);
    let base = fake.base_url.clone();
    let app = spawn_custom(Backend::Sqlite, None, move |s| remote_embeddings(s, base)).await;
    // The load went through: the catalog is live, lexically, and /readyz says why from the
    // first moment (the load's own attempt failed; the background one retries it).
    assert!(app.app.search.snapshot().unwrap().semantic().is_none());
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert!(
        ready["warnings"]
            .to_string()
            .contains("the embedding model failed and is retried"),
        "{ready}"
    );
    // Only the load's own attempt so far: the retry waits a pause (1 s first), it does not
    // knock again at once on an endpoint that has just refused.
    let attempts = |fake: &FakeLlm| {
        let requests = fake.requests();
        requests.iter().filter(|r| r["input"].is_array()).count()
    };
    assert_eq!(attempts(&fake), 1);
    churn_is_found(&app).await;
    // The endpoint is back: a retry builds the semantic index, and the warning goes.
    fake.refuse_embeddings(false);
    let ready = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        app.app.versions.wait_for_semantic_index(),
    )
    .await;
    assert!(
        ready.is_ok(),
        "no semantic index after the endpoint came back"
    );
    let (_, ready) = app.get_json("/readyz").await;
    assert_eq!(ready["warnings"], serde_json::json!([]), "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_does_not_wait_for_an_embeddings_endpoint_that_hangs() {
    let fake = spawn_fake_llm().await;
    let base = fake.base_url.clone();
    let app = spawn_custom(Backend::Sqlite, None, move |s| {
        remote_embeddings(s, base);
        s.embedding.question_timeout_ms = 200;
    })
    .await;
    assert!(app.app.search.snapshot().unwrap().semantic().is_some());
    // From now on the endpoint takes every request and never answers (the service's HTTP
    // client would wait 60 s): the search answers lexically once its question's wait ends.
    fake.hang_embeddings(true);
    let before = fake.requests().len();
    let answered =
        tokio::time::timeout(std::time::Duration::from_secs(30), churn_is_found(&app)).await;
    assert!(answered.is_ok(), "the search waited for the endpoint");
    assert_eq!(
        embedded_texts(&fake.requests()[before..]).len(),
        1,
        "the question was sent"
    );
}
