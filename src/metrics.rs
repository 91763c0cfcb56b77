//! Prometheus metrics, owned by the application (no global registry).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub retrieval_duration: Histogram,
    pub catalog_version: IntGauge,
    pub catalog_datasets: IntGauge,
    pub catalog_columns: IntGauge,
    pub catalog_loads: IntCounterVec,
    pub llm_requests: IntCounterVec,
    pub llm_duration: Histogram,
    pub answer_fallbacks: IntCounterVec,
    pub grounding_drops: IntCounterVec,
    pub ask_cache: IntCounterVec,
    pub mcp_tool_calls: IntCounterVec,
    pub mcp_tool_duration: HistogramVec,
    pub mcp_sessions: IntGauge,
    pub question_log_dropped: IntCounter,
    pub cascade_decisions: IntCounterVec,
    pub question_embedding: QuestionEmbeddingMetrics,
}

/// What the embedders report of questions: where each question's vector came from, and
/// how many questions went through the model together. Cheap to clone (shared counters),
/// and each counter is resolved once: counting a question is an atomic add.
#[derive(Clone)]
pub struct QuestionEmbeddingMetrics {
    /// `question_embeddings_total{source="memo"}`: answered by the query-embedding cache.
    pub from_memo: IntCounter,
    /// `question_embeddings_total{source="model"}`: computed.
    pub from_model: IntCounter,
    pub batch_size: Histogram,
}

impl QuestionEmbeddingMetrics {
    /// Counts `memo` questions answered from the cache and `model` computed ones.
    pub fn count(&self, memo: usize, model: usize) {
        self.from_memo.inc_by(memo as u64);
        self.from_model.inc_by(model as u64);
    }
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> anyhow::Result<Metrics> {
        let registry = Registry::new_custom(Some("descoberta".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let retrieval_duration = Histogram::with_opts(
            HistogramOpts::new(
                "retrieval_duration_seconds",
                "Time to rank datasets for a query",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let catalog_version = IntGauge::new("catalog_version", "Active catalog version")?;
        let catalog_datasets =
            IntGauge::new("catalog_datasets", "Datasets in the active catalog version")?;
        let catalog_columns =
            IntGauge::new("catalog_columns", "Columns in the active catalog version")?;
        let catalog_loads = IntCounterVec::new(
            Opts::new(
                "catalog_loads_total",
                "Catalog loads and switches by kind and outcome",
            ),
            &["kind", "outcome"],
        )?;
        let llm_requests = IntCounterVec::new(
            Opts::new("llm_requests_total", "LLM calls by outcome"),
            &["outcome"],
        )?;
        let llm_duration = Histogram::with_opts(
            HistogramOpts::new("llm_duration_seconds", "LLM call latency")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let answer_fallbacks = IntCounterVec::new(
            Opts::new(
                "answer_fallbacks_total",
                "Answers that fell back to extractive, by reason",
            ),
            &["reason"],
        )?;
        let grounding_drops = IntCounterVec::new(
            Opts::new(
                "grounding_drops_total",
                "Names in LLM replies dropped by the grounding check, by kind",
            ),
            &["kind"],
        )?;
        let ask_cache = IntCounterVec::new(
            Opts::new("ask_cache_total", "Ask cache lookups by result"),
            &["result"],
        )?;
        let mcp_tool_calls = IntCounterVec::new(
            Opts::new("mcp_tool_calls_total", "MCP tool calls by tool and outcome"),
            &["tool", "outcome"],
        )?;
        let mcp_tool_duration = HistogramVec::new(
            HistogramOpts::new("mcp_tool_duration_seconds", "MCP tool call latency by tool")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["tool"],
        )?;
        let mcp_sessions = IntGauge::new("mcp_sessions", "Open MCP sessions (Mcp-Session-Id)")?;
        let question_log_dropped = IntCounter::new(
            "question_log_dropped_total",
            "Questions not logged because the log's writer was behind",
        )?;
        let cascade_decisions = IntCounterVec::new(
            Opts::new(
                "cascade_decisions_total",
                "New questions read fast (e5_questions = cascade), by how they were ranked: \
                 fast, or read again in full",
            ),
            &["reading"],
        )?;
        let question_vectors = IntCounterVec::new(
            Opts::new(
                "question_embeddings_total",
                "Question vectors by source: memo (the query-embedding cache) or model",
            ),
            &["source"],
        )?;
        let question_embedding = QuestionEmbeddingMetrics {
            from_memo: question_vectors.with_label_values(&["memo"]),
            from_model: question_vectors.with_label_values(&["model"]),
            batch_size: Histogram::with_opts(
                HistogramOpts::new(
                    "question_embedding_batch_size",
                    "Questions embedded together in one pass of the model",
                )
                .buckets(vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]),
            )?,
        };
        registry.register(Box::new(question_vectors))?;
        registry.register(Box::new(question_embedding.batch_size.clone()))?;
        registry.register(Box::new(question_log_dropped.clone()))?;
        registry.register(Box::new(cascade_decisions.clone()))?;
        registry.register(Box::new(mcp_tool_calls.clone()))?;
        registry.register(Box::new(mcp_tool_duration.clone()))?;
        registry.register(Box::new(mcp_sessions.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(retrieval_duration.clone()))?;
        registry.register(Box::new(catalog_version.clone()))?;
        registry.register(Box::new(catalog_datasets.clone()))?;
        registry.register(Box::new(catalog_columns.clone()))?;
        registry.register(Box::new(catalog_loads.clone()))?;
        registry.register(Box::new(llm_requests.clone()))?;
        registry.register(Box::new(llm_duration.clone()))?;
        registry.register(Box::new(answer_fallbacks.clone()))?;
        registry.register(Box::new(grounding_drops.clone()))?;
        registry.register(Box::new(ask_cache.clone()))?;
        Ok(Metrics {
            registry,
            http_requests,
            http_duration,
            retrieval_duration,
            catalog_version,
            catalog_datasets,
            catalog_columns,
            catalog_loads,
            llm_requests,
            llm_duration,
            answer_fallbacks,
            grounding_drops,
            ask_cache,
            mcp_tool_calls,
            mcp_tool_duration,
            mcp_sessions,
            question_log_dropped,
            cascade_decisions,
            question_embedding,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8(buffer)?)
    }
}
