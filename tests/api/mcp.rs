//! The MCP server through a client we did not write: the official MCP Python SDK
//! (`tests/mcp/client.py`, pinned in `tests/mcp/requirements.txt`, installed into
//! `data/tools/mcp-venv` on first use) over Streamable HTTP and over stdio (the real binary,
//! `descoberta mcp`). Results are compared with the REST endpoints on the same catalog; the
//! access matrix of `access.rs` is repeated through MCP; bad arguments, unknown tools,
//! oversize inputs and dropped connections get errors, never a 5xx or a dead transport.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, model_dir, repo_path, spawn_custom};
use crate::llm_server::{FakeLlm, spawn_fake_llm};
use crate::on_both_backends;

on_both_backends!(the_access_matrix_holds_through_mcp);

const CATALOG: &str = "dataset,column,description,owner,domain,sensitivity,allowed_groups\n\
pub.holidays,,Public holidays calendar,ops,calendar,public,\n\
pub.holidays,holiday_date,Date of the holiday,,,,\n\
crm.customers,,Customer master data,crm-team,crm,internal,\n\
crm.customers,customer_id,Customer key,,,,\n\
crm.customers,customer_name,Name of the customer,,,,\n\
crm.notes,,Account notes written by sales; salaries and bonuses are in hr.salaries,crm-team,crm,internal,\n\
crm.notes,note_text,Free text of the note,,,,\n\
hr.salaries,,Employee salaries and bonuses (payroll),hr-team,hr_comp,restricted,hr\n\
hr.salaries,salary_amount,Monthly salary of the employee,,,,\n\
hr.salaries,bonus_amount,Yearly bonus of the employee,,,,\n\
fin.ledger,,General ledger entries of the company,finance-team,fin_books,confidential,finance\n\
fin.ledger,ledger_amount,Amount posted to the ledger,,,,\n";

const DATASETS: [&str; 5] = [
    "pub.holidays",
    "crm.customers",
    "crm.notes",
    "hr.salaries",
    "fin.ledger",
];
/// Names (datasets, columns, and the domain only they have) of the hidden datasets.
const HR_NAMES: &[&str] = &["hr.salaries", "salary_amount", "bonus_amount", "hr_comp"];
const FIN_NAMES: &[&str] = &["fin.ledger", "ledger_amount", "fin_books"];
const TOOLS: [&str; 6] = [
    "search_datasets",
    "get_dataset",
    "ask",
    "suggest",
    "list_domains",
    "browse",
];

/// The Python of the venv with the pinned SDK, created once (idempotent: a marker holds the
/// requirements it was made from).
fn python() -> PathBuf {
    static READY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let venv = repo_path("data/tools/mcp-venv");
            let python = venv.join("bin/python");
            let requirements = repo_path("tests/mcp/requirements.txt");
            let wanted = std::fs::read_to_string(&requirements).map_err(|e| e.to_string())?;
            let marker = venv.join(".requirements");
            if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(&wanted)
            {
                return Ok(python);
            }
            let run = |cmd: &mut std::process::Command| -> Result<(), String> {
                let out = cmd.output().map_err(|e| e.to_string())?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&out.stderr).into_owned())
                }
            };
            run(std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv))?;
            run(std::process::Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements))?;
            std::fs::write(&marker, wanted).map_err(|e| e.to_string())?;
            Ok(python)
        })
        .clone()
        .unwrap_or_else(|e| panic!("could not install the MCP Python SDK: {e}"))
}

/// Runs the Python client with `plan` and returns what it printed.
async fn run_client(plan: Value) -> Value {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(&file, plan.to_string()).unwrap();
    let out = tokio::process::Command::new(python)
        .arg(repo_path("tests/mcp/client.py"))
        .arg(&file)
        .output()
        .await
        .expect("run the MCP client");
    assert!(
        out.status.success(),
        "the MCP client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        plan.get("stderr")
            .and_then(Value::as_str)
            .and_then(|f| std::fs::read_to_string(f).ok())
            .unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the MCP client printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The binary under test (`DESCOBERTA_BIN` overrides it, as in `scripts/schemathesis`).
fn binary() -> String {
    std::env::var("DESCOBERTA_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_descoberta").into())
}

/// A plan for the Streamable HTTP transport of `app`.
fn over_http(app: &TestApp, headers: Value, lifecycle: &str) -> Value {
    json!({"transport": "http", "url": app.url("/mcp"), "headers": headers, "lifecycle": lifecycle})
}

/// A plan for `descoberta mcp` on the store of `app`, acting as `key`.
fn over_stdio(app: &TestApp, key: Option<&str>, scratch: &std::path::Path) -> Value {
    let mut env = json!({
        "DESCOBERTA_DATABASE_URL": app.database_url,
        "DESCOBERTA_DATA_DIR": scratch.join("data"),
        "DESCOBERTA_METADATA_DIR": scratch.join("metadata"),
        "DESCOBERTA_EMBEDDING_MODEL_DIR": model_dir(),
        "DESCOBERTA_PROMPTS_DIR": repo_path("prompts"),
        "DESCOBERTA_ADMIN_TOKEN": ADMIN_TOKEN,
        "RUST_LOG": "warn",
    });
    if let Some(key) = key {
        env["DESCOBERTA_MCP_API_KEY"] = json!(key);
    }
    if let (Some(base), Some(model)) = (&app.settings.llm.base_url, &app.settings.llm.model) {
        env["DESCOBERTA_LLM_BASE_URL"] = json!(base);
        env["DESCOBERTA_LLM_MODEL"] = json!(model);
    }
    json!({
        "transport": "stdio",
        "command": binary(),
        "args": ["--log-format", "json", "mcp"],
        "env": env,
        "cwd": scratch,
        "stderr": scratch.join("stderr.log"),
    })
}

fn with_work(mut plan: Value, work: &Value) -> Value {
    for (key, value) in work.as_object().unwrap() {
        plan[key] = value.clone();
    }
    plan
}

/// The result of the `i`th call, asserting it succeeded.
fn ok_result(out: &Value, i: usize) -> &Value {
    let call = &out["calls"][i];
    let result = &call["result"];
    assert!(
        result.is_object() && result["isError"] != true,
        "call {i} ({}) failed: {call}",
        call["tool"]
    );
    result
}

fn structured(out: &Value, i: usize) -> &Value {
    &ok_result(out, i)["structuredContent"]
}

fn text_of(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn without(mut value: Value, keys: &[&str]) -> Value {
    if let Some(map) = value.as_object_mut() {
        for key in keys {
            map.remove(*key);
        }
    }
    value
}

fn relocated(value: &Value) -> Value {
    serde_json::from_str(
        &value
            .to_string()
            .replace("#/components/schemas/", "#/$defs/"),
    )
    .unwrap()
}

async fn parity_app() -> TestApp {
    spawn_custom(Backend::Sqlite, Some(CATALOG), |_| {}).await
}

/// What every parity run does: each tool once, a resource, a completion and the prompt.
fn parity_work() -> Value {
    json!({
        "calls": [
            {"tool": "search_datasets", "arguments": {"query": "customer notes", "limit": 10}},
            {"tool": "search_datasets", "arguments": {"query": "customer", "domain": "crm"}},
            {"tool": "get_dataset", "arguments": {"name": "crm.notes"}},
            {"tool": "ask", "arguments": {"question": "where is customer data?"}},
            {"tool": "suggest", "arguments": {"prefix": "cust"}},
            {"tool": "list_domains", "arguments": {}},
            {"tool": "browse", "arguments": {"domain": "crm"}},
        ],
        "reads": ["descoberta://dataset/crm.customers", "descoberta://glossary"],
        "completions": [{"uri": "descoberta://dataset/{name}", "argument": "name", "value": "crm"}],
        "prompts": [{"name": "find_data", "arguments": {"question": "where is churn data?"}}],
    })
}

/// The checks of a parity run against REST, as anonymous.
async fn assert_matches_rest(app: &TestApp, out: &Value) {
    // Initialized, and every tool listed with its schemas.
    assert!(out["protocol_version"].is_string(), "{out}");
    let tools = out["tools"].as_array().expect("tools listed");
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, TOOLS);
    for tool in tools {
        assert!(tool["description"].as_str().unwrap().len() > 40, "{tool}");
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{tool}");
    }
    // The domain arguments list the visible domains.
    let search = &tools[0];
    assert_eq!(
        search["inputSchema"]["properties"]["domain"]["enum"],
        json!(["calendar", "crm"])
    );
    // The output schemas are the OpenAPI schemas (one source of truth).
    let (_, openapi) = app.get_json("/openapi.json").await;
    let schemas = &openapi["components"]["schemas"];
    let get_dataset = &tools[1]["outputSchema"];
    assert_eq!(
        without(get_dataset.clone(), &["$defs"]),
        relocated(&schemas["DatasetView"])
    );
    assert_eq!(
        without(tools[0]["outputSchema"].clone(), &["$defs"]),
        relocated(&schemas["SearchResponse"])
    );
    assert_eq!(
        tools[0]["outputSchema"]["$defs"]["SearchHit"],
        relocated(&schemas["SearchHit"])
    );

    // search_datasets = GET /v1/search
    let (status, rest) = app.get_json("/v1/search?q=customer+notes&limit=10").await;
    assert_eq!(status, 200);
    let mcp = structured(out, 0);
    assert_eq!(
        without(mcp.clone(), &["took_ms"]),
        without(rest, &["took_ms"])
    );
    assert!(text_of(ok_result(out, 0)).contains("crm.notes"));
    // ... within a domain: only its datasets.
    let in_crm = structured(out, 1);
    let names: Vec<&str> = in_crm["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["dataset"].as_str())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with("crm.")),
        "{in_crm}"
    );

    // get_dataset = GET /v1/datasets/{name}
    let (status, rest) = app.get_json("/v1/datasets/crm.notes").await;
    assert_eq!(status, 200);
    assert_eq!(structured(out, 2), &rest);
    assert!(
        rest["description"]
            .as_str()
            .unwrap()
            .contains("[restricted dataset]")
    );

    // ask = POST /v1/ask (extractive here)
    let (status, rest) = app
        .post_json("/v1/ask", json!({"question": "where is customer data?"}))
        .await;
    assert_eq!(status, 200);
    let mcp = structured(out, 3);
    for field in ["answer", "datasets", "mode", "language", "catalog_version"] {
        assert_eq!(mcp[field], rest[field], "{field}");
    }
    assert!(text_of(ok_result(out, 3)).starts_with(rest["answer"].as_str().unwrap()));

    // suggest = GET /v1/suggest
    let (status, rest) = app.get_json("/v1/suggest?q=cust").await;
    assert_eq!(status, 200);
    assert_eq!(structured(out, 4)["suggestions"], rest["suggestions"]);

    // list_domains and browse = the domains of the datasets REST shows this caller.
    let mut visible = Vec::new();
    for name in DATASETS {
        let (status, body) = app.get_json(&format!("/v1/datasets/{name}")).await;
        if status == 200 {
            visible.push((name, body["domain"].as_str().unwrap().to_string()));
        }
    }
    let mut domains: Vec<String> = visible.iter().map(|(_, d)| d.clone()).collect();
    domains.sort();
    domains.dedup();
    let listed: Vec<String> = structured(out, 5)["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, domains);
    let browsed: Vec<&str> = structured(out, 6)["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["dataset"].as_str())
        .collect();
    let in_crm: Vec<&str> = visible
        .iter()
        .filter(|(_, d)| d == "crm")
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(browsed, in_crm);

    // The resources are the visible datasets; reading one is its REST page.
    let resources: Vec<&str> = out["resources"]["result"]["resources"]
        .as_array()
        .expect("resources listed")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    // The glossary first, then the visible datasets.
    assert_eq!(resources.first(), Some(&"glossary"));
    let mut expected: Vec<&str> = visible.iter().map(|(n, _)| *n).collect();
    expected.sort();
    let mut got = resources[1..].to_vec();
    got.sort();
    assert_eq!(got, expected);
    let read = &out["reads"][0]["result"]["contents"][0];
    let page: Value = serde_json::from_str(read["text"].as_str().unwrap()).unwrap();
    let (_, rest) = app.get_json("/v1/datasets/crm.customers").await;
    assert_eq!(page, rest);
    let read = &out["reads"][1]["result"]["contents"][0];
    let glossary: Value = serde_json::from_str(read["text"].as_str().unwrap()).unwrap();
    let (_, rest) = app.get_json("/v1/glossary").await;
    assert_eq!(glossary, rest);
    // Completion of a dataset name.
    assert_eq!(
        out["completions"][0]["result"]["completion"]["values"],
        json!(["crm.customers", "crm.notes"])
    );
    // The prompt template.
    let prompt = &out["prompts"][0]["result"]["messages"][0]["content"]["text"];
    assert!(
        prompt.as_str().unwrap().contains("where is churn data?"),
        "{prompt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_over_http_gets_what_rest_gives() {
    let app = parity_app().await;
    let out = run_client(with_work(
        over_http(&app, json!({}), "initialize"),
        &parity_work(),
    ))
    .await;
    assert_matches_rest(&app, &out).await;
    // The stateless 2026-07-28 lifecycle (server/discover, no session) serves the same.
    let out = run_client(with_work(
        over_http(&app, json!({}), "discover"),
        &parity_work(),
    ))
    .await;
    assert_eq!(
        out["protocol_version"], "2026-07-28",
        "{}",
        out["lifecycle"]
    );
    assert_matches_rest(&app, &out).await;
    // Calls by tool and outcome are counted.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .contains(r#"descoberta_mcp_tool_calls_total{outcome="ok",tool="search_datasets"} 4"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_over_stdio_gets_what_rest_gives() {
    let app = parity_app().await;
    let scratch = tempfile::tempdir().unwrap();
    let out = run_client(with_work(
        over_stdio(&app, None, scratch.path()),
        &parity_work(),
    ))
    .await;
    assert_matches_rest(&app, &out).await;
}

/// One kind of caller through MCP: its HTTP headers or stdio key, the names it must never
/// get and those it must get.
struct McpCaller {
    label: &'static str,
    headers: Value,
    stdio_key: Option<Option<String>>,
    hidden: Vec<&'static str>,
    shown: Vec<&'static str>,
}

const QUERIES: [&str; 8] = [
    "salary",
    "employee salaries and bonuses",
    "hr.salaries",
    "salary_amount",
    "ledger amount",
    "fin.ledger",
    "notes",
    "amount",
];

/// Every tool, resource, completion and prompt, about hidden and visible data.
fn matrix_work() -> Value {
    let mut calls = Vec::new();
    for q in QUERIES {
        calls.push(json!({"tool": "search_datasets", "arguments": {"query": q, "limit": 50}}));
        calls.push(json!({"tool": "suggest", "arguments": {"prefix": q, "limit": 50}}));
    }
    for q in ["where is the salary data?", "hr.salaries", "ledger amount"] {
        calls.push(json!({"tool": "ask", "arguments": {"question": q}}));
    }
    for name in ["hr.salaries", "fin.ledger", "crm.notes", "no.such_dataset"] {
        calls.push(json!({"tool": "get_dataset", "arguments": {"name": name}}));
    }
    for domain in ["calendar", "crm", "hr_comp", "fin_books", "nowhere"] {
        calls.push(json!({"tool": "browse", "arguments": {"domain": domain}}));
        calls.push(
            json!({"tool": "search_datasets", "arguments": {"query": "amount", "domain": domain}}),
        );
    }
    calls.push(json!({"tool": "list_domains", "arguments": {}}));
    let mut reads: Vec<String> = DATASETS
        .iter()
        .map(|d| format!("descoberta://dataset/{d}"))
        .collect();
    reads.push("descoberta://dataset/no.such_dataset".into());
    let completions: Vec<Value> = ["", "h", "f", "c", "hr.", "fin"]
        .iter()
        .map(|v| json!({"uri": "descoberta://dataset/{name}", "argument": "name", "value": v}))
        .collect();
    json!({
        "calls": calls,
        "reads": reads,
        "completions": completions,
        "prompts": [{"name": "find_data", "arguments": {"question": "where is hr.salaries?"}}],
    })
}

/// The client's output as text, each answer without the caller's own input in it (a search
/// for `hr.salaries` may echo its query, as on REST).
fn scrubbed(out: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    for key in [
        "lifecycle",
        "tools",
        "resources",
        "templates",
        "prompts_list",
        "completions",
    ] {
        parts.push(out[key].to_string());
    }
    let echoing = |entry: &Value, inputs: Vec<String>| {
        let mut text = entry.to_string();
        for input in inputs.iter().filter(|i| !i.is_empty()) {
            text = text.replace(input.as_str(), "");
        }
        text
    };
    for call in out["calls"].as_array().unwrap() {
        let inputs: Vec<String> = call["arguments"]
            .as_object()
            .into_iter()
            .flat_map(|a| a.values())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        parts.push(echoing(&without(call.clone(), &["arguments"]), inputs));
    }
    for read in out["reads"].as_array().unwrap() {
        let uri = read["uri"].as_str().unwrap_or_default().to_string();
        let name = uri.trim_start_matches("descoberta://dataset/").to_string();
        parts.push(echoing(&without(read.clone(), &["uri"]), vec![uri, name]));
    }
    for prompt in out["prompts"].as_array().unwrap() {
        parts.push(echoing(prompt, vec!["where is hr.salaries?".into()]));
    }
    parts.join("\n")
}

/// Checks one caller's run: nothing hidden anywhere, what it may see is there, and hidden
/// looks exactly like missing.
fn assert_run(out: &Value, caller: &McpCaller, transport: &str) {
    let who = format!("{} over {transport}", caller.label);
    let text = scrubbed(out);
    for name in &caller.hidden {
        assert!(!text.contains(name), "{who} got {name}: {text}");
    }
    for name in &caller.shown {
        assert!(text.contains(name), "{who} may see {name} but never got it");
    }
    for call in out["calls"].as_array().unwrap() {
        assert!(
            call.get("client_error").is_none() && call.get("error").is_none(),
            "{who}: {call}"
        );
    }
    let calls = out["calls"].as_array().unwrap();
    let find = |tool: &str, field: &str, value: &str| {
        calls
            .iter()
            .find(|c| {
                c["tool"] == tool
                    && c["arguments"][field] == value
                    && c["arguments"].as_object().unwrap().len() == 1
            })
            .unwrap_or_else(|| panic!("no {tool} {value}"))
    };
    let missing = find("get_dataset", "name", "no.such_dataset");
    assert_eq!(missing["result"]["isError"], true);
    for (name, names) in [("hr.salaries", HR_NAMES), ("fin.ledger", FIN_NAMES)] {
        let call = find("get_dataset", "name", name);
        if names.iter().all(|n| caller.hidden.contains(n)) {
            assert_eq!(
                call["result"], missing["result"],
                "{who}: hidden looks like missing"
            );
        } else {
            assert_eq!(call["result"]["isError"], false, "{who}: {call}");
        }
    }
    let nowhere = find("browse", "domain", "nowhere");
    assert_eq!(nowhere["result"]["isError"], true);
    for domain in ["hr_comp", "fin_books"] {
        let call = find("browse", "domain", domain);
        if caller.hidden.contains(&domain) {
            assert_eq!(call["result"], nowhere["result"], "{who}: {domain}");
        }
    }
    let reads = out["reads"].as_array().unwrap();
    let missing_read = reads.last().unwrap();
    assert!(missing_read["error"].is_object(), "{missing_read}");
    for read in reads {
        let uri = read["uri"].as_str().unwrap();
        let hidden = (uri.ends_with("hr.salaries") && caller.hidden.contains(&"hr.salaries"))
            || (uri.ends_with("fin.ledger") && caller.hidden.contains(&"fin.ledger"));
        if hidden {
            assert_eq!(read["error"], missing_read["error"], "{who}: {uri}");
        }
    }
}

fn catalog_part(prompt: &str) -> &str {
    prompt.rsplit("<catalog>").next().unwrap_or_default()
}

async fn create_key(app: &TestApp, groups: &[&str]) -> String {
    let res = app
        .client
        .post(app.url("/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": format!("mcp key {groups:?}"), "groups": groups}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.unwrap();
    body["secret"].as_str().unwrap().to_string()
}

async fn matrix_app(backend: Backend, fake: &FakeLlm) -> TestApp {
    let base = fake.base_url.clone();
    spawn_custom(backend, Some(CATALOG), move |s| {
        s.llm.base_url = Some(base);
        s.llm.model = Some("normal".into());
        s.access.trusted_proxy_header = Some("X-Forwarded-Groups".into());
        s.access.trusted_proxies = vec!["127.0.0.1".into(), "::1".into()];
    })
    .await
}

async fn the_access_matrix_holds_through_mcp(backend: Backend) {
    let fake = spawn_fake_llm().await;
    let app = matrix_app(backend, &fake).await;
    let hr_key = create_key(&app, &["hr"]).await;
    let sales_key = create_key(&app, &["sales"]).await;
    let everything_hidden = [HR_NAMES, FIN_NAMES].concat();
    let callers = vec![
        McpCaller {
            label: "anonymous",
            headers: json!({}),
            stdio_key: Some(None),
            hidden: everything_hidden.clone(),
            shown: vec!["crm.notes"],
        },
        McpCaller {
            label: "wrong group (key)",
            headers: json!({"X-Api-Key": sales_key}),
            stdio_key: Some(Some(sales_key.clone())),
            hidden: everything_hidden.clone(),
            shown: vec!["crm.customers"],
        },
        McpCaller {
            label: "right group (key)",
            headers: json!({"Authorization": format!("Bearer {hr_key}")}),
            stdio_key: Some(Some(hr_key.clone())),
            hidden: FIN_NAMES.to_vec(),
            shown: vec!["hr.salaries", "salary_amount", "hr_comp"],
        },
        McpCaller {
            label: "right group (proxy header)",
            headers: json!({"X-Forwarded-Groups": "sales, hr"}),
            stdio_key: None,
            hidden: FIN_NAMES.to_vec(),
            shown: vec!["hr.salaries", "bonus_amount"],
        },
        McpCaller {
            label: "admin",
            headers: json!({"Authorization": format!("Bearer {ADMIN_TOKEN}")}),
            stdio_key: Some(Some(ADMIN_TOKEN.to_string())),
            hidden: vec![],
            shown: vec!["hr.salaries", "fin.ledger", "ledger_amount", "fin_books"],
        },
    ];
    let work = matrix_work();
    let prompts_hide = |before: usize, caller: &McpCaller, transport: &str| {
        let prompts = fake.prompts();
        assert!(
            prompts.len() > before,
            "{} over {transport}: the LLM was asked",
            caller.label
        );
        for prompt in &prompts[before..] {
            for name in &caller.hidden {
                assert!(
                    !catalog_part(prompt).contains(name),
                    "{} over {transport}: a prompt revealed {name}",
                    caller.label
                );
            }
        }
    };
    for caller in &callers {
        let before = fake.prompts().len();
        let out = run_client(with_work(
            over_http(&app, caller.headers.clone(), "initialize"),
            &work,
        ))
        .await;
        assert_run(&out, caller, "HTTP");
        prompts_hide(before, caller, "HTTP");
    }
    // stdio: the key from the environment (the proxy header has no stdio counterpart).
    for caller in callers.iter().filter(|c| c.stdio_key.is_some()) {
        let scratch = tempfile::tempdir().unwrap();
        let key = caller.stdio_key.clone().flatten();
        let before = fake.prompts().len();
        let out = run_client(with_work(
            over_stdio(&app, key.as_deref(), scratch.path()),
            &work,
        ))
        .await;
        assert_run(&out, caller, "stdio");
        prompts_hide(before, caller, "stdio");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_unknown_tools_and_oversize_inputs_get_errors_not_5xx() {
    let app = parity_app().await;
    let long_question = "where is the customer data? ".repeat(100);
    let huge_question = "x".repeat(100_000);
    let work = json!({"calls": [
        {"tool": "search_datasets", "arguments": {}},
        {"tool": "search_datasets", "arguments": {"query": "customer", "limit": 0}},
        {"tool": "search_datasets", "arguments": {"query": "customer", "limit": "ten"}},
        {"tool": "search_datasets", "arguments": {"query": "customer", "colour": "red"}},
        {"tool": "ask", "arguments": {"question": long_question}},
        {"tool": "get_dataset", "arguments": {"name": 42}},
        {"tool": "browse", "arguments": {"domain": "crm", "offset": -1}},
        {"tool": "no_such_tool", "arguments": {"x": 1}},
        {"tool": "ask", "arguments": {"question": huge_question}},
        {"tool": "search_datasets", "arguments": {"query": "customer"}},
    ]});
    let out = run_client(with_work(over_http(&app, json!({}), "initialize"), &work)).await;
    let calls = out["calls"].as_array().unwrap();
    for (i, field) in [
        (0, "query"),
        (1, "limit"),
        (2, "limit"),
        (3, "colour"),
        (4, "question"),
        (5, "name"),
        (6, "offset"),
    ] {
        let error = &calls[i]["error"];
        assert_eq!(error["code"], -32602, "call {i}: {}", calls[i]);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "call {i} names `{field}`: {error}"
        );
    }
    assert_eq!(calls[7]["result"]["isError"], true, "{}", calls[7]);
    // A body past the limit is refused by the transport; the session goes on.
    assert!(calls[8].get("result").is_none(), "{}", calls[8]);
    assert!(ok_result(&out, 9)["structuredContent"]["total"].as_u64() > Some(0));
    // No 5xx on /mcp.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for line in metrics.lines().filter(|l| l.contains(r#"route="/mcp""#)) {
        assert!(!line.contains(r#"status="5"#), "{line}");
    }
    assert!(
        metrics.contains(
            r#"descoberta_mcp_tool_calls_total{outcome="invalid_params",tool="search_datasets"} 4"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"descoberta_mcp_tool_calls_total{outcome="unknown_tool",tool="unknown"} 1"#
        ),
        "{metrics}"
    );
}

/// A JSON-RPC request over the transport by hand: status, session id, and the messages of
/// the response (its SSE `data:` lines, or its JSON body).
async fn rpc(
    app: &TestApp,
    session: Option<&str>,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Option<String>, Vec<Value>) {
    let mut request = app
        .client
        .post(app.url("/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        request = request
            .header("Mcp-Session-Id", session)
            .header("MCP-Protocol-Version", "2025-06-18");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    let id = res
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_string());
    let text = res.text().await.unwrap();
    let mut messages: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect();
    if messages.is_empty()
        && let Ok(value) = serde_json::from_str::<Value>(&text)
    {
        messages.push(value);
    }
    (status, id, messages)
}

async fn initialize(app: &TestApp) -> String {
    let (status, id, messages) = rpc(
        app,
        None,
        &[],
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
    )
    .await;
    assert_eq!(status, 200, "{messages:?}");
    let id = id.expect("a session id");
    let (status, _, _) = rpc(
        app,
        Some(&id),
        &[],
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    id
}

async fn list_tools_status(app: &TestApp, session: &str) -> u16 {
    let (status, _, messages) = rpc(
        app,
        Some(session),
        &[],
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    )
    .await;
    if status == 200 {
        assert!(messages[0]["result"]["tools"].is_array(), "{messages:?}");
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_bad_requests_leave_the_transport_up() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = parity_app().await;
    let session = initialize(&app).await;
    let host = app.address.trim_start_matches("http://").to_string();
    // A POST whose body never arrives, and a standalone SSE stream, both dropped.
    let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nMcp-Session-Id: {session}\r\n\
         Content-Length: 5000\r\n\r\n{{\"jsonrpc\":\"2.0\",\"id\":9,"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    drop(socket);
    let mut socket = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "GET /mcp HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\
         Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-06-18\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut first = [0u8; 12];
    socket.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    drop(socket);
    // A tool call whose client goes away before the answer.
    let call = app
        .client
        .post(app.url("/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .header("Mcp-Session-Id", &session)
        .header("MCP-Protocol-Version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "ask", "arguments": {"question": "where is customer data?"}}}))
        .timeout(Duration::from_millis(1))
        .send()
        .await;
    drop(call);
    // Not JSON, not JSON-RPC, an oversize body, a wrong method: errors in the JSON contract.
    for (body, expected) in [
        ("not json".to_string(), 400),
        (json!({"hello": "world"}).to_string(), 400),
        (
            json!([{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]).to_string(),
            400,
        ),
        (
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{{\"x\":\"{}\"}}}}",
                "y".repeat(70_000)
            ),
            413,
        ),
    ] {
        let res = app
            .client
            .post(app.url("/mcp"))
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .header("Mcp-Session-Id", &session)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), expected);
        let error: Value = res.json().await.unwrap();
        if expected == 400 {
            // A JSON-RPC error without an id.
            assert!(
                error["error"]["code"].is_i64() && error["id"].is_null(),
                "{error}"
            );
        } else {
            assert_eq!(error["error"]["code"], "payload_too_large");
        }
    }
    let res = app.client.put(app.url("/mcp")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 405);
    // The session and the transport still serve.
    assert_eq!(list_tools_status(&app, &session).await, 200);
    let out = run_client(with_work(
        over_http(&app, json!({}), "initialize"),
        &parity_work(),
    ))
    .await;
    assert_matches_rest(&app, &out).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for line in metrics.lines().filter(|l| l.contains(r#"route="/mcp""#)) {
        assert!(!line.contains(r#"status="5"#), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_identified_before_any_tool_runs() {
    let app = parity_app().await;
    // An unknown key is refused at the door (401), never served as anonymous.
    for headers in [
        [("X-Api-Key", "dk_not_a_key")],
        [("Authorization", "Bearer dk_not_a_key")],
    ] {
        let (status, _, messages) = rpc(
            &app,
            None,
            &headers,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}}),
        )
        .await;
        assert_eq!(status, 401, "{messages:?}");
        assert_eq!(messages[0]["error"]["code"], "unauthorized");
    }
    // A session opened by one caller serves each request as the caller who sends it.
    let session = initialize(&app).await;
    let call = |headers: Vec<(&'static str, String)>| {
        let app = &app;
        let session = session.clone();
        async move {
            let mut request = app
                .client
                .post(app.url("/mcp"))
                .header("Accept", "application/json, text/event-stream")
                .header("Mcp-Session-Id", &session)
                .header("MCP-Protocol-Version", "2025-06-18")
                .json(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                    "params": {"name": "get_dataset", "arguments": {"name": "hr.salaries"}}}));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let res = request.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, anonymous) = call(vec![]).await;
    assert_eq!(status, 200);
    assert!(anonymous.contains(r#""isError":true"#), "{anonymous}");
    let (status, admin) = call(vec![("Authorization", format!("Bearer {ADMIN_TOKEN}"))]).await;
    assert_eq!(status, 200);
    assert!(admin.contains("salary_amount"), "{admin}");
    let (status, _) = call(vec![("X-Api-Key", "dk_not_a_key".into())]).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_apply_to_mcp() {
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG), |s| {
        s.rate_limit.enabled = true;
        s.rate_limit.per_second = 1;
        s.rate_limit.burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, _, messages) = rpc(
            &app,
            None,
            &[],
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}}),
        )
        .await;
        if status == 429 {
            assert_eq!(messages[0]["error"]["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert!(
        statuses.contains(&200) && statuses.contains(&429),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_bounded_and_end_when_idle_or_deleted() {
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG), |s| {
        s.mcp.max_sessions = 2;
    })
    .await;
    let first = initialize(&app).await;
    let second = initialize(&app).await;
    assert_eq!(list_tools_status(&app, &second).await, 200);
    let third = initialize(&app).await;
    // The least recently used session made room; its client gets 404 (start a new session).
    assert_eq!(list_tools_status(&app, &first).await, 404);
    assert_eq!(list_tools_status(&app, &second).await, 200);
    assert_eq!(list_tools_status(&app, &third).await, 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("descoberta_mcp_sessions 2"), "{metrics}");
    // DELETE ends a session.
    let res = app
        .client
        .delete(app.url("/mcp"))
        .header("Mcp-Session-Id", &third)
        .header("MCP-Protocol-Version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(list_tools_status(&app, &third).await, 404);

    // An idle session is closed.
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG), |s| {
        s.mcp.session_idle_secs = 1;
    })
    .await;
    let session = initialize(&app).await;
    let mut status = 200;
    // Each look is activity, so look less often than the idle timeout.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        status = list_tools_status(&app, &session).await;
        if status == 404 {
            break;
        }
    }
    assert_eq!(status, 404, "an idle session ends");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_asked_through_mcp_reach_the_gaps_report() {
    let app = parity_app().await;
    let work = json!({"calls": [
        {"tool": "search_datasets", "arguments": {"query": "zorblax flurbo warranties"}},
        {"tool": "ask", "arguments": {"question": "where are the zorblax flurbo warranties?"}},
    ]});
    let out = run_client(with_work(over_http(&app, json!({}), "initialize"), &work)).await;
    ok_result(&out, 0);
    ok_result(&out, 1);
    for _ in 0..50 {
        let (status, body) = app.get_as_admin("/v1/admin/gaps").await;
        assert_eq!(status, 200, "{body}");
        if body["groups"].as_array().unwrap().iter().any(|g| {
            g["key"].as_str().unwrap().contains("zorblax") && g["asked"].as_u64() >= Some(2)
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = app.get_as_admin("/v1/admin/gaps").await;
    panic!("the MCP questions never reached the gaps report: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_refuses_to_start_with_an_invalid_key() {
    let app = parity_app().await;
    let scratch = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(binary())
        .arg("mcp")
        .env("DESCOBERTA_DATABASE_URL", &app.database_url)
        .env("DESCOBERTA_DATA_DIR", scratch.path())
        .env("DESCOBERTA_EMBEDDING_ENABLED", "false")
        .env("DESCOBERTA_MCP_API_KEY", "dk_not_a_key")
        .env("RUST_LOG", "warn")
        .current_dir(scratch.path())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DESCOBERTA_MCP_API_KEY"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on the protocol stream");
}
