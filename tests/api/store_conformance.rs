//! Store conformance: every method of the store traits (`VersionStore`, `GovernanceStore`,
//! `EmbeddingCache`) behaves the same on SQLite and on Postgres. Each test connects through
//! `descoberta::store::connect` to a fresh database, as the service does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use descoberta::catalog::{Catalog, Column, Dataset, Sensitivity};
use descoberta::store::{
    ApiKeyRecord, AuditEntry, FeedbackEntry, NewVersion, QuestionLogEntry, SourceRecord, Store,
    SyncRecord, VersionInfo, connect, now_ms,
};
use futures::StreamExt;
use secrecy::SecretString;

use crate::helpers::{Backend, fresh_database};
use crate::on_both_backends;

on_both_backends!(
    a_fresh_store_is_reachable_and_empty,
    the_backend_is_named_by_the_url,
    a_catalog_round_trips_through_a_version,
    a_new_version_is_listed_inactive_and_never_activated,
    versions_are_listed_newest_first,
    activation_moves_the_active_flag_and_keeps_the_first_activation_time,
    activating_an_unknown_version_fails_and_changes_nothing,
    activation_is_announced_to_listeners_where_the_backend_can,
    latest_source_hash_is_that_of_the_newest_activated_version_of_the_source,
    pruning_keeps_the_newest_versions_and_never_the_active_one,
    delete_version_removes_a_version_and_its_rows,
    deleting_the_active_version_never_loses_it,
    the_audit_log_is_newest_first_and_limited,
    the_instance_id_is_stable_across_connections,
    api_keys_are_created_listed_and_revoked_once,
    a_second_api_key_with_the_same_id_is_refused,
    feedback_is_counted_per_question_and_dataset,
    the_question_log_is_read_newest_first_from_a_time,
    the_question_log_is_pruned_by_age,
    embeddings_are_cached_by_model_and_hash,
    caching_an_embedding_again_keeps_the_first,
    many_embeddings_are_cached_and_read_in_batches,
    sources_are_registered_once_and_their_syncs_read_newest_first,
);

/// A store on a fresh database (the directory holds the SQLite file).
async fn open(backend: Backend) -> (tempfile::TempDir, String, Arc<dyn Store>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(backend, tmp.path()).await;
    let store = connect(&SecretString::from(url.clone()))
        .await
        .expect("store connects and migrates");
    (tmp, url, store)
}

fn column(
    name: &str,
    description: Option<&str>,
    data_type: Option<&str>,
    tags: &[&str],
    properties: &[(&str, &str)],
) -> Column {
    Column {
        name: name.into(),
        description: description.map(str::to_string),
        data_type: data_type.map(str::to_string),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        properties: properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        references: Vec::new(),
    }
}

/// A catalog that uses every field: all sensitivities, groups, tags, properties, unicode and
/// quotes in text, a dataset without columns between two with columns.
fn rich_catalog() -> Catalog {
    let mut orders = Dataset::new("sales.orders");
    orders.description = Some(
        "Pedidos faturados — São Paulo, 東京, 📦; \"quoted\", 'single', back\\slash\nsecond line"
            .into(),
    );
    orders.owner = Some("sales-team".into());
    orders.domain = Some("sales".into());
    orders.location = Some("s3://lake/gold/sales/orders/".into());
    orders.sensitivity = Sensitivity::Public;
    orders.tags = vec!["gold".into(), "ação".into()];
    orders.properties = BTreeMap::from([
        ("refresh".to_string(), "daily".to_string()),
        ("sla_ñ".to_string(), "4h".to_string()),
    ]);
    orders.columns = vec![
        column(
            "order_id",
            Some("Chave do pedido (única)"),
            Some("bigint"),
            &["key"],
            &[("unique", "true")],
        ),
        column("total_amount", None, None, &[], &[]),
    ];

    let mut empty = Dataset::new("ops.empty");
    empty.description = Some("".into());

    let mut salaries = Dataset::new("hr.salaries");
    salaries.description = Some("Salários e bônus".into());
    salaries.sensitivity = Sensitivity::Restricted;
    salaries.allowed_groups = vec!["hr".into(), "payroll".into()];
    salaries.columns = vec![column(
        "salary_brl",
        Some("Salário mensal em R$"),
        Some("numeric(12,2)"),
        &["pii"],
        &[],
    )];

    let mut ledger = Dataset::new("fin.ledger");
    ledger.sensitivity = Sensitivity::Confidential;
    ledger.allowed_groups = vec!["finance".into()];

    Catalog::new(vec![orders, empty, salaries, ledger])
}

fn small_catalog(name: &str) -> Catalog {
    let mut d = Dataset::new(name);
    d.columns = vec![column("id", Some("Key"), None, &[], &[])];
    Catalog::new(vec![d])
}

fn meta(source: &str, hash: Option<&str>) -> NewVersion {
    NewVersion {
        created_by: "conformance".into(),
        source: source.into(),
        source_hash: hash.map(str::to_string),
        note: Some("written by the conformance test ✓".into()),
    }
}

async fn create(store: &Arc<dyn Store>, catalog: &Catalog, source: &str) -> VersionInfo {
    store
        .create_version(catalog, &meta(source, None))
        .await
        .expect("create_version")
}

async fn ids(store: &Arc<dyn Store>) -> Vec<i64> {
    store
        .versions()
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect()
}

// ---- VersionStore ----

async fn a_fresh_store_is_reachable_and_empty(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    store.ping().await.expect("ping");
    assert_eq!(store.active_version().await.unwrap(), None);
    assert!(store.versions().await.unwrap().is_empty());
    assert!(store.audit_log(10).await.unwrap().is_empty());
    assert!(store.api_keys().await.unwrap().is_empty());
    assert!(store.feedback_counts().await.unwrap().is_empty());
    assert!(store.questions_since(0, 10).await.unwrap().is_empty());
    assert_eq!(store.latest_source_hash("directory").await.unwrap(), None);
    assert_eq!(store.prune_versions(0).await.unwrap(), 0);
}

async fn the_backend_is_named_by_the_url(backend: Backend) {
    let (_tmp, url, store) = open(backend).await;
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(store.backend(), expected);
    assert!(url.starts_with(expected), "{url}");
}

async fn a_catalog_round_trips_through_a_version(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let catalog = rich_catalog();
    let info = store
        .create_version(&catalog, &meta("upload", Some("hash-1")))
        .await
        .unwrap();
    assert_eq!(info.datasets, 4);
    assert_eq!(info.columns, 3);
    assert_eq!(store.load_catalog(info.version).await.unwrap(), catalog);
    // A second version of another catalog does not mix with the first.
    let other = small_catalog("web.sessions");
    let second = create(&store, &other, "upload").await;
    assert_eq!(store.load_catalog(second.version).await.unwrap(), other);
    assert_eq!(store.load_catalog(info.version).await.unwrap(), catalog);
}

async fn a_new_version_is_listed_inactive_and_never_activated(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let before = now_ms();
    let info = store
        .create_version(&rich_catalog(), &meta("cli", Some("hash-1")))
        .await
        .unwrap();
    assert!(info.version > 0);
    assert!(info.created_at_ms >= before && info.created_at_ms <= now_ms());
    assert_eq!(info.created_by, "conformance");
    assert_eq!(info.source, "cli");
    assert_eq!(info.source_hash.as_deref(), Some("hash-1"));
    assert_eq!(
        info.note.as_deref(),
        Some("written by the conformance test ✓")
    );
    assert!(!info.active);
    assert_eq!(info.activated_at_ms, None);
    assert_eq!(
        store.version(info.version).await.unwrap(),
        Some(info.clone())
    );
    assert_eq!(store.versions().await.unwrap(), vec![info.clone()]);
    assert_eq!(store.version(info.version + 1000).await.unwrap(), None);
    assert_eq!(store.active_version().await.unwrap(), None);
}

async fn versions_are_listed_newest_first(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let mut created = Vec::new();
    for name in ["a.one", "b.two", "c.three"] {
        created.push(create(&store, &small_catalog(name), "upload").await.version);
    }
    assert!(created.windows(2).all(|w| w[0] < w[1]), "{created:?}");
    created.reverse();
    assert_eq!(ids(&store).await, created);
}

async fn activation_moves_the_active_flag_and_keeps_the_first_activation_time(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let v1 = create(&store, &small_catalog("a.one"), "upload").await;
    let v2 = create(&store, &small_catalog("b.two"), "upload").await;

    let before = now_ms();
    store.activate(v1.version).await.unwrap();
    assert_eq!(store.active_version().await.unwrap(), Some(v1.version));
    let one = store.version(v1.version).await.unwrap().unwrap();
    assert!(one.active);
    let first_activation = one.activated_at_ms.expect("activated_at_ms is set");
    assert!(first_activation >= before && first_activation <= now_ms());
    let two = store.version(v2.version).await.unwrap().unwrap();
    assert!(!two.active);
    assert_eq!(two.activated_at_ms, None);

    store.activate(v2.version).await.unwrap();
    assert_eq!(store.active_version().await.unwrap(), Some(v2.version));
    let list = store.versions().await.unwrap();
    let active: Vec<i64> = list
        .iter()
        .filter(|v| v.active)
        .map(|v| v.version)
        .collect();
    assert_eq!(active, [v2.version], "exactly one version is active");
    assert!(list.iter().all(|v| v.activated_at_ms.is_some()));

    // Back to the first: it keeps the time it was first activated.
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.activate(v1.version).await.unwrap();
    assert_eq!(store.active_version().await.unwrap(), Some(v1.version));
    let one = store.version(v1.version).await.unwrap().unwrap();
    assert!(one.active);
    assert_eq!(one.activated_at_ms, Some(first_activation));
    assert!(!store.version(v2.version).await.unwrap().unwrap().active);
}

async fn activating_an_unknown_version_fails_and_changes_nothing(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let v1 = create(&store, &small_catalog("a.one"), "upload").await;
    assert!(store.activate(v1.version + 1000).await.is_err());
    assert_eq!(store.active_version().await.unwrap(), None);
    store.activate(v1.version).await.unwrap();
    assert!(store.activate(v1.version + 1000).await.is_err());
    assert_eq!(store.active_version().await.unwrap(), Some(v1.version));
    assert_eq!(ids(&store).await, [v1.version]);
}

async fn activation_is_announced_to_listeners_where_the_backend_can(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let listener = store.listen_active().await.unwrap();
    match backend {
        Backend::Sqlite => assert!(listener.is_none(), "SQLite has no notifications"),
        Backend::Postgres => {
            let mut stream = listener.expect("Postgres LISTENs");
            let v1 = create(&store, &small_catalog("a.one"), "upload").await;
            store.activate(v1.version).await.unwrap();
            tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("an activation is announced")
                .expect("the stream is open");
        }
    }
}

async fn latest_source_hash_is_that_of_the_newest_activated_version_of_the_source(
    backend: Backend,
) {
    let (_tmp, _, store) = open(backend).await;
    let catalog = small_catalog("a.one");
    let d1 = store
        .create_version(&catalog, &meta("directory", Some("dir-1")))
        .await
        .unwrap();
    assert_eq!(
        store.latest_source_hash("directory").await.unwrap(),
        None,
        "a version never activated does not count"
    );
    store.activate(d1.version).await.unwrap();
    assert_eq!(
        store
            .latest_source_hash("directory")
            .await
            .unwrap()
            .as_deref(),
        Some("dir-1")
    );
    let d2 = store
        .create_version(&catalog, &meta("directory", Some("dir-2")))
        .await
        .unwrap();
    let upload = store
        .create_version(&catalog, &meta("upload", Some("up-1")))
        .await
        .unwrap();
    store.activate(upload.version).await.unwrap();
    assert_eq!(
        store
            .latest_source_hash("directory")
            .await
            .unwrap()
            .as_deref(),
        Some("dir-1"),
        "dir-2 was never active; the upload is another source"
    );
    assert_eq!(
        store.latest_source_hash("upload").await.unwrap().as_deref(),
        Some("up-1")
    );
    store.activate(d2.version).await.unwrap();
    store.activate(upload.version).await.unwrap();
    assert_eq!(
        store
            .latest_source_hash("directory")
            .await
            .unwrap()
            .as_deref(),
        Some("dir-2"),
        "once active, always counted"
    );
    assert_eq!(store.latest_source_hash("cli").await.unwrap(), None);
}

async fn pruning_keeps_the_newest_versions_and_never_the_active_one(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let catalog = rich_catalog();
    let mut v = Vec::new();
    for _ in 0..5 {
        v.push(create(&store, &catalog, "upload").await.version);
    }
    store.activate(v[0]).await.unwrap();
    assert_eq!(store.prune_versions(2).await.unwrap(), 2);
    assert_eq!(ids(&store).await, [v[4], v[3], v[0]]);
    assert_eq!(store.prune_versions(2).await.unwrap(), 0);
    assert_eq!(store.prune_versions(0).await.unwrap(), 2);
    assert_eq!(ids(&store).await, [v[0]]);
    assert_eq!(store.prune_versions(0).await.unwrap(), 0);
    assert_eq!(store.active_version().await.unwrap(), Some(v[0]));
    assert_eq!(store.load_catalog(v[0]).await.unwrap(), catalog);
}

async fn delete_version_removes_a_version_and_its_rows(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let kept = create(&store, &small_catalog("a.one"), "upload").await;
    store.activate(kept.version).await.unwrap();
    let doomed = create(&store, &rich_catalog(), "upload").await;
    store.delete_version(doomed.version).await.unwrap();
    assert_eq!(ids(&store).await, [kept.version]);
    assert_eq!(store.version(doomed.version).await.unwrap(), None);
    if let Ok(catalog) = store.load_catalog(doomed.version).await {
        assert!(
            catalog.datasets.is_empty(),
            "rows of a deleted version remain"
        );
    }
    assert_eq!(
        store.load_catalog(kept.version).await.unwrap(),
        small_catalog("a.one")
    );
    // The next version gets a new number, and its rows are its own.
    let next = create(&store, &small_catalog("b.two"), "upload").await;
    assert!(next.version > doomed.version);
    assert_eq!(
        store.load_catalog(next.version).await.unwrap(),
        small_catalog("b.two")
    );
}

async fn deleting_the_active_version_never_loses_it(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let catalog = rich_catalog();
    let active = create(&store, &catalog, "upload").await;
    store.activate(active.version).await.unwrap();
    // Callers never do this; if one did, the version being served must survive whole.
    let _ = store.delete_version(active.version).await;
    assert_eq!(store.active_version().await.unwrap(), Some(active.version));
    assert_eq!(store.load_catalog(active.version).await.unwrap(), catalog);
    assert!(store.version(active.version).await.unwrap().unwrap().active);
}

fn audit(at_ms: i64, actor: &str, action: &str, version: Option<i64>, outcome: &str) -> AuditEntry {
    AuditEntry {
        at_ms,
        actor: actor.into(),
        action: action.into(),
        version,
        outcome: outcome.into(),
        detail: None,
    }
}

async fn the_audit_log_is_newest_first_and_limited(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let first = audit(1_000, "startup", "load", Some(1), "ok");
    let mut second = audit(2_000, "alice", "load", None, "invalid");
    second.detail = Some("3 problems: línea 2, «sensitivity»".into());
    let third = audit(3_000, "bob", "activate", Some(1), "busy");
    for entry in [&first, &second, &third] {
        store.record_audit(entry).await.unwrap();
    }
    assert_eq!(
        store.audit_log(10).await.unwrap(),
        [third.clone(), second.clone(), first]
    );
    assert_eq!(store.audit_log(2).await.unwrap(), [third.clone(), second]);
    assert_eq!(store.audit_log(1).await.unwrap(), [third]);
    assert!(store.audit_log(0).await.unwrap().is_empty());
}

async fn the_instance_id_is_stable_across_connections(backend: Backend) {
    let (_tmp, url, store) = open(backend).await;
    let id = store.instance_id().await.unwrap();
    assert!(!id.is_empty());
    assert_eq!(store.instance_id().await.unwrap(), id);
    let again = connect(&SecretString::from(url)).await.unwrap();
    assert_eq!(again.instance_id().await.unwrap(), id);
    // Another database has another id.
    let (_other_tmp, _, other) = open(backend).await;
    assert_ne!(other.instance_id().await.unwrap(), id);
}

// ---- GovernanceStore ----

fn key(id: &str, groups: &[&str], created_at_ms: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        name: format!("key {id} — ünïcode"),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        created_at_ms,
        created_by: "admin".into(),
        revoked_at_ms: None,
    }
}

async fn api_keys_are_created_listed_and_revoked_once(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let hr = key("k1", &["hr", "sales"], 1_000);
    let plain = key("k2", &[], 2_000);
    store.create_api_key(&hr, "hash-of-k1").await.unwrap();
    store.create_api_key(&plain, "hash-of-k2").await.unwrap();
    assert_eq!(
        store.api_keys().await.unwrap(),
        vec![
            (hr.clone(), "hash-of-k1".to_string()),
            (plain.clone(), "hash-of-k2".to_string())
        ]
    );

    let before = now_ms();
    assert!(store.revoke_api_key("k1").await.unwrap());
    assert!(
        !store.revoke_api_key("k1").await.unwrap(),
        "a key is revoked once"
    );
    assert!(!store.revoke_api_key("no-such-key").await.unwrap());
    let keys = store.api_keys().await.unwrap();
    assert_eq!(keys.len(), 2, "revoked keys are still listed");
    let revoked_at = keys[0].0.revoked_at_ms.expect("k1 is revoked");
    assert!(revoked_at >= before && revoked_at <= now_ms());
    assert_eq!(
        keys[0].0,
        ApiKeyRecord {
            revoked_at_ms: Some(revoked_at),
            ..hr
        }
    );
    assert_eq!(keys[1], (plain, "hash-of-k2".to_string()));
}

async fn a_second_api_key_with_the_same_id_is_refused(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let first = key("k1", &["hr"], 1_000);
    store.create_api_key(&first, "hash-a").await.unwrap();
    assert!(
        store
            .create_api_key(&key("k1", &["admin"], 2_000), "hash-b")
            .await
            .is_err()
    );
    assert!(
        store
            .create_api_key(&key("k2", &[], 3_000), "hash-a")
            .await
            .is_err(),
        "two keys never share a hash"
    );
    assert_eq!(
        store.api_keys().await.unwrap(),
        vec![(first, "hash-a".to_string())]
    );
}

fn vote(question: &str, question_key: &str, dataset: &str, helpful: bool) -> FeedbackEntry {
    FeedbackEntry {
        question: question.into(),
        question_key: question_key.into(),
        dataset: dataset.into(),
        helpful,
        key_id: helpful.then(|| "k1".to_string()),
    }
}

async fn feedback_is_counted_per_question_and_dataset(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    for entry in [
        vote("Customer orders?", "custom order", "sales.orders", true),
        vote("customer orders", "custom order", "sales.orders", true),
        vote("Customer orders?", "custom order", "sales.orders", false),
        vote("Customer orders?", "custom order", "sales.orders_us", true),
        vote(
            "pedidos dos clientes?",
            "pedid client",
            "sales.orders",
            false,
        ),
    ] {
        store.record_feedback(&entry).await.unwrap();
    }
    let mut counts = store.feedback_counts().await.unwrap();
    counts.sort_by(|a, b| (&a.question_key, &a.dataset).cmp(&(&b.question_key, &b.dataset)));
    let summary: Vec<(&str, &str, i64, i64)> = counts
        .iter()
        .map(|c| (c.question_key.as_str(), c.dataset.as_str(), c.up, c.down))
        .collect();
    assert_eq!(
        summary,
        [
            ("custom order", "sales.orders", 2, 1),
            ("custom order", "sales.orders_us", 1, 0),
            ("pedid client", "sales.orders", 0, 1),
        ]
    );
    assert!(
        ["Customer orders?", "customer orders"].contains(&counts[0].example.as_str()),
        "the example is one of the questions as asked: {}",
        counts[0].example
    );
    assert_eq!(counts[1].example, "Customer orders?");
    assert_eq!(counts[2].example, "pedidos dos clientes?");
}

fn question(at_ms: i64, text: &str) -> QuestionLogEntry {
    QuestionLogEntry {
        at_ms,
        source: if at_ms % 2000 == 0 { "search" } else { "ask" }.into(),
        question: text.into(),
        question_key: text.to_lowercase(),
        key_id: (at_ms > 1_000).then(|| "k1".to_string()),
        top_datasets: vec!["sales.orders".into(), "crm.clientes_ç".into()],
        confidence: 0.625,
        mode: "extractive".into(),
        latency_ms: 12.5,
    }
}

/// The question log entries in a comparable form (the type has no `PartialEq`).
fn described(entries: &[QuestionLogEntry]) -> Vec<String> {
    entries.iter().map(|e| format!("{e:?}")).collect()
}

async fn log_three_questions(store: &Arc<dyn Store>) -> [QuestionLogEntry; 3] {
    let entries = [
        question(1_000, "Where are the orders?"),
        question(2_000, "onde estão os pedidos?"),
        question(3_000, "drone warranties"),
    ];
    store.log_questions(&entries[..1]).await.unwrap();
    store.log_questions(&entries[1..]).await.unwrap();
    store.log_questions(&[]).await.unwrap();
    entries
}

async fn the_question_log_is_read_newest_first_from_a_time(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let [first, second, third] = log_three_questions(&store).await;
    let all = [third.clone(), second.clone(), first];
    assert_eq!(
        described(&store.questions_since(0, 10).await.unwrap()),
        described(&all)
    );
    assert_eq!(
        described(&store.questions_since(2_000, 10).await.unwrap()),
        described(&all[..2]),
        "since is inclusive"
    );
    assert_eq!(
        described(&store.questions_since(2_001, 10).await.unwrap()),
        described(&all[..1])
    );
    assert_eq!(
        described(&store.questions_since(0, 2).await.unwrap()),
        described(&all[..2])
    );
    assert!(store.questions_since(3_001, 10).await.unwrap().is_empty());
}

async fn the_question_log_is_pruned_by_age(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let [_, second, third] = log_three_questions(&store).await;
    assert_eq!(
        store.prune_questions(1_000).await.unwrap(),
        0,
        "before is exclusive"
    );
    assert_eq!(store.prune_questions(1_001).await.unwrap(), 1);
    assert_eq!(
        described(&store.questions_since(0, 10).await.unwrap()),
        described(&[third.clone(), second])
    );
    assert_eq!(store.prune_questions(3_000).await.unwrap(), 1);
    assert_eq!(store.prune_questions(3_000).await.unwrap(), 0);
    assert_eq!(
        described(&store.questions_since(0, 10).await.unwrap()),
        described(&[third])
    );
    assert_eq!(store.prune_questions(i64::MAX).await.unwrap(), 1);
    assert!(store.questions_since(0, 10).await.unwrap().is_empty());
}

// ---- EmbeddingCache ----

fn hashes(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn embeddings_are_cached_by_model_and_hash(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let one = vec![0.25f32, -1.5, 3.0e-7];
    let two = vec![1.0f32, 0.0, f32::MIN_POSITIVE];
    store
        .put_embeddings(
            "model-a",
            &[("h1".into(), one.clone()), ("h2".into(), two.clone())],
        )
        .await
        .unwrap();
    let found = store
        .embeddings("model-a", &hashes(&["h1", "h2", "missing"]))
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "missing hashes are absent: {found:?}");
    assert_eq!(found["h1"], one);
    assert_eq!(found["h2"], two);
    assert!(
        store
            .embeddings("model-b", &hashes(&["h1", "h2"]))
            .await
            .unwrap()
            .is_empty(),
        "vectors belong to their model"
    );
    assert!(store.embeddings("model-a", &[]).await.unwrap().is_empty());
    store.put_embeddings("model-a", &[]).await.unwrap();
}

async fn caching_an_embedding_again_keeps_the_first(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let first = vec![0.5f32, 0.5];
    store
        .put_embeddings("m", &[("h1".into(), first.clone())])
        .await
        .unwrap();
    store
        .put_embeddings("m", &[("h1".into(), first.clone())])
        .await
        .expect("the same row again is fine");
    store
        .put_embeddings(
            "m",
            &[("h1".into(), vec![9.0, 9.0]), ("h2".into(), vec![1.0, 2.0])],
        )
        .await
        .expect("a conflicting row is skipped, the others written");
    store
        .put_embeddings(
            "m",
            &[("h3".into(), vec![3.0, 3.0]), ("h3".into(), vec![3.0, 3.0])],
        )
        .await
        .expect("a hash twice in one call is fine");
    let found = store
        .embeddings("m", &hashes(&["h1", "h2", "h3"]))
        .await
        .unwrap();
    assert_eq!(found["h1"], first);
    assert_eq!(found["h2"], [1.0, 2.0]);
    assert_eq!(found["h3"], [3.0, 3.0]);
}

async fn many_embeddings_are_cached_and_read_in_batches(backend: Backend) {
    let (_tmp, _, store) = open(backend).await;
    let rows: Vec<(String, Vec<f32>)> = (0..2_500)
        .map(|i| (format!("hash-{i:05}"), vec![i as f32, -(i as f32), 0.5]))
        .collect();
    store.put_embeddings("bulk", &rows).await.unwrap();
    let wanted: Vec<String> = rows.iter().map(|(h, _)| h.clone()).collect();
    let found = store.embeddings("bulk", &wanted).await.unwrap();
    assert_eq!(found.len(), rows.len());
    for (hash, vector) in &rows {
        assert_eq!(&found[hash], vector, "{hash}");
    }
}

fn source_record(id: &str) -> SourceRecord {
    SourceRecord {
        id: id.into(),
        kind: "postgres".into(),
        config: r#"{"connection_env":"WAREHOUSE_URL"}"#.into(),
        every_secs: Some(21_600),
        created_at_ms: 1_000,
        created_by: "alice".into(),
    }
}

fn sync_record(source: &str, started_at_ms: i64, outcome: &str) -> SyncRecord {
    SyncRecord {
        source_id: source.into(),
        started_at_ms,
        finished_at_ms: started_at_ms + 5,
        actor: "schedule".into(),
        outcome: outcome.into(),
        version: Some(3),
        datasets: Some(10),
        columns: Some(100),
        diff: Some(r#"{"datasets_added":1}"#.into()),
        detail: None,
    }
}

async fn sources_are_registered_once_and_their_syncs_read_newest_first(backend: Backend) {
    let (_tmp, _url, store) = open(backend).await;
    assert!(
        store
            .create_source(&source_record("warehouse"))
            .await
            .unwrap()
    );
    assert!(store.create_source(&source_record("lake")).await.unwrap());
    let mut again = source_record("warehouse");
    again.kind = "sqlite".into();
    assert!(
        !store.create_source(&again).await.unwrap(),
        "an id is registered once"
    );
    let listed = store.sources().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["lake", "warehouse"]);
    assert_eq!(
        listed[1],
        source_record("warehouse"),
        "the first registration stays"
    );
    assert_eq!(
        store.source("warehouse").await.unwrap(),
        Some(source_record("warehouse"))
    );
    assert_eq!(store.source("nope").await.unwrap(), None);

    for (at, outcome) in [(10, "ok"), (20, "unchanged"), (30, "source_failed")] {
        store
            .record_sync(&sync_record("warehouse", at, outcome))
            .await
            .unwrap();
    }
    store
        .record_sync(&sync_record("lake", 15, "ok"))
        .await
        .unwrap();
    let syncs = store.syncs("warehouse", 2).await.unwrap();
    assert_eq!(
        syncs,
        vec![
            sync_record("warehouse", 30, "source_failed"),
            sync_record("warehouse", 20, "unchanged")
        ]
    );
    let last = store.last_syncs().await.unwrap();
    assert_eq!(
        last,
        vec![
            sync_record("lake", 15, "ok"),
            sync_record("warehouse", 30, "source_failed")
        ]
    );

    assert!(store.delete_source("warehouse").await.unwrap());
    assert!(!store.delete_source("warehouse").await.unwrap());
    assert!(store.syncs("warehouse", 10).await.unwrap().is_empty());
    assert_eq!(store.sources().await.unwrap().len(), 1);
}
