//! Test harness: `spawn_app()` starts the real service on port 0 with a fresh database
//! (SQLite file or a new Postgres database on the throwaway cluster) and a temp data dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use descoberta::app::App;
use descoberta::settings::Settings;
use descoberta::startup::Application;
use secrecy::SecretString;
use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// At least `settings::MIN_TOKEN_BYTES` (32) long: shorter admin tokens are refused.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub app: Arc<App>,
    pub settings: Settings,
    pub data_dir: PathBuf,
    pub database_url: String,
    server: tokio::task::JoinHandle<()>,
    handle: actix_web::dev::ServerHandle,
    _tmp: Arc<tempfile::TempDir>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A fresh database URL for one test.
pub async fn fresh_database(backend: Backend, dir: &Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Backend::Postgres => {
            let base = std::env::var("DESCOBERTA_TEST_POSTGRES_URL").expect(
                "DESCOBERTA_TEST_POSTGRES_URL is not set: run the suite with ./scripts/test, \
                 which starts a throwaway PostgreSQL",
            );
            let name = format!("t_{:016x}", rand::random::<u64>());
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .expect("connect to test Postgres");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
            format!("{prefix}/{name}")
        }
    }
}

/// Settings for a test app: port 0, temp data dir, the given metadata dir.
pub async fn test_settings(backend: Backend, tmp: &Path, metadata_dir: &Path) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: tmp.join("data"),
        metadata_dir: metadata_dir.to_path_buf(),
        database_url: Some(SecretString::from(fresh_database(backend, tmp).await)),
        admin_token: Some(SecretString::from(ADMIN_TOKEN)),
        prompts_dir: repo_path("prompts"),
        // Tests drive many requests from one address; the rate-limit test turns it on.
        rate_limit: descoberta::settings::RateLimitSettings {
            enabled: false,
            ..Default::default()
        },
        embedding: descoberta::settings::EmbeddingSettings {
            model_dir: Some(model_dir()),
            ..Default::default()
        },
        // The bilingual word tables put in place by `scripts/setup`.
        retrieval: descoberta::settings::RetrievalSettings {
            dictionary_dir: Some(repo_path("data/dict")),
            ..Default::default()
        },
        ..Settings::default()
    }
}

/// The embedding model put in place by `scripts/setup`.
pub fn model_dir() -> PathBuf {
    repo_path("data/models/multilingual-e5-small")
}

/// The service with adjusted settings, on the demo catalog or on `csv`.
pub async fn spawn_custom(
    backend: Backend,
    csv: Option<&str>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let tmp = tempfile::tempdir().expect("tempdir");
    let metadata = match csv {
        Some(csv) => {
            let dir = tmp.path().join("metadata");
            std::fs::create_dir_all(&dir).expect("metadata dir");
            std::fs::write(dir.join("catalog.csv"), csv).expect("write catalog");
            dir
        }
        None => repo_path("metadata"),
    };
    let mut settings = test_settings(backend, tmp.path(), &metadata).await;
    configure(&mut settings);
    spawn_with(settings, Arc::new(tmp)).await
}

/// The service on the demo catalog.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let tmp = tempfile::tempdir().expect("tempdir");
    let settings = test_settings(backend, tmp.path(), &repo_path("metadata")).await;
    spawn_with(settings, Arc::new(tmp)).await
}

/// The service on a catalog given as CSV text.
pub async fn spawn_app_with_catalog(backend: Backend, csv: &str) -> TestApp {
    let tmp = tempfile::tempdir().expect("tempdir");
    let metadata = tmp.path().join("metadata");
    std::fs::create_dir_all(&metadata).expect("metadata dir");
    std::fs::write(metadata.join("catalog.csv"), csv).expect("write catalog");
    let settings = test_settings(backend, tmp.path(), &metadata).await;
    spawn_with(settings, Arc::new(tmp)).await
}

pub async fn spawn_with(settings: Settings, tmp: Arc<tempfile::TempDir>) -> TestApp {
    descoberta::telemetry::init(settings.log_format);
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let port = app.port();
    let server_handle = app.handle();
    let handle = app.app().clone();
    let server = tokio::spawn(async move {
        let _ = app.run_until_stopped().await;
    });
    let database_url = secrecy::ExposeSecret::expose_secret(&settings.database_url()).to_string();
    descoberta::tls::init();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        app: handle,
        data_dir: settings.data_dir.clone(),
        settings,
        database_url,
        server,
        handle: server_handle,
        _tmp: tmp,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        json_of(self.get(path).await).await
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let res = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request sent");
        json_of(res).await
    }

    pub async fn get_as_admin(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request sent");
        json_of(res).await
    }

    /// Stops serving and hands back what a restart needs, once the stopped app is gone (it
    /// holds the data directory's lock until then).
    pub async fn stop(mut self) -> (Settings, Arc<tempfile::TempDir>) {
        self.handle.stop(false).await;
        self.server.abort();
        let _ = (&mut self.server).await;
        for _ in 0..1_000 {
            if Arc::strong_count(&self.app) == 1 {
                return (self.settings.clone(), self._tmp.clone());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "the stopped app is still referenced {} times",
            Arc::strong_count(&self.app)
        );
    }
}

/// Dataset names of a search response, in order.
/// The status and JSON body of a response; a body that is not JSON fails with the status
/// and the raw text, so that a failure shows what the server really sent.
pub async fn json_of(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    match serde_json::from_str(&text) {
        Ok(body) => (status, body),
        Err(e) => panic!("status {status}: the body is not JSON ({e}): {text:?}"),
    }
}

pub fn result_names(body: &serde_json::Value) -> Vec<String> {
    body["results"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["dataset"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts the JSON error contract and returns the code.
pub fn error_code(status: u16, body: &serde_json::Value, expected_status: u16) -> String {
    assert_eq!(status, expected_status, "body: {body}");
    let code = body["error"]["code"].as_str().expect("error.code");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error.message: {body}"
    );
    code.to_string()
}

/// Generates one test per backend for each listed `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// The value of the Prometheus sample `name` (0 when absent).
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
