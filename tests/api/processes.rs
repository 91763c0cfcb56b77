//! The real binary as separate processes: killed in the middle of a load (SIGKILL), reloaded
//! by SIGHUP, run as two replicas on one Postgres, and behind a company's forward proxy.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::admin::{CATALOG_A, CATALOG_B};
use crate::helpers::{ADMIN_TOKEN, Backend, fresh_database, repo_path, result_names};
use crate::llm_server::spawn_fake_llm;
use crate::on_both_backends;

on_both_backends!(a_load_killed_at_any_point_leaves_the_previous_version_live);

/// Longest wait for a process to become ready (a bound, not a measurement).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The variables an HTTP client reads its proxy from (and their lowercase forms).
const PROXY_VARIABLES: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"];

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
        Server::start_with(database_url, data_dir, metadata_dir, &[])
    }

    /// As [`Server::start`], with `env` set last (it may override the defaults here). No
    /// proxy variable comes from the test's own environment.
    fn start_with(
        database_url: &str,
        data_dir: &Path,
        metadata_dir: &Path,
        env: &[(&str, String)],
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_descoberta"));
        for proxy in PROXY_VARIABLES {
            command.env_remove(proxy);
            command.env_remove(proxy.to_lowercase());
        }
        let mut child = command
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
            .envs(env.iter().map(|(k, v)| (k, v)))
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

/// A company's forward proxy: it takes absolute-form requests (`POST
/// http://llm.corp.example:PORT/v1/... HTTP/1.1`) and `CONNECT llm.corp.example:PORT`
/// tunnels for HTTPS, records each request line, and goes on to 127.0.0.1 at the named port:
/// the names it is given (`.example`, reserved) resolve nowhere else. One request (or one
/// tunnel) per connection.
async fn spawn_forward_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, log.clone()));
        }
    });
    (url, seen)
}

async fn relay(client: tokio::net::TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let mut client = tokio::io::BufReader::new(client);
    let mut request_line = String::new();
    if client.read_line(&mut request_line).await.unwrap_or(0) == 0 {
        return;
    }
    let request_line = request_line.trim_end().to_string();
    seen.lock().unwrap().push(request_line.clone());
    let mut parts = request_line.splitn(3, ' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let Some(headers) = read_headers(&mut client).await else {
        return;
    };
    if method == "CONNECT" {
        tunnel(client, target).await;
        return;
    }
    let Ok(url) = reqwest::Url::parse(target) else {
        return;
    };
    let mut head = String::new();
    let mut length = 0;
    for line in headers {
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") && !lower.starts_with("proxy-connection:") {
            head.push_str(&line);
        }
    }
    let mut body = vec![0; length];
    if client.read_exact(&mut body).await.is_err() {
        return;
    }
    let Some(port) = url.port() else { return };
    let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let forwarded = format!("{method} {path} {version}\r\n{head}Connection: close\r\n\r\n");
    let mut response = Vec::new();
    if upstream.write_all(forwarded.as_bytes()).await.is_err()
        || upstream.write_all(&body).await.is_err()
        || upstream.read_to_end(&mut response).await.is_err()
    {
        return;
    }
    let _ = client.get_mut().write_all(&response).await;
}

/// A request's header lines (each with its CRLF), up to the blank line; `None` when the
/// connection ends first.
async fn read_headers(
    client: &mut tokio::io::BufReader<tokio::net::TcpStream>,
) -> Option<Vec<String>> {
    use tokio::io::AsyncBufReadExt;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if client.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(headers);
        }
        headers.push(line);
    }
}

/// A `CONNECT host:port` request, its headers read: the tunnel to 127.0.0.1:port is opened
/// and bytes flow both ways until either side closes.
async fn tunnel(mut client: tokio::io::BufReader<tokio::net::TcpStream>, target: &str) {
    use tokio::io::AsyncWriteExt;
    let Some(Ok(port)) = target.rsplit_once(':').map(|(_, p)| p.parse::<u16>()) else {
        return;
    };
    let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
    if client.get_mut().write_all(established).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// An HTTPS front for `upstream_port` (plain HTTP on 127.0.0.1), with a certificate for
/// `name` that no system trusts: its own, self-signed, also returned as PEM.
async fn spawn_tls_front(name: &str, upstream_port: u16) -> (u16, String) {
    descoberta::tls::init();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) =
                    tokio::net::TcpStream::connect(("127.0.0.1", upstream_port)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, cert.pem())
}

/// The service's LLM answer to a churn question (`mode`: `llm`, or `extractive` when the
/// LLM could not be reached).
async fn ask_churn(server: &Server) -> Value {
    server
        .client
        .post(format!("{}/v1/ask", server.base))
        .json(&serde_json::json!({"question": "where is the customer churn data?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// An HTTPS LLM endpoint behind the proxy (`HTTPS_PROXY`, a `CONNECT` tunnel), with a
/// certificate no system trusts, as a company CA's would be: trusted once `SSL_CERT_FILE`
/// names it, and refused (the extractive fallback) while only the system's store is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_llm_is_reached_through_a_connect_tunnel_trusting_the_company_ca() {
    let fake = spawn_fake_llm().await;
    let http_port = reqwest::Url::parse(&fake.base_url).unwrap().port().unwrap();
    let (port, ca_pem) = spawn_tls_front("llm.corp.example", http_port).await;
    let (proxy, seen) = spawn_forward_proxy().await;
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("company-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let url = fresh_database(Backend::Sqlite, tmp.path()).await;
    let env = |trust: bool| {
        let mut env = vec![
            ("HTTPS_PROXY", proxy.clone()),
            (
                "DESCOBERTA_LLM_BASE_URL",
                format!("https://llm.corp.example:{port}/v1"),
            ),
            ("DESCOBERTA_LLM_MODEL", "normal".to_string()),
            ("DESCOBERTA_LLM_API_KEY", "sk-test".to_string()),
            ("DESCOBERTA_LLM_MAX_RETRIES", "0".to_string()),
        ];
        if trust {
            env.push(("SSL_CERT_FILE", ca_file.display().to_string()));
        }
        env
    };
    for trust in [false, true] {
        let data = tmp.path().join(format!("data-{trust}"));
        std::fs::create_dir_all(&data).unwrap();
        let server = Server::start_with(&url, &data, &repo_path("metadata"), &env(trust));
        let answer = ask_churn(&server).await;
        let expected = if trust { "llm" } else { "extractive" };
        assert_eq!(
            answer["mode"], expected,
            "trusting the CA: {trust}: {answer}"
        );
    }
    let tunnel = format!("CONNECT llm.corp.example:{port} HTTP/1.1");
    let tunnels = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|l| **l == tunnel)
        .count();
    assert!(
        tunnels >= 2,
        "{tunnel} once per server: {:?}",
        seen.lock().unwrap()
    );
    assert!(!fake.requests().is_empty());
}

/// Behind a company's forward proxy (`HTTP_PROXY`), the service reaches its LLM and its
/// embeddings endpoint through it. Their host names resolve only at the proxy, so an answer
/// from the LLM (not the extractive fallback) shows that the requests went that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_and_the_embeddings_endpoint_are_reached_through_the_http_proxy() {
    let fake = spawn_fake_llm().await;
    let port = reqwest::Url::parse(&fake.base_url).unwrap().port().unwrap();
    let (proxy, seen) = spawn_forward_proxy().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let url = fresh_database(Backend::Sqlite, tmp.path()).await;
    let server = Server::start_with(
        &url,
        &data,
        &repo_path("metadata"),
        &[
            ("HTTP_PROXY", proxy),
            (
                "DESCOBERTA_LLM_BASE_URL",
                format!("http://llm.corp.example:{port}/v1"),
            ),
            ("DESCOBERTA_LLM_MODEL", "normal".into()),
            ("DESCOBERTA_LLM_API_KEY", "sk-test".into()),
            ("DESCOBERTA_EMBEDDING_ENABLED", "true".into()),
            (
                "DESCOBERTA_EMBEDDING_BASE_URL",
                format!("http://embeddings.corp.example:{port}/v1"),
            ),
            ("DESCOBERTA_EMBEDDING_MODEL", "test-embedding".into()),
        ],
    );
    let answer = ask_churn(&server).await;
    assert_eq!(answer["mode"], "llm", "{answer}");
    let seen = seen.lock().unwrap().clone();
    for expected in [
        format!("POST http://llm.corp.example:{port}/v1/chat/completions HTTP/1.1"),
        format!("POST http://embeddings.corp.example:{port}/v1/embeddings HTTP/1.1"),
    ] {
        assert!(seen.contains(&expected), "{expected} in {seen:?}");
    }
    assert!(!fake.requests().is_empty());
}
