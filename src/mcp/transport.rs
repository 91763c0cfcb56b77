//! Streamable HTTP at `/mcp`, on the service's own port: rmcp's `StreamableHttpService` (a
//! tower service over `http` 1.x types) adapted into one actix route. The route sits behind
//! the same middleware as REST (request spans and metrics, the rate limiter, the JSON error
//! safety net); before the protocol sees a request, the caller is identified exactly as on
//! REST (`http::identity`: admin token, API key, trusted-proxy groups, anonymous; a bad
//! credential is a 401) and the body is read within `limits.max_json_bytes` (413 past it).
//! rmcp then handles both protocol eras: sessions (`Mcp-Session-Id`) for the `initialize`
//! revisions, stateless requests for 2026-07-28, and SSE responses.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use http_body_util::{BodyDataStream, Full};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use super::sessions::BoundedSessions;
use super::{Server, Tools};
use crate::app::App;
use crate::http::Caller;
use crate::http::error::{ApiError, ErrorCode};

/// The `/mcp` endpoint's state: rmcp's service and the body limit.
pub struct McpHttp {
    service: StreamableHttpService<Server, BoundedSessions>,
    max_body_bytes: usize,
}

impl McpHttp {
    pub fn new(app: Arc<App>) -> anyhow::Result<McpHttp> {
        let settings = &app.settings;
        let tools = Arc::new(Tools::new(&app)?);
        let max_body_bytes = settings.limits.max_json_bytes;
        let mut config = StreamableHttpServerConfig::default()
            .with_max_request_body_bytes(max_body_bytes)
            .with_sse_keep_alive(Some(Duration::from_secs(15)));
        config = if settings.mcp.allowed_hosts.is_empty() {
            // As on the REST API: reachable by any host name; identity guards the data.
            config.disable_allowed_hosts()
        } else {
            config.with_allowed_hosts(settings.mcp.allowed_hosts.clone())
        };
        let sessions = Arc::new(BoundedSessions::new(
            settings.mcp.max_sessions,
            Duration::from_secs(settings.mcp.session_idle_secs.max(1)),
            app.metrics.mcp_sessions.clone(),
        ));
        let factory_app = app.clone();
        let service = StreamableHttpService::new(
            move || Ok(Server::new(factory_app.clone(), tools.clone(), None)),
            sessions,
            config,
        );
        Ok(McpHttp {
            service,
            max_body_bytes,
        })
    }
}

/// Registers `/mcp` (POST, GET and DELETE, as the transport defines them).
pub fn configure(cfg: &mut web::ServiceConfig, mcp: web::Data<McpHttp>) {
    cfg.service(
        web::resource("/mcp")
            .app_data(mcp)
            .route(web::post().to(handle))
            .route(web::get().to(handle))
            .route(web::delete().to(handle))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("method {} is not allowed on {}", req.method(), req.path()),
    ))
}

/// Reads the body, at most `max` bytes.
async fn read_body(mut payload: web::Payload, max: usize) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {max} bytes"),
        )
    };
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A body that is not one JSON-RPC message gets 400 with a JSON-RPC error without an id
/// (-32700 when it is not JSON at all, -32600 otherwise), as JSON-RPC and the transport's spec
/// describe.
fn not_a_message(body: &[u8]) -> Option<HttpResponse> {
    let (code, message) = match serde_json::from_slice::<serde_json::Value>(body) {
        Err(_) => (-32700, "Parse error: the body is not JSON"),
        Ok(value) => match serde_json::from_value::<ClientJsonRpcMessage>(value) {
            Ok(_) => return None,
            Err(_) => (
                -32600,
                "Invalid Request: the body is not one JSON-RPC message",
            ),
        },
    };
    Some(HttpResponse::BadRequest().json(serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": code, "message": message},
    })))
}

/// One request of the transport: identity first (the `Caller` extractor), then the body,
/// then rmcp, whose response (JSON, SSE or an empty 202) is streamed back as it comes.
async fn handle(
    req: HttpRequest,
    caller: Caller,
    payload: web::Payload,
    mcp: web::Data<McpHttp>,
) -> Result<HttpResponse, ApiError> {
    if let Some(length) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && length > mcp.max_body_bytes
    {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {} bytes", mcp.max_body_bytes),
        ));
    }
    let body = read_body(payload, mcp.max_body_bytes).await?;
    if req.method() == actix_web::http::Method::POST
        && let Some(invalid) = not_a_message(&body)
    {
        return Ok(invalid);
    }
    let method = http::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| ApiError::new(ErrorCode::MethodNotAllowed, "unsupported method"))?;
    let mut builder = http::Request::builder()
        .method(method)
        .uri(req.uri().to_string());
    for (name, value) in req.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let mut request = builder
        .body(Full::new(body))
        .map_err(|e| ApiError::bad_request(format!("invalid request: {e}")))?;
    request.extensions_mut().insert(caller);
    let response = mcp.service.handle(request).await;
    let (parts, body) = response.into_parts();
    let mut status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    // A session ended by DELETE: 204, which clients (the official Python SDK among them)
    // read as success; rmcp says 202.
    if req.method() == actix_web::http::Method::DELETE
        && status == actix_web::http::StatusCode::ACCEPTED
    {
        status = actix_web::http::StatusCode::NO_CONTENT;
    }
    let mut out = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    if status.is_server_error() {
        tracing::error!(
            status = status.as_u16(),
            "the MCP transport failed a request"
        );
    }
    Ok(out.streaming(BodyDataStream::new(body)))
}
