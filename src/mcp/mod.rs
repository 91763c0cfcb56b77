//! The MCP front door: AI agents find data through the same catalog, with the same
//! permissions. The protocol is rmcp's (the official Rust SDK): its model types and its server
//! handler trait, implemented here by [`Server`]. Two transports serve it: Streamable HTTP at
//! `/mcp` on the service's own port ([`transport`], rmcp's `StreamableHttpService` adapted into
//! an actix route, behind the same identity, rate limits and body limits as REST), and stdio
//! for desktop clients ([`stdio`], `descoberta mcp`).
//!
//! Every tool, resource, prompt and completion goes through the caller's visibility: the views
//! of `retrieval::present` (the same structs as REST, built from `Snapshot::view`), and the
//! tool listing's domain values are the domains of datasets the caller may see.

mod schema;
mod sessions;
pub mod stdio;
mod tools;
pub mod transport;

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams,
    CompleteResult, CompletionInfo, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Implementation, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, Prompt, PromptArgument,
    PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Reference,
    Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tracing::Instrument;

use crate::app::App;
use crate::http::Caller;
use crate::retrieval::present::{DatasetView, GlossaryView};
pub use tools::{NO_SUCH_DATASET, NO_SUCH_DOMAIN, ToolName, Tools};

/// The URI scheme of dataset resources: `descoberta://dataset/{name}`.
pub const DATASET_URI: &str = "descoberta://dataset/";
const DATASET_TEMPLATE: &str = "descoberta://dataset/{name}";
/// The business glossary, as the caller may see it (`GET /v1/glossary`).
pub const GLOSSARY_URI: &str = "descoberta://glossary";
/// The prompt template.
pub const FIND_DATA_PROMPT: &str = "find_data";
/// Resources per page of `resources/list`.
const RESOURCES_PAGE: usize = 200;
/// Completion values returned at most (the protocol's limit).
const MAX_COMPLETIONS: usize = CompletionInfo::MAX_VALUES;

/// The MCP server of one session (HTTP) or process (stdio). The caller is resolved per
/// request from the HTTP request (see [`transport`]) or fixed at start (stdio).
#[derive(Clone)]
pub struct Server {
    app: Arc<App>,
    tools: Arc<Tools>,
    fixed_caller: Option<Caller>,
}

impl Server {
    pub fn new(app: Arc<App>, tools: Arc<Tools>, fixed_caller: Option<Caller>) -> Server {
        Server {
            app,
            tools,
            fixed_caller,
        }
    }

    /// Who is calling. On HTTP the transport resolved it (exactly as REST does) before the
    /// request reached the protocol; a request without one is refused, never anonymous.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
        if let Some(caller) = &self.fixed_caller {
            return Ok(caller.clone());
        }
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| {
                tracing::error!("an MCP request reached the server without a caller");
                ErrorData::internal_error("the caller could not be identified", None)
            })
    }

    fn domains(&self, caller: &Caller) -> Vec<String> {
        self.app
            .search
            .snapshot()
            .map(|s| {
                s.domains(&caller.visibility)
                    .into_iter()
                    .map(|(d, _)| d)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The dataset name in a resource URI.
fn dataset_of_uri(uri: &str) -> Option<String> {
    let name = uri.strip_prefix(DATASET_URI)?;
    let name = percent_decode(name)?;
    (!name.trim().is_empty()).then_some(name)
}

/// `%XX` sequences decoded (names are plain identifiers; clients may escape them anyway).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn resource_not_found() -> ErrorData {
    ErrorData::resource_not_found(NO_SUCH_DATASET, None)
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_tools()
                .build(),
        )
        .with_server_info(
            Implementation::new("descoberta", env!("CARGO_PKG_VERSION"))
                .with_title("descoberta data catalog"),
        )
        .with_instructions(
            "descoberta is the data catalog: it knows which datasets (tables, files) and \
             columns hold which data, who owns them and where they live. To find data, call \
             search_datasets (or ask, for a short answer naming the datasets), then get_dataset \
             to check one. Cite dataset and column names exactly as returned. You only see the \
             datasets your credentials allow.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context)?;
        let tools = self.tools.listing(&self.domains(&caller));
        // The listing depends on the caller (its domains): never shared between users.
        Ok(ListToolsResult::with_all_items(tools)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context)?;
        let tool = ToolName::parse(&request.name);
        let label = tool.map_or("unknown", ToolName::as_str);
        let span = tracing::info_span!(
            "mcp_tool_call",
            otel.name = %format!("mcp {label}"),
            mcp.tool = label,
            mcp.outcome = tracing::field::Empty,
            key_id = caller.key_id.as_deref().unwrap_or("-"),
        );
        let started = Instant::now();
        let metrics = self.app.metrics.clone();
        let app = self.app.clone();
        async move {
            let (outcome, result) = match tool {
                None => (
                    "unknown_tool",
                    Ok(CallToolResult::error(vec![ContentBlock::text(
                        "unknown tool; tools/list names the tools of this server",
                    )])),
                ),
                Some(tool) => match tools::call(&app, &caller, tool, request.arguments).await {
                    Ok(output) => ("ok", Ok(output.into_result())),
                    Err(failure) => (
                        failure.outcome(),
                        match failure {
                            tools::Failure::Invalid(error) => Err(error),
                            tools::Failure::Tool(message) => {
                                Ok(CallToolResult::error(vec![ContentBlock::text(message)]))
                            }
                        },
                    ),
                },
            };
            let elapsed = started.elapsed();
            metrics
                .mcp_tool_calls
                .with_label_values(&[label, outcome])
                .inc();
            metrics
                .mcp_tool_duration
                .with_label_values(&[label])
                .observe(elapsed.as_secs_f64());
            tracing::Span::current().record("mcp.outcome", outcome);
            tracing::info!(
                outcome,
                latency_ms = elapsed.as_secs_f64() * 1e3,
                "tool call"
            );
            result.map(CallToolResponse::from)
        }
        .instrument(span)
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = self.caller(&context)?;
        let offset = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(cursor) => cursor
                .parse::<usize>()
                .map_err(|_| ErrorData::invalid_params("`cursor` is not one of ours", None))?,
        };
        let Some(snapshot) = self.app.search.snapshot() else {
            return Ok(ListResourcesResult::with_all_items(Vec::new())
                .with_ttl_ms(0)
                .with_cache_scope(CacheScope::Private));
        };
        let visibility = &caller.visibility;
        let ordinals: Vec<u32> = snapshot.visible_ordinals(visibility).collect();
        let mut resources: Vec<Resource> = Vec::new();
        if offset == 0 {
            resources.push(
                Resource::new(GLOSSARY_URI, "glossary")
                    .with_description(
                        "The business glossary: terms, their synonyms (English and Portuguese) \
                         and the datasets and columns that implement them",
                    )
                    .with_mime_type("application/json"),
            );
        }
        resources.extend(
            ordinals
                .iter()
                .skip(offset)
                .take(RESOURCES_PAGE)
                .filter_map(|&ordinal| {
                    let d = snapshot.view(ordinal, visibility)?;
                    let mut resource = Resource::new(format!("{DATASET_URI}{}", d.name), &d.name)
                        .with_mime_type("application/json");
                    if let Some(description) = &d.description {
                        resource = resource.with_description(description);
                    }
                    Some(resource)
                }),
        );
        let mut result = ListResourcesResult::with_all_items(resources)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private);
        if offset + RESOURCES_PAGE < ordinals.len() {
            result.next_cursor = Some((offset + RESOURCES_PAGE).to_string());
        }
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let template = ResourceTemplate::new(DATASET_TEMPLATE, "dataset")
            .with_title("A dataset of the catalog")
            .with_description(
                "One dataset with its columns, owner, location, tags and sensitivity (JSON)",
            )
            .with_mime_type("application/json");
        Ok(ListResourceTemplatesResult::with_all_items(vec![template])
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let caller = self.caller(&context)?;
        let snapshot = self.app.search.snapshot().ok_or_else(resource_not_found)?;
        let text = if request.uri == GLOSSARY_URI {
            serde_json::to_string_pretty(&GlossaryView::new(&snapshot, &caller.visibility))
        } else {
            let name = dataset_of_uri(&request.uri).ok_or_else(resource_not_found)?;
            let view = DatasetView::visible(&snapshot, &name, &caller.visibility)
                .ok_or_else(resource_not_found)?;
            serde_json::to_string_pretty(&view)
        };
        let text = text.map_err(|e| {
            tracing::error!(error = ?e, "a dataset view did not serialize");
            ErrorData::internal_error("internal error; the details are in the service log", None)
        })?;
        let contents = ResourceContents::text(text, request.uri).with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![contents])
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private)
            .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(vec![find_data_prompt()])
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        if request.name != FIND_DATA_PROMPT {
            return Err(ErrorData::invalid_params(
                format!("unknown prompt; the prompts are: {FIND_DATA_PROMPT}"),
                Some(serde_json::json!({"field": "name"})),
            ));
        }
        let question = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("question"))
            .and_then(|q| q.as_str())
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    "`question` is required",
                    Some(serde_json::json!({"field": "question"})),
                )
            })?;
        let max = self.app.settings.limits.max_question_chars;
        if question.chars().count() > max {
            return Err(ErrorData::invalid_params(
                format!("`question` is longer than {max} characters"),
                Some(serde_json::json!({"field": "question"})),
            ));
        }
        let text = format!(
            "Find the data for this question in the descoberta catalog: {question}\n\n\
             1. Call search_datasets with the question (or its key words).\n\
             2. For the two or three best results, call get_dataset and check their columns \
             and descriptions.\n\
             3. Answer with the dataset and column names exactly as the catalog gives them, \
             the owner to ask for access, and where the data lives. If nothing fits, say so; \
             never invent a name."
        );
        Ok(
            GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
                .with_description("Find the datasets and columns that hold the data for a question")
                .into(),
        )
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let caller = self.caller(&context)?;
        let values = match &request.r#ref {
            Reference::Resource(template)
                if template.uri == DATASET_TEMPLATE && request.argument.name == "name" =>
            {
                let prefix = request.argument.value.trim().to_lowercase();
                match self.app.search.snapshot() {
                    None => Vec::new(),
                    Some(snapshot) => snapshot
                        .visible_ordinals(&caller.visibility)
                        .filter_map(|o| snapshot.view(o, &caller.visibility))
                        .map(|d| d.name.clone())
                        .filter(|name| name.to_lowercase().starts_with(&prefix))
                        .take(MAX_COMPLETIONS)
                        .collect(),
                }
            }
            _ => Vec::new(),
        };
        let completion =
            CompletionInfo::new(values).map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(CompleteResult::new(completion))
    }
}

/// The prompt template "find data for a question".
fn find_data_prompt() -> Prompt {
    Prompt::new(
        FIND_DATA_PROMPT,
        Some("Find the datasets and columns that hold the data for a question"),
        Some(vec![
            PromptArgument::new("question")
                .with_description("The question, e.g. \"where is customer churn data?\"")
                .with_required(true),
        ]),
    )
    .with_title("Find data for a question")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_uris_name_datasets() {
        assert_eq!(
            dataset_of_uri("descoberta://dataset/crm.customers").as_deref(),
            Some("crm.customers")
        );
        assert_eq!(
            dataset_of_uri("descoberta://dataset/crm%2Ecustomers").as_deref(),
            Some("crm.customers")
        );
        assert_eq!(dataset_of_uri("descoberta://dataset/"), None);
        assert_eq!(dataset_of_uri("file:///etc/passwd"), None);
        assert_eq!(dataset_of_uri("descoberta://dataset/%zz"), None);
    }
}
