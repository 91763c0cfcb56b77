//! The access matrix: every endpoint, every kind of caller. A dataset a caller may not see
//! never shows in its response bytes (names of the dataset and its columns), nor in any prompt
//! sent to the LLM for it; the callers allowed to see it do see it.
//!
//! API keys live in the store, so the matrix runs on both backends, one test per family of
//! paths.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, Backend, TestApp, spawn_custom};
use crate::llm_server::{FakeLlm, spawn_fake_llm};
use crate::on_both_backends;

on_both_backends!(
    search_and_suggest_show_each_caller_only_what_it_may_see,
    ask_and_its_stream_show_each_caller_only_what_it_may_see,
    prompts_for_a_caller_carry_only_what_it_may_see,
    dataset_pages_and_feedback_show_each_caller_only_what_it_may_see,
    admin_and_ops_endpoints_reveal_no_hidden_name,
    a_revoked_key_gets_401,
    an_unknown_key_gets_401_not_anonymous_access,
    listed_keys_never_show_their_secret,
);

const CATALOG: &str = "dataset,column,description,owner,sensitivity,allowed_groups\n\
pub.holidays,,Public holidays calendar,ops,public,\n\
pub.holidays,holiday_date,Date of the holiday,,,\n\
crm.customers,,Customer master data,crm-team,internal,\n\
crm.customers,customer_id,Customer key,,,\n\
crm.customers,customer_name,Name of the customer,,,\n\
crm.notes,,Account notes written by sales; salaries and bonuses are in hr.salaries,crm-team,internal,\n\
crm.notes,note_text,Free text of the note,,,\n\
hr.salaries,,Employee salaries and bonuses (payroll),hr-team,restricted,hr\n\
hr.salaries,salary_amount,Monthly salary of the employee,,,\n\
hr.salaries,bonus_amount,Yearly bonus of the employee,,,\n\
fin.ledger,,General ledger entries of the company,finance-team,confidential,finance\n\
fin.ledger,ledger_amount,Amount posted to the ledger,,,\n";

const HR_NAMES: &[&str] = &["hr.salaries", "salary_amount", "bonus_amount"];
const FIN_NAMES: &[&str] = &["fin.ledger", "ledger_amount"];

#[derive(Clone)]
enum Who {
    Anonymous,
    Key(String),
    Proxy(&'static str),
    Admin,
}

fn auth(request: reqwest::RequestBuilder, who: &Who) -> reqwest::RequestBuilder {
    match who {
        Who::Anonymous => request,
        Who::Key(key) => request.header("X-Api-Key", key),
        Who::Proxy(groups) => request.header("X-Forwarded-Groups", *groups),
        Who::Admin => request.bearer_auth(ADMIN_TOKEN),
    }
}

/// What the matrix requests, as (description, response text with the caller's own input
/// removed).
type Responses = Vec<(String, String)>;

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

/// `GET /v1/search` and `/v1/suggest` for every query.
async fn search_and_suggest(app: &TestApp, who: &Who) -> Responses {
    let mut out = Vec::new();
    for q in QUERIES {
        for path in ["/v1/search", "/v1/suggest"] {
            let res = auth(
                app.client
                    .get(app.url(path))
                    .query(&[("q", q), ("limit", "50")]),
                who,
            )
            .send()
            .await
            .unwrap();
            let text = res.text().await.unwrap().replace(q, "");
            out.push((format!("GET {path}?q={q}"), text));
        }
    }
    out
}

/// `POST /v1/ask` and `/v1/ask/stream` for a question about every query.
async fn ask_and_stream(app: &TestApp, who: &Who) -> Responses {
    let mut out = Vec::new();
    for q in QUERIES {
        for path in ["/v1/ask", "/v1/ask/stream"] {
            let question = format!("where is the data about {q}?");
            let res = auth(
                app.client
                    .post(app.url(path))
                    .json(&json!({ "question": question })),
                who,
            )
            .send()
            .await
            .unwrap();
            let body = res.text().await.unwrap();
            let text = if path.ends_with("stream") {
                without_echo_in_stream(&body, &question)
            } else {
                body.replace(&question, "")
            };
            out.push((format!("POST {path} {question}"), text));
        }
    }
    out
}

/// `GET /v1/datasets/{name}` and `POST /v1/feedback` for a hidden, a confidential and a visible
/// dataset whose description names a hidden one.
async fn pages_and_feedback(app: &TestApp, who: &Who) -> Responses {
    let mut out = Vec::new();
    let c = &app.client;
    for name in ["hr.salaries", "fin.ledger", "crm.notes"] {
        let res = auth(c.get(app.url(&format!("/v1/datasets/{name}"))), who)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap().replace(name, "");
        out.push((format!("GET /v1/datasets/{name} ({status})"), text));
        let res = auth(
            c.post(app.url("/v1/feedback"))
                .json(&json!({"question": "payroll", "dataset": name, "helpful": true})),
            who,
        )
        .send()
        .await
        .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap().replace(name, "");
        out.push((format!("POST /v1/feedback {name} ({status})"), text));
    }
    out
}

/// Metrics, the gaps report, the version list and readiness.
async fn admin_and_ops(app: &TestApp, who: &Who) -> Responses {
    let mut out = Vec::new();
    for path in [
        "/metrics",
        "/v1/admin/gaps",
        "/v1/admin/versions",
        "/readyz",
    ] {
        let res = auth(app.client.get(app.url(path)), who)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        out.push((format!("GET {path} ({status})"), res.text().await.unwrap()));
    }
    out
}

/// Every request of the matrix.
async fn exercise(app: &TestApp, who: &Who) -> Responses {
    let mut out = search_and_suggest(app, who).await;
    out.extend(ask_and_stream(app, who).await);
    out.extend(pages_and_feedback(app, who).await);
    out.extend(admin_and_ops(app, who).await);
    out
}

/// A stream with the caller's question removed from its text: token events are joined first
/// (the abstention quotes the question, split across tokens), other events kept as sent.
fn without_echo_in_stream(body: &str, question: &str) -> String {
    let mut answer = String::new();
    let mut rest = String::new();
    for event in body.split("\n\n") {
        let data = event
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .unwrap_or("");
        if event.starts_with("event: token") {
            let value: Value = serde_json::from_str(data).unwrap();
            answer.push_str(value["text"].as_str().unwrap());
        } else {
            rest.push_str(event);
            rest.push_str("\n\n");
        }
    }
    format!(
        "{}\n{}",
        rest.replace(question, ""),
        answer.replace(question, "")
    )
}

fn assert_hidden(responses: &[(String, String)], names: &[&str], who: &str) {
    for (what, text) in responses {
        for name in names {
            assert!(!text.contains(name), "{who}: {what} reveals {name}: {text}");
        }
    }
}

fn assert_shown(responses: &[(String, String)], name: &str, who: &str) {
    assert!(
        responses.iter().any(|(_, text)| text.contains(name)),
        "{who} may see {name} but never got it"
    );
}

fn catalog_part(prompt: &str) -> &str {
    prompt.rsplit("<catalog>").next().unwrap_or_default()
}

async fn create_key(app: &TestApp, groups: &[&str]) -> (String, String) {
    let res = app
        .client
        .post(app.url("/v1/admin/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": format!("key for {groups:?}"), "groups": groups}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

async fn app_with(backend: Backend, fake: &FakeLlm, proxies: &[&str]) -> TestApp {
    let base = fake.base_url.clone();
    let proxies: Vec<String> = proxies.iter().map(|p| p.to_string()).collect();
    spawn_custom(backend, Some(CATALOG), move |s| {
        s.llm.base_url = Some(base);
        s.llm.model = Some("normal".into());
        s.access.trusted_proxy_header = Some("X-Forwarded-Groups".into());
        s.access.trusted_proxies = proxies;
    })
    .await
}

/// One kind of caller: the names it must never get, the names it must get from search and
/// ask, and those it must get from the dataset pages (where the requested name is removed
/// from the response, so only columns and names in other datasets' text remain).
struct Caller {
    label: &'static str,
    who: Who,
    hidden: Vec<&'static str>,
    shown: Vec<&'static str>,
    shown_on_pages: Vec<&'static str>,
}

/// The service on the matrix catalog with the test LLM, trusting the groups header from
/// localhost, and its callers (two of them with keys made through the admin API).
struct Matrix {
    fake: FakeLlm,
    app: TestApp,
    callers: Vec<Caller>,
}

async fn matrix(backend: Backend) -> Matrix {
    let fake = spawn_fake_llm().await;
    let app = app_with(backend, &fake, &["127.0.0.1", "::1"]).await;
    let (_, hr_key) = create_key(&app, &["hr"]).await;
    let (_, sales_key) = create_key(&app, &["sales"]).await;
    let callers = vec![
        Caller {
            label: "anonymous",
            who: Who::Anonymous,
            hidden: [HR_NAMES, FIN_NAMES].concat(),
            shown: vec![],
            shown_on_pages: vec![],
        },
        Caller {
            label: "wrong group",
            who: Who::Key(sales_key),
            hidden: [HR_NAMES, FIN_NAMES].concat(),
            shown: vec![],
            shown_on_pages: vec![],
        },
        Caller {
            label: "right group (key)",
            who: Who::Key(hr_key),
            hidden: FIN_NAMES.to_vec(),
            shown: vec!["hr.salaries", "salary_amount"],
            shown_on_pages: vec!["hr.salaries", "salary_amount"],
        },
        Caller {
            label: "right group (proxy)",
            who: Who::Proxy("sales, hr"),
            hidden: FIN_NAMES.to_vec(),
            shown: vec!["hr.salaries"],
            shown_on_pages: vec!["hr.salaries"],
        },
        Caller {
            label: "admin",
            who: Who::Admin,
            hidden: vec![],
            shown: vec!["hr.salaries", "fin.ledger", "ledger_amount"],
            shown_on_pages: vec!["hr.salaries", "ledger_amount"],
        },
    ];
    Matrix { fake, app, callers }
}

async fn search_and_suggest_show_each_caller_only_what_it_may_see(backend: Backend) {
    let m = matrix(backend).await;
    for caller in &m.callers {
        let responses = search_and_suggest(&m.app, &caller.who).await;
        assert_hidden(&responses, &caller.hidden, caller.label);
        for name in &caller.shown {
            assert_shown(&responses, name, caller.label);
        }
    }
}

async fn ask_and_its_stream_show_each_caller_only_what_it_may_see(backend: Backend) {
    let m = matrix(backend).await;
    for caller in &m.callers {
        let responses = ask_and_stream(&m.app, &caller.who).await;
        assert_hidden(&responses, &caller.hidden, caller.label);
        for name in &caller.shown {
            assert_shown(&responses, name, caller.label);
        }
    }
}

async fn prompts_for_a_caller_carry_only_what_it_may_see(backend: Backend) {
    let m = matrix(backend).await;
    for caller in &m.callers {
        let before = m.fake.prompts().len();
        ask_and_stream(&m.app, &caller.who).await;
        let prompts = m.fake.prompts();
        assert!(
            prompts.len() > before,
            "{}: the LLM was asked",
            caller.label
        );
        for prompt in &prompts[before..] {
            for name in &caller.hidden {
                assert!(
                    !catalog_part(prompt).contains(name),
                    "{}: a prompt revealed {name}",
                    caller.label
                );
            }
        }
    }
}

async fn dataset_pages_and_feedback_show_each_caller_only_what_it_may_see(backend: Backend) {
    let m = matrix(backend).await;
    for caller in &m.callers {
        let responses = pages_and_feedback(&m.app, &caller.who).await;
        assert_hidden(&responses, &caller.hidden, caller.label);
        for name in &caller.shown_on_pages {
            assert_shown(&responses, name, caller.label);
        }
    }
}

async fn admin_and_ops_endpoints_reveal_no_hidden_name(backend: Backend) {
    let m = matrix(backend).await;
    // Traffic about the hidden datasets first, so metrics and the gaps report have seen them.
    search_and_suggest(&m.app, &Who::Admin).await;
    for question in ["where is hr.salaries?", "where is fin.ledger?"] {
        let res = auth(
            m.app
                .client
                .post(m.app.url("/v1/ask"))
                .json(&json!({ "question": question })),
            &Who::Admin,
        )
        .send()
        .await
        .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
    for caller in &m.callers {
        let responses = admin_and_ops(&m.app, &caller.who).await;
        assert_hidden(&responses, &caller.hidden, caller.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visible_description_naming_a_hidden_dataset_is_redacted() {
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG), |_| {}).await;
    let (_, notes) = app.get_json("/v1/datasets/crm.notes").await;
    assert!(
        notes["description"]
            .as_str()
            .unwrap()
            .contains("[restricted dataset]"),
        "{notes}"
    );
    let (_, notes) = app.get_as_admin("/v1/datasets/crm.notes").await;
    assert!(
        notes["description"]
            .as_str()
            .unwrap()
            .contains("hr.salaries")
    );
}

/// The status of a search made with `key`.
async fn search_status_with_key(app: &TestApp, key: &str) -> u16 {
    app.client
        .get(app.url("/v1/search?q=customers"))
        .header("X-Api-Key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_revoked_key_gets_401(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG), |_| {}).await;
    let (sales_id, sales_key) = create_key(&app, &["sales"]).await;
    assert_eq!(search_status_with_key(&app, &sales_key).await, 200);
    let res = app
        .client
        .delete(app.url(&format!("/v1/admin/keys/{sales_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(search_status_with_key(&app, &sales_key).await, 401);
    let (_, keys) = app.get_as_admin("/v1/admin/keys").await;
    assert!(keys.to_string().contains("revoked_at_ms"));
    let listed = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == sales_id.as_str())
        .expect("a revoked key is still listed");
    assert!(listed["revoked_at_ms"].is_i64(), "{listed}");
}

async fn an_unknown_key_gets_401_not_anonymous_access(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG), |_| {}).await;
    create_key(&app, &["sales"]).await;
    assert_eq!(search_status_with_key(&app, "dk_not_a_key").await, 401);
}

async fn listed_keys_never_show_their_secret(backend: Backend) {
    let app = spawn_custom(backend, Some(CATALOG), |_| {}).await;
    let (hr_id, hr_key) = create_key(&app, &["hr"]).await;
    let (_, keys) = app.get_as_admin("/v1/admin/keys").await;
    let listed = keys.to_string();
    assert!(!listed.contains(&hr_key), "keys are never listed");
    assert!(listed.contains(&hr_id), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_groups_header_counts_only_from_trusted_proxies() {
    let fake = spawn_fake_llm().await;
    let app = app_with(Backend::Sqlite, &fake, &["10.1.2.3"]).await;
    let responses = exercise(&app, &Who::Proxy("hr")).await;
    assert_hidden(&responses, HR_NAMES, "untrusted proxy header");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_only_deployment_hides_internal_datasets_from_anonymous_callers() {
    let app = spawn_custom(Backend::Sqlite, Some(CATALOG), |s| {
        s.access.anonymous_level = descoberta::catalog::Sensitivity::Public;
    })
    .await;
    let (_, body) = app.get_json("/v1/search?q=customer+holidays+notes").await;
    let names = crate::helpers::result_names(&body);
    assert_eq!(names, ["pub.holidays"], "{body}");
    let (status, _) = app.get_json("/v1/datasets/crm.customers").await;
    assert_eq!(status, 404);
}
