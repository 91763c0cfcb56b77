//! Hardening: what an attacker or an unlucky operator tried against the service, one test per
//! finding. Each of these failed before its fix.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::admin::upload;
use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, error_code, result_names, spawn_custom};
use crate::llm_server::spawn_fake_llm;
use crate::on_both_backends;

on_both_backends!(
    a_merge_keeps_the_sensitivity_it_does_not_state,
    a_load_that_declassifies_is_refused_unless_allowed,
);

/// A hidden dataset, and a visible one whose every text field points at it.
const LEAKY: &str = "dataset,column,description,location,tags,owner,domain,sensitivity,allowed_groups,source\n\
hr.zebra_salary_bands,,Salary bands of the quokka programme,s3://lake/hr/zebra_salary_bands/,,hr-team,hr,restricted,hr,\n\
hr.zebra_salary_bands,band_code,Code of the band,,,,,,,\n\
ops.leaky_pointers,,Pointers kept by ops; the old copy is hr.zebra_salary_bands_v2,s3://lake/hr/zebra_salary_bands/,see hr.zebra_salary_bands,hr/zebra-salary-bands team,ops,internal,,copied from hr/zebra-salary-bands\n\
ops.leaky_pointers,pointer_id,Row of HR.Zebra_Salary_Bands this points at,,,,,,,\n";

fn assert_no_hidden_name(what: &str, text: &str) {
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("zebra") && !lower.contains("quokka"),
        "{what} shows a hidden name: {text}"
    );
}

async fn leaky_app(configure: impl FnOnce(&mut descoberta::settings::Settings)) -> TestApp {
    spawn_custom(Backend::Sqlite, Some(LEAKY), configure).await
}

async fn text_of(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.get(path).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_names_never_show_in_any_field_of_a_visible_dataset() {
    let app = leaky_app(|_| {}).await;
    for path in [
        "/v1/datasets/ops.leaky_pointers",
        "/v1/search?q=leaky+pointers",
        "/v1/search?q=pointers+kept+by+ops",
        "/v1/suggest?q=leaky",
    ] {
        let (status, body) = text_of(&app, path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("ops.leaky_pointers"), "{path}: {body}");
        assert_no_hidden_name(path, &body);
    }
    let (status, body) = app
        .post_json(
            "/v1/ask",
            json!({"question": "where are the pointers kept by ops?"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_no_hidden_name("ask", &body.to_string());
    // An admin sees the fields as they are.
    let (_, page) = app.get_as_admin("/v1/datasets/ops.leaky_pointers").await;
    assert_eq!(page["location"], "s3://lake/hr/zebra_salary_bands/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_names_never_reach_the_prompt_nor_the_stream() {
    let fake = spawn_fake_llm().await;
    let base = fake.base_url.clone();
    let app = leaky_app(move |s| {
        s.llm.base_url = Some(base);
        s.llm.model = Some("normal".into());
        s.llm.api_key = Some("sk-test".to_string().into());
        s.llm.timeout_ms = 2_000;
    })
    .await;
    let question = "where are the pointers kept by ops?";
    let (status, body) = app
        .post_json("/v1/ask", json!({ "question": question }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_no_hidden_name("ask (llm)", &body.to_string());
    let res = app
        .client
        .post(app.url("/v1/ask/stream"))
        .json(&json!({ "question": format!("{question} (stream)") }))
        .send()
        .await
        .unwrap();
    let stream = res.text().await.unwrap();
    assert!(stream.contains("event: done"), "{stream}");
    assert_no_hidden_name("stream", &stream);
    let prompts = fake.prompts();
    assert!(prompts.iter().any(|p| p.contains("ops.leaky_pointers")));
    for prompt in prompts {
        assert_no_hidden_name("prompt", &prompt);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_found_only_in_hidden_names_match_nothing_visible() {
    // Lexically: nothing matches.
    let app = leaky_app(|s| s.embedding.enabled = false).await;
    for q in ["quokka", "zebra", "zebra+salary+bands"] {
        let (status, body) = app.get_json(&format!("/v1/search?q={q}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 0, "{q}: {body}");
    }
    // The admin finds the hidden dataset itself.
    let res = app
        .client
        .get(app.url("/v1/search?q=zebra"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(result_names(&body)[0], "hr.zebra_salary_bands");
    // With semantic retrieval, a hidden name's words get exactly what a word found nowhere
    // gets: no signal that they exist.
    let app = leaky_app(|_| {}).await;
    let (_, nowhere) = app.get_json("/v1/search?q=xylophonist").await;
    for q in ["quokka", "zebra"] {
        let (_, body) = app.get_json(&format!("/v1/search?q={q}")).await;
        assert_eq!(result_names(&body), result_names(&nowhere), "{q}: {body}");
        assert_eq!(body["total"], nowhere["total"], "{q}");
        assert!(
            body["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["highlights"].as_array().unwrap().is_empty()),
            "{body}"
        );
    }
}

async fn a_merge_keeps_the_sensitivity_it_does_not_state(backend: Backend) {
    let app = spawn_custom(backend, Some(LEAKY), |_| {}).await;
    let (status, body) = upload(
        &app,
        "dataset,column,description\nhr.zebra_salary_bands,,fixed typo\n",
        "?mode=merge",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["diff"]["security_changes"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{body}"
    );
    let (status, _) = app.get_json("/v1/datasets/hr.zebra_salary_bands").await;
    assert_eq!(status, 404, "still hidden from anonymous callers");
    let (_, page) = app.get_as_admin("/v1/datasets/hr.zebra_salary_bands").await;
    assert_eq!(page["description"], "fixed typo");
    assert_eq!(page["sensitivity"], "restricted");
    assert_eq!(page["allowed_groups"], json!(["hr"]));
    assert_eq!(page["columns"].as_array().unwrap().len(), 1);
}

async fn a_load_that_declassifies_is_refused_unless_allowed(backend: Backend) {
    let app = spawn_custom(backend, Some(LEAKY), |_| {}).await;
    let open = "dataset,column,sensitivity\nhr.zebra_salary_bands,,public\n";
    let (status, body) = upload(&app, open, "?mode=merge").await;
    assert_eq!(
        error_code(status, &body, 422),
        "declassification_refused",
        "{body}"
    );
    assert_eq!(
        body["error"]["details"]["declassified"],
        json!(["hr.zebra_salary_bands"])
    );
    let (status, _) = app.get_json("/v1/datasets/hr.zebra_salary_bands").await;
    assert_eq!(status, 404, "nothing changed");
    let (status, body) = upload(&app, open, "?mode=merge&dry_run=true").await;
    assert_eq!(status, 200, "a dry run shows the change: {body}");
    assert_eq!(body["diff"]["security_changes"][0]["widens"], true);
    let (status, body) = upload(&app, open, "?mode=merge&allow_declassify=true").await;
    assert_eq!(status, 200, "{body}");
    let change = &body["diff"]["security_changes"][0];
    assert_eq!(change["dataset"], "hr.zebra_salary_bands");
    assert_eq!(change["before"]["sensitivity"], "restricted");
    assert_eq!(change["after"]["sensitivity"], "public");
    let (status, _) = app.get_json("/v1/datasets/hr.zebra_salary_bands").await;
    assert_eq!(status, 200, "declassified on purpose");
}

async fn limited_app(configure: impl FnOnce(&mut descoberta::settings::Settings)) -> TestApp {
    spawn_custom(Backend::Sqlite, None, |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.per_second = 1;
        s.rate_limit.burst = 10;
        configure(s);
    })
    .await
}

async fn status_with(app: &TestApp, headers: HeaderMap) -> u16 {
    app.client
        .get(app.url("/v1/search?q=orders"))
        .headers(headers)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn header(name: &'static str, value: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(name, HeaderValue::from_str(value).unwrap());
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_keys_from_one_address_is_throttled() {
    let app = limited_app(|_| {}).await;
    let mut statuses = Vec::new();
    for i in 0..40 {
        let key = format!("dk_guess_{i:04}_{:016x}", rand::random::<u64>());
        statuses.push(status_with(&app, header("x-api-key", &key)).await);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 20,
        "random keys share the address's bucket: {statuses:?}"
    );
    let guess = format!("Bearer not-the-admin-token-{:016x}", rand::random::<u64>());
    assert_eq!(
        status_with(&app, header("authorization", &guess)).await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_key_keeps_its_own_bucket_while_its_address_is_throttled() {
    let app = limited_app(|_| {}).await;
    let (status, key) = app
        .client
        .post(app.url("/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "ci", "groups": []}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 201);
    let key: Value = key.json().await.unwrap();
    let secret = key["secret"].as_str().unwrap().to_string();
    for _ in 0..20 {
        status_with(&app, header("x-api-key", "dk_wrong")).await;
    }
    assert_eq!(status_with(&app, HeaderMap::new()).await, 429);
    assert_eq!(status_with(&app, header("x-api-key", &secret)).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let app = limited_app(|s| {
        s.access.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(status_with(&app, header("x-forwarded-for", "203.0.113.7")).await);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // Another user behind the same proxy is not throttled by the first one.
    assert_eq!(
        status_with(&app, header("x-forwarded-for", "203.0.113.8")).await,
        200
    );
    // `Forwarded` (RFC 7239) names the client too.
    assert_eq!(
        status_with(&app, header("forwarded", "for=\"[2001:db8::1]:4711\"")).await,
        200
    );
    // A client cannot escape its bucket by prepending addresses: the right-most address that
    // is not a trusted proxy is the client.
    let spoofed = status_with(&app, header("x-forwarded-for", "198.51.100.1, 203.0.113.7")).await;
    assert_eq!(spoofed, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    let app = limited_app(|_| {}).await;
    for i in 0..20 {
        status_with(&app, header("x-forwarded-for", &format!("203.0.113.{i}"))).await;
    }
    assert_eq!(
        status_with(&app, header("x-forwarded-for", "198.51.100.99")).await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_header_sent_twice_is_refused() {
    let app = spawn_custom(Backend::Sqlite, None, |s| {
        s.access.trusted_proxies = vec!["127.0.0.1".into()];
        s.access.trusted_proxy_header = Some("X-Forwarded-Groups".into());
    })
    .await;
    let mut headers = HeaderMap::new();
    headers.append("x-forwarded-groups", HeaderValue::from_static("sales"));
    headers.append("x-forwarded-groups", HeaderValue::from_static("hr"));
    assert_eq!(status_with(&app, headers).await, 400);
    assert_eq!(
        status_with(&app, header("x-forwarded-groups", "sales")).await,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_text_gets_401() {
    let app = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    for name in ["x-api-key", "authorization"] {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_bytes(b"\xff\xfe\xfd").unwrap());
        assert_eq!(status_with(&app, headers).await, 401, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_for_operators_only() {
    let ops = "ops-token-0123456789abcdef0123456789abcdef";
    let app = spawn_custom(Backend::Sqlite, None, |s| {
        s.access.ops_token = Some(ops.to_string().into());
    })
    .await;
    let (status, body) = text_of(&app, "/readyz").await;
    assert_eq!(status, 200);
    assert!(!body.contains("datasets"), "anonymous readiness: {body}");
    let (_, admin) = app.get_as_admin("/readyz").await;
    assert!(
        admin["index"]["detail"]
            .as_str()
            .unwrap()
            .contains("datasets")
    );
    assert_eq!(app.get("/metrics").await.status().as_u16(), 401);
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(ops)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("descoberta_catalog_datasets")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_directory_is_refused() {
    let first = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    let second = descoberta::startup::Application::build(first.settings.clone()).await;
    let error = format!(
        "{:#}",
        second.err().expect("the second instance must not start")
    );
    assert!(
        error.contains("in use by another descoberta process"),
        "{error}"
    );
    // The first one serves on.
    assert_eq!(
        first.get("/v1/search?q=orders").await.status().as_u16(),
        200
    );
}

/// Overwrites the index's term dictionaries and postings with noise (same lengths).
fn damage_index(dir: &std::path::Path) -> usize {
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "idx" | "term") {
            let len = std::fs::metadata(&path).unwrap().len() as usize;
            let noise: Vec<u8> = (0..len).map(|i| (i * 7919 % 251) as u8).collect();
            std::fs::write(&path, noise).unwrap();
            damaged += 1;
        }
    }
    damaged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_index_answers_503_and_is_rebuilt() {
    let app = spawn_custom(Backend::Sqlite, None, |s| s.replica_poll_ms = 200).await;
    let (_, before) = app.get_json("/v1/search?q=customer+churn").await;
    let expected = result_names(&before);
    assert!(!expected.is_empty());
    let dir = app
        .app
        .versions
        .snapshot()
        .unwrap()
        .lexical
        .dir()
        .to_path_buf();
    assert!(damage_index(&dir) > 0);
    let mut saw_damage = false;
    for q in [
        "customer+churn",
        "orders",
        "payments",
        "chatbot+messages",
        "sales",
    ] {
        let (status, body) = app.get_json(&format!("/v1/search?q={q}")).await;
        assert!(status == 200 || status == 503, "{q}: {status} {body}");
        if status == 503 {
            assert_eq!(body["error"]["code"], "unavailable");
            saw_damage = true;
        }
    }
    assert!(saw_damage, "the damage was noticed");
    // Rebuilt from the store within a few polls; then ready, with the same results.
    let mut repaired = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let ready = app.get("/readyz").await.status().as_u16();
        let (status, body) = app.get_json("/v1/search?q=customer+churn").await;
        if ready == 200 && status == 200 && result_names(&body) == expected {
            repaired = true;
            break;
        }
    }
    assert!(repaired, "the index was rebuilt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_index_at_start_is_rebuilt_not_fatal() {
    let app = spawn_custom(Backend::Sqlite, None, |_| {}).await;
    let (_, before) = app.get_json("/v1/search?q=customer+churn").await;
    let dir = app
        .app
        .versions
        .snapshot()
        .unwrap()
        .lexical
        .dir()
        .to_path_buf();
    let (settings, tmp) = app.stop().await;
    let meta = dir.join("meta.json");
    let text = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, &text[..text.len() / 2]).unwrap();
    let app = crate::helpers::spawn_with(settings, tmp).await;
    let (status, after) = app.get_json("/v1/search?q=customer+churn").await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(result_names(&after), result_names(&before));
}

/// The service as a child process whose data directory is a small tmpfs of its own (a mount
/// namespace: nothing is mounted outside it), to run out of disk for real.
struct CrampedServer {
    child: std::process::Child,
    base: String,
    client: reqwest::Client,
}

impl Drop for CrampedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl CrampedServer {
    fn start(tmp: &std::path::Path, size_kib: u32) -> CrampedServer {
        use std::io::BufRead;
        let probe = std::process::Command::new("unshare")
            .args(["-m", "true"])
            .status();
        assert!(
            probe.is_ok_and(|s| s.success()),
            "this test needs `unshare -m` (util-linux, as root) to give the service a small disk"
        );
        let data = tmp.join("data");
        let metadata = tmp.join("metadata");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&metadata).unwrap();
        std::fs::write(metadata.join("catalog.csv"), crate::admin::CATALOG_A).unwrap();
        let db = format!("sqlite://{}?mode=rwc", tmp.join("catalog.db").display());
        let script = format!(
            "mount -t tmpfs -o size={size_kib}k tmpfs \"$DATA\" && exec \"$BIN\" --log-format json \
             --bind 127.0.0.1:0 --database-url \"$DB\" --data-dir \"$DATA\" --metadata-dir \"$META\" serve"
        );
        let mut child = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env("BIN", env!("CARGO_BIN_EXE_descoberta"))
            .env("DATA", &data)
            .env("DB", db)
            .env("META", &metadata)
            .env("DESCOBERTA_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("DESCOBERTA_EMBEDDING_ENABLED", "false")
            .env("DESCOBERTA_RATE_LIMIT_ENABLED", "false")
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start descoberta in its own mount namespace");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(event) = serde_json::from_str::<Value>(&line)
                    && event["message"] == "descoberta ready"
                    && let Some(address) = event["address"].as_str()
                {
                    let _ = tx.send(address.to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server logs its address when ready");
        descoberta::tls::init();
        CrampedServer {
            child,
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn upload(&self, csv: String) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/v1/admin/catalog", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        let res = self.client.get(format!("{}{path}", self.base));
        let res = res.bearer_auth(ADMIN_TOKEN).send().await.unwrap();
        res.json().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_a_load_gives_507_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let server = CrampedServer::start(tmp.path(), 768);
    let mut csv = String::from("dataset,column,description\n");
    for d in 0..3_000 {
        csv.push_str(&format!(
            "big.table_{d},,Orders shard {d} of the big catalog\n"
        ));
        for c in 0..10 {
            csv.push_str(&format!(
                "big.table_{d},column_{c},Order attribute {c} of shard {d} with some words\n"
            ));
        }
    }
    let (status, body) = server.upload(csv).await;
    assert_eq!(
        error_code(status, &body, 507),
        "insufficient_storage",
        "{body}"
    );
    // The old version serves on, and the failed one was removed at once.
    let versions = server.get("/v1/admin/versions").await;
    let listed: Vec<i64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![1], "{versions}");
    let search = server.get("/v1/search?q=orders").await;
    assert_eq!(search["catalog_version"], 1);
    assert_eq!(result_names(&search)[0], "alpha.orders");
    // A load that fits still works.
    let (status, body) = server.upload(crate::admin::CATALOG_B.to_string()).await;
    assert_eq!(status, 200, "{body}");
}
