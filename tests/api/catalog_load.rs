//! Loading the catalog: at start, at restart, and from the command line. All of it writes and
//! reads versions in the store: both backends.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helpers::{
    Backend, TestApp, repo_path, result_names, spawn_app_with_catalog, spawn_with,
};
use crate::on_both_backends;

on_both_backends!(
    restart_reuses_the_index_and_version,
    changed_directory_becomes_a_new_version_at_restart,
    invalid_directory_at_restart_keeps_the_active_version,
    cli_load_of_a_bad_csv_fails_naming_every_bad_line,
    cli_load_of_a_bad_csv_changes_nothing,
    cli_load_of_a_good_csv_becomes_the_active_version,
);

const CATALOG: &str = "dataset,column,description,owner\n\
    sales.orders,,Customer orders,sales-team\n\
    sales.orders,order_id,Order key,\n\
    sales.orders,total_amount,Order total in BRL,\n\
    crm.churn,,Customer churn scores,crm-team\n\
    crm.churn,churn_probability,Probability the customer leaves,\n";

async fn restart_reuses_the_index_and_version(backend: Backend) {
    let app = spawn_app_with_catalog(backend, CATALOG).await;
    let version = app.app.versions.snapshot().unwrap().version;
    let index_dir = app
        .app
        .versions
        .snapshot()
        .unwrap()
        .lexical
        .dir()
        .to_path_buf();
    let marker = index_dir.join("descoberta-index.json");
    let modified = std::fs::metadata(&marker).unwrap().modified().unwrap();
    let (settings, tmp) = app.stop().await;

    let app = spawn_with(settings, tmp).await;
    let snapshot = app.app.versions.snapshot().unwrap();
    assert_eq!(
        snapshot.version, version,
        "no new version when nothing changed"
    );
    assert_eq!(snapshot.lexical.dir(), index_dir);
    assert_eq!(
        std::fs::metadata(&marker).unwrap().modified().unwrap(),
        modified,
        "index must be reopened, not rebuilt"
    );
    let (_, body) = app.get_json("/v1/search?q=churn").await;
    assert_eq!(result_names(&body)[0], "crm.churn");
}

async fn changed_directory_becomes_a_new_version_at_restart(backend: Backend) {
    let app = spawn_app_with_catalog(backend, CATALOG).await;
    let version = app.app.versions.snapshot().unwrap().version;
    let metadata = app.settings.metadata_dir.clone();
    let (settings, tmp) = app.stop().await;
    std::fs::write(
        metadata.join("catalog.csv"),
        format!("{CATALOG}web.sessions,,Web sessions,web-team\n"),
    )
    .unwrap();
    let app = spawn_with(settings, tmp).await;
    let snapshot = app.app.versions.snapshot().unwrap();
    assert!(snapshot.version > version);
    assert_eq!(snapshot.catalog.datasets.len(), 3);
}

async fn invalid_directory_at_restart_keeps_the_active_version(backend: Backend) {
    let app = spawn_app_with_catalog(backend, CATALOG).await;
    let version = app.app.versions.snapshot().unwrap().version;
    let metadata = app.settings.metadata_dir.clone();
    let (settings, tmp) = app.stop().await;
    std::fs::write(
        metadata.join("catalog.csv"),
        "dataset,column,sensitivity\nx,a,top-secret\n",
    )
    .unwrap();
    let app = spawn_with(settings, tmp).await;
    assert_eq!(app.app.versions.snapshot().unwrap().version, version);
    let (_, body) = app.get_json("/v1/search?q=orders").await;
    assert_eq!(result_names(&body)[0], "sales.orders");
}

/// Runs `descoberta load <file>` against the app's database and data directory.
fn cli_load(app: &TestApp, file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_descoberta"))
        .arg("load")
        .arg(file)
        .env("DESCOBERTA_DATABASE_URL", &app.database_url)
        .env("DESCOBERTA_DATA_DIR", &app.data_dir)
        .env("RUST_LOG", "warn")
        .current_dir(repo_path("."))
        .output()
        .expect("run descoberta load")
}

/// Writes a CSV with an empty dataset name on line 3 and a duplicate column on line 4.
fn bad_csv(app: &TestApp) -> PathBuf {
    let bad = app.data_dir.join("bad.csv");
    std::fs::write(&bad, "dataset,column\nsales.x,a\n,b\nsales.x,a\n").unwrap();
    bad
}

async fn cli_load_of_a_bad_csv_fails_naming_every_bad_line(backend: Backend) {
    let app = spawn_app_with_catalog(backend, CATALOG).await;
    let output = cli_load(&app, &bad_csv(&app));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.csv:3"), "{stderr}");
    assert!(stderr.contains("bad.csv:4"), "{stderr}");
    assert!(stderr.contains("empty dataset name"), "{stderr}");
}

async fn cli_load_of_a_bad_csv_changes_nothing(backend: Backend) {
    let app = spawn_app_with_catalog(backend, CATALOG).await;
    let version = app.app.versions.snapshot().unwrap().version;
    let output = cli_load(&app, &bad_csv(&app));
    assert!(!output.status.success());
    let versions = app.app.versions.clone();
    assert_eq!(versions.active_in_store().await.unwrap(), Some(version));
    assert_eq!(versions.list().await.unwrap().len(), 1);
}

async fn cli_load_of_a_good_csv_becomes_the_active_version(backend: Backend) {
    let app = spawn_app_with_catalog(backend, CATALOG).await;
    let version = app.app.versions.snapshot().unwrap().version;
    let good = app.data_dir.join("good.csv");
    std::fs::write(&good, "dataset,column\nfinance.ledger,amount\n").unwrap();
    let output = cli_load(&app, &good);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["diff"]["datasets_added"][0], "finance.ledger");
    assert!(app.app.versions.active_in_store().await.unwrap() > Some(version));
}
