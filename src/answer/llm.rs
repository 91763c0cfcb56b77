//! The LLM client: any OpenAI-compatible chat endpoint (OpenAI, Azure OpenAI's v1 API, Ollama's
//! `/v1`, vLLM, llama.cpp server), through async-openai.
//!
//! Failure handling, in layers:
//! - async-openai's retry layer retries 429, 5xx and connection errors `llm.max_retries` times
//!   with exponential backoff (100 ms doubling, honouring `Retry-After`);
//! - every call has an overall deadline (`llm.timeout_ms`), and a stream that stalls longer
//!   than that between chunks is abandoned;
//! - a circuit breaker opens after `llm.breaker_threshold` consecutive failed calls and
//!   rejects calls for `llm.breaker_cooldown_secs`, then lets one through to probe.
//!
//! Callers treat every error as "fall back to the extractive answer".

use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::middleware::ReqwestService;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, CreateChatCompletionRequest, ResponseFormat,
    ResponseFormatJsonSchema,
};

use futures::{Stream, StreamExt};
use secrecy::ExposeSecret;

use crate::settings::LlmSettings;

/// Why an LLM call gave no usable text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    #[error("the LLM circuit breaker is open")]
    CircuitOpen,
    #[error("the LLM call timed out")]
    Timeout,
    #[error("the LLM stream stalled")]
    Stalled,
    #[error("the LLM is rate limiting us")]
    RateLimited,
    #[error("the LLM endpoint failed: {0}")]
    Upstream(String),
    #[error("the LLM reply was empty")]
    Empty,
}

impl LlmError {
    /// Short label for metrics and warnings.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::CircuitOpen => "circuit_open",
            LlmError::Timeout => "timeout",
            LlmError::Stalled => "stalled",
            LlmError::RateLimited => "rate_limited",
            LlmError::Upstream(_) => "upstream_error",
            LlmError::Empty => "empty",
        }
    }
}

/// Token usage of one call, when the endpoint reports it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

pub type TextStream = Pin<Box<dyn Stream<Item = Result<String, LlmError>> + Send>>;

struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    fn check(&self) -> Result<(), LlmError> {
        let mut open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
        match *open {
            Some(until) if Instant::now() < until => Err(LlmError::CircuitOpen),
            Some(_) => {
                // Half-open: let this call probe; a failure reopens at once.
                *open = None;
                self.failures
                    .store(self.threshold.saturating_sub(1), Ordering::SeqCst);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failures.store(0, Ordering::SeqCst);
            return;
        }
        let failures = self.failures.fetch_add(1, Ordering::SeqCst) + 1;
        if failures >= self.threshold {
            let mut open = self.open_until.lock().unwrap_or_else(|p| p.into_inner());
            *open = Some(Instant::now() + self.cooldown);
            tracing::warn!(failures, "LLM circuit breaker opened");
        }
    }
}

pub struct LlmClient {
    client: Client<OpenAIConfig>,
    model: String,
    settings: LlmSettings,
    breaker: Breaker,
    /// The reply format the endpoint accepts, learnt by stepping down when it refuses one:
    /// 0 `json_schema` (the reply contract as a schema), 1 `json_object`, 2 plain text.
    format: AtomicU8,
}

/// The reply contract of DESIGN.md as a JSON schema: `{"answer", "datasets": [{"dataset",
/// "columns", "reason"}]}`.
fn reply_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["answer", "datasets"],
        "properties": {
            "answer": {"type": "string"},
            "datasets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["dataset", "columns", "reason"],
                    "properties": {
                        "dataset": {"type": "string"},
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "reason": {"type": "string"}
                    }
                }
            }
        }
    })
}

/// What a reply must look like: a named JSON schema.
pub struct ReplyContract {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: serde_json::Value,
}

impl ReplyContract {
    /// The answer's contract ([`reply_schema`]).
    pub fn answer() -> ReplyContract {
        ReplyContract {
            name: "descoberta_answer",
            description: "where the data is: the answer and its datasets",
            schema: reply_schema(),
        }
    }
}

/// Whether an error means the endpoint refused the request's form (not the service failing).
fn refused_format(error: &async_openai::error::OpenAIError) -> bool {
    matches!(error, async_openai::error::OpenAIError::ApiError(api)
        if matches!(api.status_code.as_u16(), 400 | 422))
}

impl LlmClient {
    /// `None` when no LLM is configured.
    pub fn from_settings(settings: &LlmSettings) -> anyhow::Result<Option<LlmClient>> {
        let (Some(base_url), Some(model)) = (&settings.base_url, &settings.model) else {
            return Ok(None);
        };
        let config = OpenAIConfig::new()
            .with_api_base(base_url.trim_end_matches('/'))
            .with_api_key(
                settings
                    .api_key
                    .as_ref()
                    .map(|k| k.expose_secret().to_string())
                    .unwrap_or_default(),
            );
        crate::tls::init();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(settings.timeout_ms.min(10_000)))
            .read_timeout(Duration::from_millis(settings.timeout_ms))
            .build()?;
        let service = tower::ServiceBuilder::new()
            .layer(OpenAIRetryLayer::new(settings.max_retries as usize))
            .service(ReqwestService::new(http.clone()));
        let client = Client::build(http, config).with_http_service(service);
        Ok(Some(LlmClient {
            client,
            model: model.clone(),
            breaker: Breaker {
                threshold: settings.breaker_threshold.max(1),
                cooldown: Duration::from_secs(settings.breaker_cooldown_secs),
                failures: AtomicU32::new(0),
                open_until: Mutex::new(None),
            },
            format: AtomicU8::new(if settings.json_mode { 0 } else { 2 }),
            settings: settings.clone(),
        }))
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    fn request(&self, system: &str, user: &str, stream: bool) -> CreateChatCompletionRequest {
        self.request_as(system, user, stream, &ReplyContract::answer())
    }

    fn request_as(
        &self,
        system: &str,
        user: &str,
        stream: bool,
        contract: &ReplyContract,
    ) -> CreateChatCompletionRequest {
        let messages: Vec<ChatCompletionRequestMessage> = vec![
            ChatCompletionRequestSystemMessage::from(system).into(),
            ChatCompletionRequestUserMessage::from(user).into(),
        ];
        CreateChatCompletionRequest {
            model: self.model.clone(),
            messages,
            temperature: Some(0.0),
            max_completion_tokens: Some(self.settings.max_answer_tokens),
            response_format: match self.format.load(Ordering::Relaxed) {
                0 => Some(ResponseFormat::JsonSchema {
                    json_schema: ResponseFormatJsonSchema {
                        description: Some(contract.description.into()),
                        name: contract.name.into(),
                        schema: contract.schema.clone(),
                        strict: Some(true),
                    },
                }),
                1 => Some(ResponseFormat::JsonObject),
                _ => None,
            },
            stream: stream.then_some(true),
            ..CreateChatCompletionRequest::default()
        }
    }

    fn deadline(&self) -> Duration {
        // Each attempt may take the timeout; retries back off a little in between.
        Duration::from_millis(self.settings.timeout_ms) * (self.settings.max_retries + 1)
            + Duration::from_millis(100 * 2u64.pow(self.settings.max_retries.min(6)))
    }

    /// One completion in the answer's reply contract: the reply text.
    pub async fn complete(&self, system: &str, user: &str) -> Result<String, LlmError> {
        self.complete_as(system, user, &ReplyContract::answer())
            .await
    }

    /// One completion whose reply should follow `contract` (sent as a JSON schema where the
    /// endpoint accepts one): the reply text.
    #[tracing::instrument(name = "llm_call", skip_all, fields(model = %self.model, contract = contract.name, stream = false, latency_ms, prompt_tokens, completion_tokens, outcome))]
    pub async fn complete_as(
        &self,
        system: &str,
        user: &str,
        contract: &ReplyContract,
    ) -> Result<String, LlmError> {
        self.breaker
            .check()
            .inspect_err(|e| record_outcome(e.kind()))?;
        let started = Instant::now();
        let result = loop {
            let request = self.request_as(system, user, false, contract);
            match tokio::time::timeout(self.deadline(), self.client.chat().create(request)).await {
                Err(_) => break Err(LlmError::Timeout),
                Ok(Err(e)) if refused_format(&e) && self.step_down_format() => continue,
                Ok(Err(e)) => break Err(classify(&e)),
                Ok(Ok(response)) => {
                    let span = tracing::Span::current();
                    if let Some(usage) = &response.usage {
                        span.record("prompt_tokens", usage.prompt_tokens);
                        span.record("completion_tokens", usage.completion_tokens);
                    }
                    break response
                        .choices
                        .into_iter()
                        .next()
                        .and_then(|c| c.message.content)
                        .filter(|t| !t.trim().is_empty())
                        .ok_or(LlmError::Empty);
                }
            }
        };
        self.breaker.record(result.is_ok());
        let span = tracing::Span::current();
        span.record("latency_ms", started.elapsed().as_millis() as u64);
        record_outcome(match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        });
        result
    }

    /// A streamed completion: text deltas as they arrive. The stream ends with an error item
    /// when the endpoint fails or stalls for longer than `llm.timeout_ms` between chunks.
    pub async fn stream(&self, system: &str, user: &str) -> Result<TextStream, LlmError> {
        self.breaker.check()?;
        let idle = Duration::from_millis(self.settings.timeout_ms);
        let upstream = loop {
            let request = self.request(system, user, true);
            let opened =
                tokio::time::timeout(idle, self.client.chat().create_stream(request)).await;
            match opened {
                Err(_) => {
                    self.breaker.record(false);
                    return Err(LlmError::Timeout);
                }
                Ok(Err(e)) if refused_format(&e) && self.step_down_format() => continue,
                Ok(Err(e)) => {
                    self.breaker.record(false);
                    return Err(classify(&e));
                }
                Ok(Ok(stream)) => break stream,
            }
        };
        let stream =
            futures::stream::unfold((upstream, false), move |(mut upstream, done)| async move {
                if done {
                    return None;
                }
                loop {
                    match tokio::time::timeout(idle, upstream.next()).await {
                        Err(_) => return Some((Err(LlmError::Stalled), (upstream, true))),
                        Ok(None) => return None,
                        Ok(Some(Err(e))) => {
                            return Some((Err(classify(&e)), (upstream, true)));
                        }
                        Ok(Some(Ok(chunk))) => {
                            let text: String = chunk
                                .choices
                                .into_iter()
                                .filter_map(|c| c.delta.content)
                                .collect();
                            if !text.is_empty() {
                                return Some((Ok(text), (upstream, false)));
                            }
                        }
                    }
                }
            });
        Ok(Box::pin(stream))
    }

    /// After the endpoint refused the reply format: the next simpler one (`json_schema` →
    /// `json_object` → none). `false` when there is none left to try.
    fn step_down_format(&self) -> bool {
        let current = self.format.load(Ordering::Relaxed);
        if current >= 2 {
            return false;
        }
        let next = current + 1;
        let names = ["json_schema", "json_object", "text"];
        tracing::info!(
            from = names[current as usize],
            to = names[next as usize],
            "the LLM endpoint refused the reply format; trying a simpler one"
        );
        self.format.store(next, Ordering::Relaxed);
        true
    }

    /// The reply format in use: `json_schema`, `json_object` or `text`.
    pub fn reply_format(&self) -> &'static str {
        ["json_schema", "json_object", "text"][self.format.load(Ordering::Relaxed).min(2) as usize]
    }

    /// Lets a streaming caller report how the stream ended, for the breaker and metrics.
    pub fn record_stream_outcome(&self, result: Result<(), &LlmError>) {
        self.breaker.record(result.is_ok());
        record_outcome(match result {
            Ok(()) => "ok",
            Err(e) => e.kind(),
        });
    }
}

fn record_outcome(outcome: &str) {
    tracing::Span::current().record("outcome", outcome);
}

fn classify(error: &async_openai::error::OpenAIError) -> LlmError {
    use async_openai::error::OpenAIError as E;
    match error {
        E::ApiError(api) if api.status_code.as_u16() == 429 => LlmError::RateLimited,
        E::ApiError(api) => LlmError::Upstream(format!("HTTP {}", api.status_code.as_u16())),
        E::Reqwest(e) if e.is_timeout() => LlmError::Timeout,
        E::Reqwest(e) if e.is_connect() => LlmError::Upstream("connection failed".into()),
        E::Reqwest(e) if e.is_decode() => LlmError::Upstream("unreadable response".into()),
        E::Reqwest(_) => LlmError::Upstream("request failed".into()),
        E::JSONDeserialize(_, _) => LlmError::Upstream("unreadable response".into()),
        E::StreamError(_) => LlmError::Upstream("stream error".into()),
        other => LlmError::Upstream(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_half_opens_after_cooldown() {
        let breaker = Breaker {
            threshold: 2,
            cooldown: Duration::from_millis(30),
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
        };
        assert!(breaker.check().is_ok());
        breaker.record(false);
        assert!(breaker.check().is_ok());
        breaker.record(false);
        assert_eq!(breaker.check(), Err(LlmError::CircuitOpen));
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.check().is_ok(), "half-open probe allowed");
        breaker.record(false);
        assert_eq!(
            breaker.check(),
            Err(LlmError::CircuitOpen),
            "probe failure reopens"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.check().is_ok());
        breaker.record(true);
        breaker.record(false);
        assert!(breaker.check().is_ok(), "success resets the count");
    }
}
