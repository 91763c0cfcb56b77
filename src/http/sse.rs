//! Server-Sent Events framing of answer streams.

use serde::Serialize;
use utoipa::ToSchema;

use crate::answer::AskEvent;

/// One server-sent event of `/v1/ask/stream`, as a client's SSE parser sees it: `datasets`
/// first (`{catalog_version, datasets, language}`), then `token`s (`{text}`), then `done` (the
/// full `/v1/ask` response) or `error` (the error body). `data` is that JSON, as text.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEvent {
    #[schema(pattern = "^(datasets|token|done|error)$")]
    pub event: String,
    pub data: String,
}

/// The SSE wire form of one event: `event: <name>` and one `data:` line of JSON.
pub fn frame<T: Serialize>(name: &str, data: &T) -> String {
    let data = serde_json::to_string(data).unwrap_or_else(|e| {
        tracing::error!(error = %e, event = name, "could not encode an SSE event");
        "{}".into()
    });
    format!("event: {name}\ndata: {data}\n\n")
}

/// The frame of an answer event other than `done` (which carries the timed response).
pub fn event(event: &AskEvent) -> String {
    match event {
        AskEvent::Datasets {
            datasets,
            language,
            catalog_version,
        } => frame(
            "datasets",
            &serde_json::json!({
                "datasets": datasets,
                "language": language.code(),
                "catalog_version": catalog_version,
            }),
        ),
        AskEvent::Token(text) => frame("token", &serde_json::json!({ "text": text })),
        AskEvent::Done(answer) => frame("done", answer),
    }
}
