//! The real binary as separate processes: killed in the middle of a load (SIGKILL), reloaded
//! by SIGHUP, and run as two replicas on one Postgres.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::admin::{CATALOG_A, CATALOG_B};
use crate::helpers::{ADMIN_TOKEN, Backend, fresh_database, result_names};
use crate::on_both_backends;

on_both_backends!(a_load_killed_at_any_point_leaves_the_previous_version_live);

/// Longest wait for a process to become ready (a bound, not a measurement).
const READY_WITHIN: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `descoberta serve` and waits for its "ready" log line.
    fn start(database_url: &str, data_dir: &Path, metadata_dir: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_descoberta"))
            .args(["--log-format", "json", "--bind", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(database_url)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--metadata-dir")
            .arg(metadata_dir)
            .arg("serve")
            .env("DESCOBERTA_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("DESCOBERTA_EMBEDDING_ENABLED", "false")
            .env("DESCOBERTA_REPLICA_POLL_MS", "1000")
            .env("RUST_LOG", "info")
            .current_dir(data_dir)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start descoberta");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["message"] == "descoberta ready"
                    && let Some(address) = event["address"].as_str()
                {
                    let _ = tx.send(address.to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(READY_WITHIN)
            .expect("the server logs its address when ready");
        descoberta::tls::init();
        Server {
            child,
            base,
            client: reqwest::Client::new(),
        }
    }

    fn kill(mut self) {
        // Child::kill sends SIGKILL.
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }

    fn upload(&self, csv: String) -> tokio::task::JoinHandle<Option<Value>> {
        let request = self
            .client
            .post(format!("{}/v1/admin/catalog", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/csv")
            .body(csv);
        tokio::spawn(async move {
            let res = request.send().await.ok()?;
            if !res.status().is_success() {
                return None;
            }
            res.json().await.ok()
        })
    }

    /// The served version and the dataset names a search returns.
    async fn served(&self, q: &str) -> (i64, Vec<String>) {
        let body = self.get(&format!("/v1/search?q={q}&limit=100")).await;
        (
            body["catalog_version"].as_i64().unwrap(),
            result_names(&body),
        )
    }
}

/// A catalog large enough that loading it takes a while: `datasets` datasets named
/// `big.table_N`, 40 columns each.
fn big_catalog(datasets: usize) -> String {
    let mut csv = String::from("dataset,column,description\n");
    for d in 0..datasets {
        csv.push_str(&format!("big.table_{d},,Orders shard {d}\n"));
        for c in 0..40 {
            csv.push_str(&format!(
                "big.table_{d},column_{c},Order attribute {c} of shard {d}\n"
            ));
        }
    }
    csv
}

fn unfinished_builds(data_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(stores) = std::fs::read_dir(data_dir.join("index")) else {
        return found;
    };
    for store in stores.flatten() {
        for entry in std::fs::read_dir(store.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".building-")
            {
                found.push(entry.path());
            }
        }
    }
    found
}

async fn a_load_killed_at_any_point_leaves_the_previous_version_live(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let metadata = tmp.path().join("metadata");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&metadata).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(metadata.join("catalog.csv"), CATALOG_A).unwrap();
    let url = fresh_database(backend, tmp.path()).await;
    let big = big_catalog(2_000);

    let mut server = Server::start(&url, &data, &metadata);
    let (mut live, names) = server.served("orders").await;
    assert_eq!(names[0], "alpha.orders");
    let mut interrupted = 0;
    for delay_ms in [20u64, 150, 400, 900, 1_600, 6_000] {
        let upload = server.upload(big.clone());
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill();
        let completed = upload.await.unwrap();

        server = Server::start(&url, &data, &metadata);
        let (version, names) = server.served("orders").await;
        let versions = server.get("/v1/admin/versions").await;
        let active: Vec<&Value> = versions["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["active"] == true)
            .collect();
        assert_eq!(active.len(), 1);
        assert_eq!(
            active[0]["version"], version,
            "the served version is the active one"
        );
        eprintln!(
            "killed {delay_ms} ms into a load: version {version} served after restart ({})",
            if version == live {
                "the previous one"
            } else {
                "the new one, complete"
            }
        );
        if version == live {
            assert!(completed.is_none(), "a completed load must be live");
            interrupted += 1;
            assert!(
                names.iter().all(|n| !n.starts_with("big.")),
                "the previous version is served whole: {names:?}"
            );
        } else {
            // The kill came after the switch: the new version is live, and complete.
            assert_eq!(active[0]["datasets"], 2_000);
            assert!(names.iter().all(|n| n.starts_with("big.")), "{names:?}");
            live = version;
        }
        assert!(
            unfinished_builds(&data).is_empty(),
            "interrupted index builds are cleaned up at start"
        );
    }
    assert!(
        interrupted > 0,
        "at least one kill must have interrupted a load"
    );

    // After the crashes, a load goes through.
    let done = server.upload(CATALOG_B.to_string()).await.unwrap();
    let version = done.expect("upload succeeds")["version"].as_i64().unwrap();
    assert_eq!(
        server.served("refunds").await,
        (version, vec!["beta.refunds".to_string()])
    );
}

/// Polls `server` until it serves `version`; returns how long that took.
async fn wait_for_version(server: &Server, version: i64) -> Duration {
    let started = Instant::now();
    while started.elapsed() < READY_WITHIN {
        let body = server.get("/readyz").await;
        if body["catalog_version"] == version {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server never switched to version {version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_follow_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let metadata = tmp.path().join("metadata");
    std::fs::create_dir_all(&metadata).unwrap();
    std::fs::write(metadata.join("catalog.csv"), CATALOG_A).unwrap();
    let (data1, data2) = (tmp.path().join("data1"), tmp.path().join("data2"));
    std::fs::create_dir_all(&data1).unwrap();
    std::fs::create_dir_all(&data2).unwrap();
    let url = fresh_database(Backend::Postgres, tmp.path()).await;

    let first = Server::start(&url, &data1, &metadata);
    let second = Server::start(&url, &data2, &metadata);
    let (v1, _) = first.served("orders").await;
    assert_eq!(
        second.served("orders").await.0,
        v1,
        "the second replica serves the same version"
    );

    // A load through the first replica reaches the second.
    let loaded = first
        .upload(CATALOG_B.to_string())
        .await
        .unwrap()
        .expect("upload");
    let v2 = loaded["version"].as_i64().unwrap();
    let took = wait_for_version(&second, v2).await;
    eprintln!(
        "replica switched to v{v2} {} ms after the load returned",
        took.as_millis()
    );
    let (version, names) = second.served("orders").await;
    assert_eq!(version, v2);
    assert!(names.iter().all(|n| n.starts_with("beta.")), "{names:?}");

    // A rollback through the second replica reaches the first.
    let res = second
        .client
        .post(format!("{}/v1/admin/versions/{v1}/activate", second.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let took = wait_for_version(&first, v1).await;
    eprintln!(
        "replica rolled back to v{v1} {} ms after the activation returned",
        took.as_millis()
    );
    let (_, names) = first.served("orders").await;
    assert!(names.iter().all(|n| n.starts_with("alpha.")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_metadata_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let metadata = tmp.path().join("metadata");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&metadata).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(metadata.join("catalog.csv"), CATALOG_A).unwrap();
    let url = fresh_database(Backend::Sqlite, tmp.path()).await;
    let server = Server::start(&url, &data, &metadata);
    let (v1, _) = server.served("orders").await;
    std::fs::write(metadata.join("catalog.csv"), CATALOG_B).unwrap();
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for_version(&server, v1 + 1).await;
    let (_, names) = server.served("refunds").await;
    assert_eq!(names, ["beta.refunds"]);
}
