//! Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Azure's v1 API,
//! Ollama, vLLM, llama.cpp server, text-embeddings-inference).

use std::time::Duration;

use anyhow::Context;
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{CreateEmbeddingRequest, EmbeddingInput};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use super::{Embedder, Memo, SimilarityScale, TextKind, normalize, through_memo};
use crate::metrics::QuestionEmbeddingMetrics;

pub struct RemoteEmbedder {
    client: Client<OpenAIConfig>,
    model: String,
    model_id: String,
    scale: SimilarityScale,
    /// Questions' vectors, so a repeated question costs no round trip (catalog entries are
    /// kept in the store).
    memo: Memo,
    /// Where questions' vectors came from, and how many went in one request.
    metrics: Option<QuestionEmbeddingMetrics>,
}

/// Questions remembered.
const MEMO_ENTRIES: u64 = 20_000;

impl RemoteEmbedder {
    pub fn new(base_url: &str, api_key: Option<&SecretString>, model: &str) -> RemoteEmbedder {
        let mut config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/'));
        config = config.with_api_key(
            api_key
                .map(|k| k.expose_secret().to_string())
                .unwrap_or_default(),
        );
        crate::tls::init();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        RemoteEmbedder {
            client: Client::build(http, config),
            model: model.to_string(),
            model_id: format!("remote:{model}"),
            // Unknown models: the MiniLM scale, unless `embedding.similarity_scale` says.
            scale: SimilarityScale::MINILM,
            memo: moka::sync::Cache::new(MEMO_ENTRIES),
            metrics: None,
        }
    }

    /// Reports questions to `metrics`: where their vectors came from, and their batches.
    pub fn with_metrics(mut self, metrics: QuestionEmbeddingMetrics) -> RemoteEmbedder {
        self.metrics = Some(metrics);
        self
    }
}

#[async_trait]
impl Embedder for RemoteEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn scale(&self) -> SimilarityScale {
        self.scale
    }

    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> anyhow::Result<Vec<Vec<f32>>> {
        if kind == TextKind::Passage {
            return self.request(texts).await;
        }
        through_memo(
            &self.memo,
            texts.clone(),
            self.metrics.as_ref(),
            |missing| {
                if let Some(metrics) = &self.metrics {
                    metrics.batch_size.observe(missing.len() as f64);
                }
                self.request(missing.into_iter().map(|i| texts[i].clone()).collect())
            },
        )
        .await
    }
}

impl RemoteEmbedder {
    /// One request for `texts`: their vectors, normalized, in order.
    async fn request(&self, texts: Vec<String>) -> anyhow::Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let n = texts.len();
        let request = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(texts),
            ..CreateEmbeddingRequest::default()
        };
        let response = self
            .client
            .embeddings()
            .create(request)
            .await
            .context("embeddings endpoint")?;
        let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
        for item in response.data {
            let slot = out
                .get_mut(item.index as usize)
                .context("embeddings endpoint returned an index out of range")?;
            let mut v = item.embedding;
            normalize(&mut v);
            *slot = Some(v);
        }
        out.into_iter()
            .map(|v| v.context("embeddings endpoint skipped an input"))
            .collect()
    }
}
