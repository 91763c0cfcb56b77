//! The MCP tools: their definitions (descriptions an LLM can act on, input and output JSON
//! schemas), argument checks, and each tool's call. Every result is a view struct of
//! `retrieval::present` or `answer` (the same shapes as REST), built through the caller's
//! visibility; it goes out as `structuredContent` plus a short text rendering.

use std::sync::Arc;
use std::time::Instant;

use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::schema::{json_schema, property};
use crate::answer::{Answer, AnswerMode, AskError, DEFAULT_ANSWER_DATASETS, MAX_ANSWER_DATASETS};
use crate::app::App;
use crate::clock::now_ms;
use crate::governance::QuestionLogEntry;
use crate::http::Caller;
use crate::retrieval::SearchError;
use crate::retrieval::present::{
    BrowseView, DatasetView, DomainsView, SearchResponse, SuggestResponse, suggestions,
};

/// The tools, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolName {
    SearchDatasets,
    GetDataset,
    Ask,
    Suggest,
    ListDomains,
    Browse,
}

impl ToolName {
    pub const ALL: [ToolName; 6] = [
        ToolName::SearchDatasets,
        ToolName::GetDataset,
        ToolName::Ask,
        ToolName::Suggest,
        ToolName::ListDomains,
        ToolName::Browse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ToolName::SearchDatasets => "search_datasets",
            ToolName::GetDataset => "get_dataset",
            ToolName::Ask => "ask",
            ToolName::Suggest => "suggest",
            ToolName::ListDomains => "list_domains",
            ToolName::Browse => "browse",
        }
    }

    pub fn parse(name: &str) -> Option<ToolName> {
        ToolName::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Arguments of `search_datasets`.
#[derive(Debug, ToSchema)]
#[schema(title = "search_datasets arguments")]
pub struct SearchArgs {
    /// What to look for: words, a question, or a dataset/column name, in English or
    /// Portuguese.
    #[schema(min_length = 1)]
    pub query: String,
    /// How many datasets to return (default 10).
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    /// Only datasets of this domain (one of `list_domains`).
    pub domain: Option<String>,
}

/// Arguments of `get_dataset`.
#[derive(Debug, ToSchema)]
#[schema(title = "get_dataset arguments")]
pub struct GetDatasetArgs {
    /// The dataset's full name, e.g. `crm.customer_churn_scores` (case-insensitive).
    #[schema(min_length = 1)]
    pub name: String,
}

/// Arguments of `ask`.
#[derive(Debug, ToSchema)]
#[schema(title = "ask arguments")]
pub struct AskArgs {
    /// The question, in English or Portuguese, e.g. "where is customer churn data?".
    #[schema(min_length = 1)]
    pub question: String,
    /// How many datasets the answer may name (default 5).
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
}

/// Arguments of `suggest`.
#[derive(Debug, ToSchema)]
#[schema(title = "suggest arguments")]
pub struct SuggestArgs {
    /// The beginning of a dataset or column name (typos are tolerated).
    #[schema(min_length = 1)]
    pub prefix: String,
    /// How many names to return (default 8).
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
}

/// Arguments of `list_domains` (none).
#[derive(Debug, ToSchema)]
#[schema(title = "list_domains arguments")]
pub struct ListDomainsArgs {}

/// Arguments of `browse`.
#[derive(Debug, ToSchema)]
#[schema(title = "browse arguments")]
pub struct BrowseArgs {
    /// The domain to list (one of `list_domains`).
    #[schema(min_length = 1)]
    pub domain: String,
    /// How many datasets to return (default 50).
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    /// How many to skip (default 0).
    #[schema(minimum = 0)]
    pub offset: Option<usize>,
}

/// The tool error for a dataset that is missing *or* hidden: the same words for both, and
/// never the name asked for (it may be a hidden one).
pub const NO_SUCH_DATASET: &str =
    "no dataset by that name; find names with search_datasets or suggest";
/// Likewise for a domain no visible dataset has.
pub const NO_SUCH_DOMAIN: &str =
    "no dataset you may see is in that domain; list_domains names the domains";

/// Tool definitions, built once; a listing adds the caller's domains.
pub struct Tools {
    definitions: Vec<(ToolName, Tool)>,
}

fn tool(
    name: ToolName,
    title: &str,
    description: &str,
    input: JsonObject,
    output: JsonObject,
) -> (ToolName, Tool) {
    let definition = Tool::new(name.as_str(), description.to_string(), Arc::new(input))
        .with_title(title)
        .with_raw_output_schema(Arc::new(output))
        .with_annotations(
            ToolAnnotations::with_title(title)
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
        );
    (name, definition)
}

/// An input schema: the derived one, closed to other properties, with the configured bounds.
fn input<T: ToSchema>(bounds: &[(&str, &str, Value)]) -> anyhow::Result<JsonObject> {
    let mut schema = json_schema::<T>()?;
    schema.insert("additionalProperties".into(), Value::Bool(false));
    schema
        .entry("properties")
        .or_insert_with(|| Value::Object(JsonObject::new()));
    for (field, keyword, value) in bounds {
        if let Some(property) = property(&mut schema, field) {
            property.insert((*keyword).to_string(), value.clone());
        }
    }
    Ok(schema)
}

impl Tools {
    pub fn new(app: &App) -> anyhow::Result<Tools> {
        let limits = &app.settings.limits;
        let query_chars = json!(limits.max_query_chars);
        let max_limit = json!(limits.max_limit);
        let definitions = vec![
            tool(
                ToolName::SearchDatasets,
                "Search datasets",
                "Find the datasets (tables, files) that hold some data, ranked best first, each \
                 with its best-matching columns, owner, location, sensitivity and highlighted \
                 matches. Use it first for any question about where data lives. Same ranking as \
                 GET /v1/search.",
                input::<SearchArgs>(&[
                    ("query", "maxLength", query_chars.clone()),
                    ("limit", "maximum", max_limit.clone()),
                ])?,
                json_schema::<SearchResponse>()?,
            ),
            tool(
                ToolName::GetDataset,
                "Get a dataset",
                "Everything about one dataset: description, owner, domain, location, tags, \
                 sensitivity, every column with its type and description, and the datasets it \
                 joins with (foreign keys, lineage) and on which columns. Use it after \
                 search_datasets to check a dataset before recommending it, or to say how \
                 to join two datasets.",
                input::<GetDatasetArgs>(&[("name", "maxLength", query_chars.clone())])?,
                json_schema::<DatasetView>()?,
            ),
            tool(
                ToolName::Ask,
                "Ask where data is",
                "Answer a question about where data lives with a short grounded answer that \
                 names the datasets and columns holding it (only names from the catalog), plus \
                 the datasets with a one-line reason each. The answer is in the question's \
                 language (English or Portuguese).",
                input::<AskArgs>(&[
                    ("question", "maxLength", json!(limits.max_question_chars)),
                    ("limit", "maximum", json!(MAX_ANSWER_DATASETS)),
                ])?,
                json_schema::<Answer>()?,
            ),
            tool(
                ToolName::Suggest,
                "Complete a name",
                "Dataset and column names that start with a prefix (typos tolerated), for \
                 completing a name the user is typing.",
                input::<SuggestArgs>(&[
                    ("prefix", "maxLength", query_chars),
                    ("limit", "maximum", max_limit.clone()),
                ])?,
                json_schema::<SuggestResponse>()?,
            ),
            tool(
                ToolName::ListDomains,
                "List domains",
                "The business domains of the catalog (e.g. sales, crm), with how many datasets \
                 each has. Use it to browse when the user does not know what to search for.",
                input::<ListDomainsArgs>(&[])?,
                json_schema::<DomainsView>()?,
            ),
            tool(
                ToolName::Browse,
                "Browse a domain",
                "The datasets of one domain (from list_domains), with description, owner, \
                 sensitivity and column count.",
                input::<BrowseArgs>(&[("limit", "maximum", max_limit)])?,
                json_schema::<BrowseView>()?,
            ),
        ];
        Ok(Tools { definitions })
    }

    /// The tools as `domains` (the caller's visible domains) make them: the `domain`
    /// arguments list exactly those.
    pub fn listing(&self, domains: &[String]) -> Vec<Tool> {
        self.definitions
            .iter()
            .map(|(name, definition)| {
                let mut definition = definition.clone();
                if matches!(name, ToolName::SearchDatasets | ToolName::Browse)
                    && !domains.is_empty()
                {
                    let mut schema = (*definition.input_schema).clone();
                    if let Some(domain) = property(&mut schema, "domain") {
                        domain.insert("enum".into(), json!(domains));
                    }
                    definition.input_schema = Arc::new(schema);
                }
                definition
            })
            .collect()
    }
}

/// Why a call produced no result.
#[derive(Debug)]
pub enum Failure {
    /// A bad argument: JSON-RPC invalid params, naming the field.
    Invalid(ErrorData),
    /// The tool ran and could not answer: `isError: true`, with this text.
    Tool(String),
}

impl Failure {
    pub fn outcome(&self) -> &'static str {
        match self {
            Failure::Invalid(_) => "invalid_params",
            Failure::Tool(_) => "tool_error",
        }
    }
}

impl From<SearchError> for Failure {
    fn from(e: SearchError) -> Failure {
        Failure::Tool(match e {
            SearchError::NoCatalog => "no catalog is loaded yet".into(),
            SearchError::Closed => "the service is shutting down".into(),
            SearchError::IndexDamaged => {
                "the search index is being repaired; try again in a moment".into()
            }
            SearchError::Internal(e) => {
                tracing::error!(error = ?e, "an MCP tool failed");
                "internal error; the details are in the service log".into()
            }
        })
    }
}

impl From<AskError> for Failure {
    fn from(e: AskError) -> Failure {
        match e {
            AskError::Search(e) => e.into(),
        }
    }
}

fn invalid(field: &str, message: String) -> Failure {
    Failure::Invalid(ErrorData::invalid_params(
        message,
        Some(json!({ "field": field })),
    ))
}

/// The arguments of one call, checked field by field so every error names its field.
pub struct Args {
    map: JsonObject,
}

impl Args {
    /// `allowed`: the tool's argument names; any other is refused.
    pub fn new(map: Option<JsonObject>, allowed: &[&str]) -> Result<Args, Failure> {
        let map = map.unwrap_or_default();
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(
                unknown,
                format!(
                    "unknown argument `{unknown}` (this tool takes: {})",
                    if allowed.is_empty() {
                        "nothing".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            ));
        }
        Ok(Args { map })
    }

    /// A text argument, trimmed, not empty, at most `max_chars`.
    fn text(&self, field: &str, max_chars: usize) -> Result<Option<String>, Failure> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => {
                let value = value.trim();
                if value.is_empty() {
                    return Err(invalid(field, format!("`{field}` must not be empty")));
                }
                if value.chars().count() > max_chars {
                    return Err(invalid(
                        field,
                        format!("`{field}` is longer than {max_chars} characters"),
                    ));
                }
                Ok(Some(value.to_string()))
            }
            Some(_) => Err(invalid(field, format!("`{field}` must be a string"))),
        }
    }

    fn required_text(&self, field: &str, max_chars: usize) -> Result<String, Failure> {
        self.text(field, max_chars)?
            .ok_or_else(|| invalid(field, format!("`{field}` is required")))
    }

    /// A whole number within `range`, if given.
    fn count(
        &self,
        field: &str,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<Option<usize>, Failure> {
        let bad = || {
            invalid(
                field,
                format!(
                    "`{field}` must be a whole number between {} and {}",
                    range.start(),
                    range.end()
                ),
            )
        };
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                let n = n.as_u64().ok_or_else(bad)?;
                let n = usize::try_from(n).map_err(|_| bad())?;
                if range.contains(&n) {
                    Ok(Some(n))
                } else {
                    Err(bad())
                }
            }
            Some(_) => Err(bad()),
        }
    }
}

/// A successful call: the view, and its text rendering.
pub struct Output {
    pub structured: Value,
    pub text: String,
}

impl Output {
    /// Through the JSON text, as REST sends it: numbers read exactly as REST writes them (an
    /// `f32` score is `0.999`, not its `f64` widening `0.9990000128746032`).
    fn new<T: Serialize>(view: &T, text: String) -> Result<Output, Failure> {
        let structured = serde_json::to_string(view)
            .and_then(|json| serde_json::from_str(&json))
            .map_err(|e| {
                tracing::error!(error = ?e, "an MCP tool result did not serialize");
                Failure::Tool("internal error; the details are in the service log".into())
            })?;
        Ok(Output { structured, text })
    }

    pub fn into_result(self) -> CallToolResult {
        let mut result = CallToolResult::success(vec![ContentBlock::text(self.text)]);
        result.structured_content = Some(self.structured);
        result
    }
}

/// Shortens `text` to about `max` characters, on a character boundary.
fn short(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    format!("{}…", cut.trim_end())
}

/// Runs one tool for `caller`.
pub async fn call(
    app: &App,
    caller: &Caller,
    tool: ToolName,
    arguments: Option<JsonObject>,
) -> Result<Output, Failure> {
    match tool {
        ToolName::SearchDatasets => search_datasets(app, caller, arguments).await,
        ToolName::GetDataset => get_dataset(app, caller, arguments),
        ToolName::Ask => ask(app, caller, arguments).await,
        ToolName::Suggest => suggest(app, caller, arguments).await,
        ToolName::ListDomains => list_domains(app, caller, arguments),
        ToolName::Browse => browse(app, caller, arguments),
    }
}

fn took_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1e5).round() / 100.0
}

async fn search_datasets(
    app: &App,
    caller: &Caller,
    arguments: Option<JsonObject>,
) -> Result<Output, Failure> {
    let started = Instant::now();
    let limits = &app.settings.limits;
    let args = Args::new(arguments, &["query", "limit", "domain"])?;
    let SearchArgs {
        query,
        limit,
        domain,
    } = SearchArgs {
        query: args.required_text("query", limits.max_query_chars)?,
        limit: args.count("limit", 1..=limits.max_limit)?,
        domain: args.text("domain", limits.max_query_chars)?,
    };
    let limit = limit.unwrap_or(10).min(limits.max_limit);
    if let Some(domain) = &domain {
        let snapshot = app.search.snapshot().ok_or(SearchError::NoCatalog)?;
        if snapshot.in_domain(domain, &caller.visibility).is_empty() {
            return Err(Failure::Tool(NO_SUCH_DOMAIN.into()));
        }
    }
    let (snapshot, ranked) = app
        .search
        .search_in(&query, &caller.visibility, limit, domain.as_deref())
        .await?;
    let mut response =
        SearchResponse::page(&query, &snapshot, &ranked, limit, 0, &caller.visibility);
    app.governance
        .log_question(crate::http::search::search_log_entry(
            "mcp_search",
            &query,
            &ranked,
            &response,
            caller.key_id.clone(),
            took_ms(started),
        ));
    response.took_ms = took_ms(started);
    let mut text = format!(
        "{} dataset(s) match “{}”{}",
        response.total,
        short(&query, 80),
        if response.results.len() < response.total {
            format!("; the best {}:", response.results.len())
        } else {
            ":".into()
        }
    );
    for (i, hit) in response.results.iter().enumerate() {
        text.push_str(&format!("\n{}. {}", i + 1, hit.dataset));
        if let Some(description) = &hit.description {
            text.push_str(&format!(" — {}", short(description, 120)));
        }
        if let Some(owner) = &hit.owner {
            text.push_str(&format!(" (owner: {owner})"));
        }
        let columns: Vec<&str> = hit.columns.iter().map(|c| c.name.as_str()).collect();
        if !columns.is_empty() {
            text.push_str(&format!(". Columns: {}", columns.join(", ")));
        }
    }
    Output::new(&response, text)
}

fn get_dataset(
    app: &App,
    caller: &Caller,
    arguments: Option<JsonObject>,
) -> Result<Output, Failure> {
    let args = Args::new(arguments, &["name"])?;
    let GetDatasetArgs { name } = GetDatasetArgs {
        name: args.required_text("name", app.settings.limits.max_query_chars)?,
    };
    let snapshot = app.search.snapshot().ok_or(SearchError::NoCatalog)?;
    let view = DatasetView::visible(&snapshot, &name, &caller.visibility)
        .ok_or_else(|| Failure::Tool(NO_SUCH_DATASET.into()))?;
    let mut text = view.dataset.clone();
    if let Some(description) = &view.description {
        text.push_str(&format!(" — {}", short(description, 240)));
    }
    let facts: Vec<String> = [
        view.owner.as_ref().map(|o| format!("owner: {o}")),
        view.domain.as_ref().map(|d| format!("domain: {d}")),
        view.location.as_ref().map(|l| format!("location: {l}")),
        Some(format!(
            "sensitivity: {}",
            serde_json::to_value(view.sensitivity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        )),
        (!view.tags.is_empty()).then(|| format!("tags: {}", view.tags.join(", "))),
    ]
    .into_iter()
    .flatten()
    .collect();
    text.push_str(&format!("\n{}", facts.join("; ")));
    text.push_str(&format!("\nColumns ({}):", view.columns.len()));
    for column in view.columns.iter().take(60) {
        text.push_str(&format!("\n- {}", column.name));
        if let Some(data_type) = &column.data_type {
            text.push_str(&format!(" ({data_type})"));
        }
        if let Some(description) = &column.description {
            text.push_str(&format!(": {}", short(description, 100)));
        }
    }
    if view.columns.len() > 60 {
        text.push_str(&format!("\n… and {} more", view.columns.len() - 60));
    }
    if !view.relationships.is_empty() {
        text.push_str("\nRelated datasets:");
        for related in view.relationships.iter().take(30) {
            text.push_str(&format!("\n- {} ({}", related.dataset, related.kind));
            let on: Vec<String> = related
                .on
                .iter()
                .map(|j| {
                    format!(
                        "{}.{} = {}.{}",
                        view.dataset, j.column, related.dataset, j.other_column
                    )
                })
                .collect();
            if !on.is_empty() {
                text.push_str(&format!(", join on {}", on.join(" and ")));
            }
            text.push(')');
        }
    }
    Output::new(&view, text)
}

async fn ask(app: &App, caller: &Caller, arguments: Option<JsonObject>) -> Result<Output, Failure> {
    let started = Instant::now();
    let args = Args::new(arguments, &["question", "limit"])?;
    let AskArgs { question, limit } = AskArgs {
        question: args.required_text("question", app.settings.limits.max_question_chars)?,
        limit: args.count("limit", 1..=MAX_ANSWER_DATASETS)?,
    };
    let limit = limit.unwrap_or(DEFAULT_ANSWER_DATASETS);
    let answer = app
        .answerer
        .ask(&app.search, &question, &caller.visibility, limit)
        .await?;
    app.governance.log_question(QuestionLogEntry {
        at_ms: now_ms(),
        source: "mcp_ask".into(),
        question,
        question_key: answer.question_key.clone(),
        key_id: caller.key_id.clone(),
        top_datasets: answer
            .datasets
            .iter()
            .take(3)
            .map(|d| d.dataset.clone())
            .collect(),
        confidence: f64::from(answer.confidence),
        mode: match answer.mode {
            AnswerMode::Llm => "llm",
            AnswerMode::Extractive => "extractive",
        }
        .into(),
        latency_ms: took_ms(started),
    });
    let mut text = answer.answer.clone();
    if !answer.datasets.is_empty() {
        let names: Vec<&str> = answer.datasets.iter().map(|d| d.dataset.as_str()).collect();
        text.push_str(&format!("\n\nDatasets: {}", names.join(", ")));
    }
    Output::new(&answer, text)
}

async fn suggest(
    app: &App,
    caller: &Caller,
    arguments: Option<JsonObject>,
) -> Result<Output, Failure> {
    let started = Instant::now();
    let limits = &app.settings.limits;
    let args = Args::new(arguments, &["prefix", "limit"])?;
    let SuggestArgs { prefix, limit } = SuggestArgs {
        prefix: args.required_text("prefix", limits.max_query_chars)?,
        limit: args.count("limit", 1..=limits.max_limit)?,
    };
    let limit = limit.unwrap_or(8).min(limits.max_limit);
    let visibility = caller.visibility.clone();
    let query = prefix.clone();
    let (version, found) = app
        .search
        .with_snapshot(move |snapshot| {
            Ok((
                snapshot.version,
                suggestions(snapshot, &query, &visibility, limit)?,
            ))
        })
        .await?;
    let response = SuggestResponse {
        query: prefix,
        suggestions: found,
        catalog_version: version,
        took_ms: took_ms(started),
    };
    let text = if response.suggestions.is_empty() {
        "no names match".to_string()
    } else {
        let names: Vec<&str> = response
            .suggestions
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        format!("Names: {}", names.join(", "))
    };
    Output::new(&response, text)
}

fn list_domains(
    app: &App,
    caller: &Caller,
    arguments: Option<JsonObject>,
) -> Result<Output, Failure> {
    Args::new(arguments, &[])?;
    let ListDomainsArgs {} = ListDomainsArgs {};
    let snapshot = app.search.snapshot().ok_or(SearchError::NoCatalog)?;
    let view = DomainsView::new(&snapshot, &caller.visibility);
    let text = if view.domains.is_empty() {
        "no domains".to_string()
    } else {
        let items: Vec<String> = view
            .domains
            .iter()
            .map(|d| format!("{} ({})", d.domain, d.datasets))
            .collect();
        format!("Domains (datasets): {}", items.join(", "))
    };
    Output::new(&view, text)
}

fn browse(app: &App, caller: &Caller, arguments: Option<JsonObject>) -> Result<Output, Failure> {
    let limits = &app.settings.limits;
    let args = Args::new(arguments, &["domain", "limit", "offset"])?;
    let BrowseArgs {
        domain,
        limit,
        offset,
    } = BrowseArgs {
        domain: args.required_text("domain", limits.max_query_chars)?,
        limit: args.count("limit", 1..=limits.max_limit)?,
        offset: args.count("offset", 0..=limits.max_offset)?,
    };
    let limit = limit.unwrap_or(50).min(limits.max_limit);
    let offset = offset.unwrap_or(0);
    let snapshot = app.search.snapshot().ok_or(SearchError::NoCatalog)?;
    let view = BrowseView::new(&snapshot, &domain, &caller.visibility, limit, offset)
        .ok_or_else(|| Failure::Tool(NO_SUCH_DOMAIN.into()))?;
    let mut text = format!("{}: {} dataset(s)", view.domain, view.total);
    for d in &view.datasets {
        text.push_str(&format!("\n- {}", d.dataset));
        if let Some(description) = &d.description {
            text.push_str(&format!(" — {}", short(description, 100)));
        }
    }
    Output::new(&view, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked_field_by_field() {
        let map = |v: Value| v.as_object().cloned();
        let Err(Failure::Invalid(e)) = Args::new(map(json!({"query": "x", "nope": 1})), &["query"])
        else {
            panic!("an unknown argument is refused");
        };
        assert!(e.message.contains("`nope`"), "{}", e.message);
        let args = Args::new(map(json!({"query": "  ", "limit": 0})), &["query", "limit"]).unwrap();
        let Err(Failure::Invalid(e)) = args.required_text("query", 10) else {
            panic!("an empty query is refused");
        };
        assert!(e.message.contains("`query`"));
        let Err(Failure::Invalid(e)) = args.count("limit", 1..=100) else {
            panic!("limit 0 is refused");
        };
        assert!(e.message.contains("`limit`"));
        let args = Args::new(map(json!({"limit": "ten"})), &["limit"]).unwrap();
        assert!(matches!(
            args.count("limit", 1..=100),
            Err(Failure::Invalid(_))
        ));
        let args = Args::new(None, &["limit"]).unwrap();
        assert!(matches!(args.count("limit", 1..=100), Ok(None)));
    }

    #[test]
    fn short_texts_stay_short() {
        assert_eq!(short("a  b\nc", 10), "a b c");
        assert_eq!(short("abcdefghij", 4), "abcd…");
    }
}
