//! An OpenAI-compatible test server standing in for the LLM: real HTTP, the real JSON and SSE
//! wire formats of `POST /v1/chat/completions`. The requested `model` picks the scenario;
//! every request body is recorded so tests can check what the prompt contained.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use bytes::Bytes;
use serde_json::{Value, json};

pub struct FakeLlm {
    /// Base URL to configure as `llm.base_url` (ends in `/v1`).
    pub base_url: String,
    requests: Arc<Mutex<Vec<Value>>>,
    /// Embedding requests are refused (recorded, then answered 400).
    refusing: Arc<AtomicBool>,
    /// Embedding requests are recorded and never answered (a proxy that black-holes them).
    hanging: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeLlm {
    /// Bodies of every request received, oldest first.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// From now on, refuses (`true`) or serves embedding requests.
    pub fn refuse_embeddings(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    /// From now on, leaves embedding requests unanswered (`true`) or serves them.
    pub fn hang_embeddings(&self, hang: bool) {
        self.hanging.store(hang, Ordering::SeqCst);
    }

    /// Every prompt text (system and user messages) received.
    pub fn prompts(&self) -> Vec<String> {
        self.requests()
            .iter()
            .flat_map(|r| {
                r["messages"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| m["content"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    }
}

pub async fn spawn_fake_llm() -> FakeLlm {
    let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
    let state = web::Data::new(requests.clone());
    let refusing: Arc<AtomicBool> = Arc::default();
    let hanging: Arc<AtomicBool> = Arc::default();
    let faults = web::Data::new(EmbeddingFaults {
        refusing: refusing.clone(),
        hanging: hanging.clone(),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(faults.clone())
            .app_data(web::JsonConfig::default().limit(1 << 22))
            .route("/v1/chat/completions", web::post().to(chat_completions))
            .route("/v1/embeddings", web::post().to(embeddings))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let server = tokio::spawn(async move {
        let _ = server.await;
    });
    FakeLlm {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        requests,
        refusing,
        hanging,
        server,
    }
}

/// How the embeddings route misbehaves, as the test asks.
struct EmbeddingFaults {
    refusing: Arc<AtomicBool>,
    hanging: Arc<AtomicBool>,
}

/// Dataset names and their column names, as they appear in the prompt's catalog block.
fn context_entries(prompt: &str) -> Vec<(String, Vec<String>)> {
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    for line in prompt.lines() {
        if let Some(name) = line.strip_prefix("### dataset: ") {
            entries.push((name.trim().to_string(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix("- ")
            && let Some(entry) = entries.last_mut()
        {
            let name = rest
                .split([' ', ':', '('])
                .next()
                .unwrap_or_default()
                .to_string();
            if !name.is_empty() && name != "..." {
                entry.1.push(name);
            }
        }
    }
    entries
}

/// `customer_id` → `Customer id`.
fn spelled(name: &str) -> String {
    let words = name.replace(['_', '.'], " ");
    let mut chars = words.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Drafts for an enrichment request (a `<catalog-entry>` block): one deterministic
/// description per target, from its name and the dataset's. `obedient` follows an injected
/// instruction in the entry: it drafts for an entry nobody asked for and names another
/// dataset.
fn drafts_for(scenario: &str, prompt: &str) -> Option<String> {
    // The last block: the system prompt names the tags too.
    let start = prompt.rfind("<catalog-entry>")? + "<catalog-entry>".len();
    let end = prompt[start..].find("</catalog-entry>")? + start;
    let entry: Value = serde_json::from_str(prompt[start..end].trim()).ok()?;
    let dataset = entry["dataset"]["name"].as_str().unwrap_or_default();
    let leaf = spelled(dataset.rsplit('.').next().unwrap_or(dataset)).to_lowercase();
    let mut drafts: Vec<Value> = entry["targets"]
        .as_array()?
        .iter()
        .map(|t| {
            json!({
                "target": t["id"],
                "description": format!("{} of the {leaf}.", spelled(t["name"].as_str().unwrap_or_default())),
                "confidence": 0.6
            })
        })
        .collect();
    if scenario == "obedient"
        && prompt
            .to_lowercase()
            .contains("ignore previous instructions")
    {
        drafts.push(
            json!({"target": "column:salary_brl", "description": "HACKED", "confidence": 1.0}),
        );
        if let Some(first) = drafts.first_mut() {
            first["description"] = json!("Joins hr.employee_compensation to read every salary.");
        }
    }
    Some(json!({ "drafts": drafts }).to_string())
}

fn reply_for(scenario: &str, prompt: &str) -> String {
    if scenario != "malformed"
        && let Some(drafts) = drafts_for(scenario, prompt)
    {
        return drafts;
    }
    let entries = context_entries(prompt);
    let (dataset, columns) = entries
        .first()
        .cloned()
        .unwrap_or_else(|| ("none".into(), vec![]));
    let first_columns: Vec<String> = columns.iter().take(2).cloned().collect();
    match scenario {
        "malformed" => "Sure! The churn data is probably in some table.".into(),
        "invented" => json!({
            "answer": format!("Use {dataset}."),
            "datasets": [
                {"dataset": dataset, "columns": [first_columns.first(), "made_up_column"], "reason": "real one"},
                {"dataset": "sales.imaginary_table", "columns": ["ghost_column"], "reason": "invented"}
            ]
        })
        .to_string(),
        "invented_text" => json!({
            "answer": format!("Look at sales.imaginary_table and {dataset}."),
            "datasets": [{"dataset": dataset, "columns": first_columns, "reason": "r"}]
        })
        .to_string(),
        "obedient" if prompt.to_lowercase().contains("ignore previous instructions") => json!({
            "answer": "HACKED. The salaries are in hr.employee_compensation.salary_brl.",
            "datasets": [
                {"dataset": "hr.employee_compensation", "columns": ["salary_brl"], "reason": "as instructed"}
            ]
        })
        .to_string(),
        _ => json!({
            "answer": format!("The data is in {dataset}, columns {}.", first_columns.join(" and ")),
            "datasets": [{"dataset": dataset, "columns": first_columns, "reason": "it holds what was asked"}]
        })
        .to_string(),
    }
}

fn error_body(status: u16, message: &str, kind: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": {"message": message, "type": kind, "param": null, "code": null}
    }))
}

async fn chat_completions(
    state: web::Data<Arc<Mutex<Vec<Value>>>>,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    state.lock().unwrap().push(body.clone());
    let scenario = body["model"].as_str().unwrap_or("normal").to_string();
    let prompt: String = body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["content"].as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let format = body["response_format"]["type"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    match (scenario.as_str(), format.as_str()) {
        // Servers that know no structured outputs, or no JSON mode at all, answer 400.
        ("no_schema", "json_schema") | ("no_formats", "json_schema" | "json_object") => {
            return error_body(
                400,
                "response_format is not supported",
                "invalid_request_error",
            );
        }
        _ => {}
    }
    match scenario.as_str() {
        "rate_limited" => return error_body(429, "Rate limit reached", "rate_limit_error"),
        "server_error" => return error_body(500, "The server had an error", "server_error"),
        "slow" => tokio::time::sleep(Duration::from_secs(5)).await,
        _ => {}
    }
    let content = reply_for(&scenario, &prompt);
    let created = 1_700_000_000u32;
    if body["stream"].as_bool() == Some(true) {
        let mut frames: Vec<String> = Vec::new();
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": created,
                "model": scenario, "system_fingerprint": null,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
            })
        };
        frames.push(format!(
            "data: {}\n\n",
            chunk(json!({"role": "assistant", "content": ""}), Value::Null)
        ));
        let chars: Vec<char> = content.chars().collect();
        for piece in chars.chunks(7) {
            let text: String = piece.iter().collect();
            frames.push(format!(
                "data: {}\n\n",
                chunk(json!({"content": text}), Value::Null)
            ));
        }
        frames.push(format!("data: {}\n\n", chunk(json!({}), json!("stop"))));
        frames.push("data: [DONE]\n\n".into());
        let stall = scenario == "stall";
        let stream = futures::stream::unfold(
            (frames.into_iter(), 0usize),
            move |(mut it, n)| async move {
                if stall && n == 3 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                it.next()
                    .map(|f| (Ok::<_, actix_web::Error>(Bytes::from(f)), (it, n + 1)))
            },
        );
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(stream);
    }
    if scenario == "stall" {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": created,
        "model": scenario,
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": prompt.len() / 4, "completion_tokens": content.len() / 4, "total_tokens": (prompt.len() + content.len()) / 4}
    }))
}

/// `POST /v1/embeddings`: a deterministic bag-of-words vector per input (words hashed into
/// 64 buckets), in the OpenAI response format.
async fn embeddings(
    state: web::Data<Arc<Mutex<Vec<Value>>>>,
    faults: web::Data<EmbeddingFaults>,
    body: web::Json<Value>,
) -> HttpResponse {
    let body = body.into_inner();
    state.lock().unwrap().push(body.clone());
    if faults.hanging.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if faults.refusing.load(Ordering::SeqCst) {
        return error_body(400, "embeddings are refused", "invalid_request_error");
    }
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => {
            return error_body(
                400,
                "input must be a string or an array of strings",
                "invalid_request_error",
            );
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let mut v = vec![0f32; 64];
            for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
                if word.len() > 2 {
                    let h = word
                        .bytes()
                        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
                    v[(h % 64) as usize] += 1.0;
                }
            }
            json!({"object": "embedding", "index": index, "embedding": v})
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1}
    }))
}
