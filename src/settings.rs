//! Typed, layered settings: defaults in code, then an optional `descoberta.toml`, then
//! `DESCOBERTA_*` environment variables, then command-line flags (highest precedence).
//!
//! Secrets (database URL, tokens, API keys) are [`SecretString`]s: they never show in `Debug`
//! output or logs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::catalog::Sensitivity;

/// Environment variables are `DESCOBERTA_<KEY>`; keys of a section are `DESCOBERTA_<SECTION>_<KEY>`
/// (e.g. `DESCOBERTA_LLM_BASE_URL` sets `llm.base_url`).
const SECTIONS: &[&str] = &[
    "llm",
    "embedding",
    "limits",
    "access",
    "retrieval",
    "cache",
    "cors",
    "rate_limit",
    "mcp",
];

/// Top-level keys that may come from the environment; other `DESCOBERTA_*` variables (used by
/// scripts and tests) are ignored rather than rejected.
const TOP_LEVEL: &[&str] = &[
    "bind",
    "database_url",
    "data_dir",
    "metadata_dir",
    "prompts_dir",
    "admin_token",
    "admin_tokens",
    "log_format",
    "keep_index_versions",
    "keep_versions",
    "replica_poll_ms",
    "question_retention_days",
    "low_confidence",
    "catalog_language",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listen address; port 0 picks a free port (printed at start).
    pub bind: String,
    /// `postgres://...` or `sqlite://...`; default `sqlite://<data_dir>/catalog.db`.
    pub database_url: Option<SecretString>,
    /// Index files, models and the SQLite file.
    pub data_dir: PathBuf,
    /// CSVs loaded at start (when changed) and by reload.
    pub metadata_dir: PathBuf,
    /// LLM prompt templates (`system.txt`, `user.txt`); built-in copies when absent.
    pub prompts_dir: PathBuf,
    /// Bearer token of the admin API (token id `admin`); the admin API is off without any.
    pub admin_token: Option<SecretString>,
    /// More admin tokens, each with an id for the audit log: `alice=token1;bob=token2`.
    pub admin_tokens: Option<SecretString>,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// How many catalog versions keep an index directory on disk.
    pub keep_index_versions: usize,
    /// How many inactive catalog versions keep their rows in the store (for rollback);
    /// older ones are pruned after each load.
    pub keep_versions: usize,
    /// How often a replica checks the store for a new active version (a safety net under
    /// Postgres notifications), in milliseconds.
    pub replica_poll_ms: u64,
    pub llm: LlmSettings,
    pub embedding: EmbeddingSettings,
    pub limits: Limits,
    pub access: AccessSettings,
    pub retrieval: RetrievalSettings,
    pub cache: CacheSettings,
    pub cors: CorsSettings,
    pub rate_limit: RateLimitSettings,
    pub mcp: McpSettings,
    /// Days the question log (for the gaps report) is kept.
    pub question_retention_days: u64,
    /// Below this retrieval confidence (0..1) a question counts as a catalog gap.
    pub low_confidence: f32,
    /// The language the catalog's descriptions are written in (`en` or `pt-BR`): drafted
    /// descriptions are written in it.
    pub catalog_language: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            database_url: None,
            data_dir: PathBuf::from("./data"),
            metadata_dir: PathBuf::from("./metadata"),
            prompts_dir: PathBuf::from("./prompts"),
            admin_token: None,
            admin_tokens: None,
            log_format: LogFormat::Text,
            keep_index_versions: 3,
            keep_versions: 20,
            replica_poll_ms: 2_000,
            llm: LlmSettings::default(),
            embedding: EmbeddingSettings::default(),
            limits: Limits::default(),
            access: AccessSettings::default(),
            retrieval: RetrievalSettings::default(),
            cache: CacheSettings::default(),
            cors: CorsSettings::default(),
            rate_limit: RateLimitSettings::default(),
            mcp: McpSettings::default(),
            question_retention_days: 90,
            low_confidence: 0.35,
            catalog_language: "en".into(),
        }
    }
}

/// Which other origins (portal pages embedding the widget) may call the API from a browser.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Origins like `https://portal.internal`; `*` allows any origin (without credentials).
    /// Empty: same-origin only.
    pub allowed_origins: Vec<String>,
    /// Let browsers send cookies/credentials cross-origin (never with `*`).
    pub allow_credentials: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Answers kept in the ask cache.
    pub max_entries: u64,
    /// Seconds an answer stays cached.
    pub ttl_secs: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_entries: 1_000,
            ttl_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// OpenAI-compatible base URL, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub model: Option<String>,
    /// Per-attempt timeout of one LLM call, in milliseconds.
    pub timeout_ms: u64,
    /// Retries after the first attempt, on 429/5xx/timeouts.
    pub max_retries: u32,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open, in seconds.
    pub breaker_cooldown_secs: u64,
    /// Upper bound of prompt context, in (approximate) tokens.
    pub context_tokens: usize,
    pub max_answer_tokens: u32,
    /// Ask for the reply contract with `response_format` (`json_schema`, stepping down to
    /// `json_object`, then to none, when the endpoint refuses); `false` sends none.
    pub json_mode: bool,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            base_url: None,
            api_key: None,
            model: None,
            timeout_ms: 20_000,
            max_retries: 2,
            breaker_threshold: 5,
            breaker_cooldown_secs: 30,
            context_tokens: 3_000,
            max_answer_tokens: 600,
            json_mode: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingSettings {
    /// Use semantic retrieval at all.
    pub enabled: bool,
    /// `e5` (multilingual-e5-small, the default), `transformer` (all-MiniLM-L6-v2) or
    /// `static` (token vectors distilled from all-MiniLM-L6-v2).
    pub kind: EmbeddingKind,
    /// For `e5`: the model file in `model_dir` (default: `e5-small-enpt-q4.bin` when present,
    /// else `e5-small-q4.bin`).
    pub e5_file: Option<String>,
    /// For `e5`: `symmetric` (`query: ` on questions and catalog entries; the default,
    /// measured better) or `asymmetric` (`query: ` / `passage: `).
    pub e5_prefixes: E5Prefixes,
    /// For `e5`: how questions in the catalog's language are embedded. `full` (the default):
    /// the model's 12 layers. `fast`: a 3-layer encoder distilled from
    /// `e5-small-enpt-q4.bin` (in the binary), about 5× faster to embed a new question and a
    /// little less accurate (README, "Fast questions"); catalog entries and questions in another
    /// language keep the full model. `cascade`: fast, and the questions whose ranking is among
    /// the least sure are read again by the full model and ranked anew.
    pub e5_questions: E5Questions,
    /// For `e5_questions = "cascade"`: the share of new questions read again, the least sure
    /// of the recent ones, from 0 (none) to 1 (all); 0.2 was chosen on the English dev sets
    /// (README, "The cascade").
    pub cascade_share: f32,
    /// For `e5`: the share of the cross-lingual companion model (Universal Sentence Encoder
    /// Multilingual v3) in the similarity of a question asked in another language than the
    /// catalog's; 0 turns it off. Questions in the catalog's language use e5 alone.
    pub cross_lingual_share: f32,
    /// For `e5`: the companion's directory (`weights.npz`, `sp.model`). Default:
    /// `use-multilingual-v3` beside the e5 model directory.
    pub cross_lingual_dir: Option<PathBuf>,
    /// A load that must embed at most this many datasets embeds them before switching;
    /// above it, the new version goes live with lexical search at once and its semantic
    /// index follows in the background.
    pub sync_limit: usize,
    /// Local model directory. Default: `<data_dir>/models/multilingual-e5-small` for `e5`,
    /// `<data_dir>/models/all-MiniLM-L6-v2` (config.json, tokenizer.json,
    /// model.safetensors) for the others.
    pub model_dir: Option<PathBuf>,
    /// Alternative: an OpenAI-compatible `/v1/embeddings` endpoint.
    pub base_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub model: Option<String>,
    /// `[unrelated, related]`: where the model's cosine similarities lie (the median of a
    /// question's mean similarity to every dataset; the median similarity of a question to
    /// the dataset that answers it). Default: the model's own, measured with `descoberta eval
    /// --negatives`; set it for a remote model. It is the model's own scale: e5's questions
    /// through its cross-lingual companion or its fast encoder keep theirs.
    pub similarity_scale: Option<[f32; 2]>,
    /// How long a search waits for its question's vector before it answers lexically (a
    /// remote endpoint that hangs behind a proxy must not hold every search).
    pub question_timeout_ms: u64,
}

impl Default for EmbeddingSettings {
    fn default() -> Self {
        EmbeddingSettings {
            enabled: true,
            kind: EmbeddingKind::E5,
            e5_file: None,
            e5_prefixes: E5Prefixes::Symmetric,
            e5_questions: E5Questions::Full,
            cascade_share: 0.2,
            cross_lingual_share: 0.2,
            cross_lingual_dir: None,
            sync_limit: 300,
            question_timeout_ms: 1000,
            model_dir: None,
            base_url: None,
            api_key: None,
            model: None,
            similarity_scale: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum E5Prefixes {
    #[default]
    Symmetric,
    Asymmetric,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum E5Questions {
    #[default]
    Full,
    Fast,
    /// Fast, and a question whose ranking is among the least sure read again by the full
    /// model (README, "The cascade").
    Cascade,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingKind {
    /// multilingual-e5-small, in-process (English and Portuguese).
    #[default]
    E5,
    /// all-MiniLM-L6-v2 with candle (English).
    Transformer,
    /// Token vectors distilled from all-MiniLM-L6-v2.
    Static,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest catalog upload / CSV file, in bytes.
    pub max_upload_bytes: u64,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// Longest `q` of search/suggest, in characters.
    pub max_query_chars: usize,
    /// Longest question of ask, in characters.
    pub max_question_chars: usize,
    /// Largest `limit` of search/suggest/ask.
    pub max_limit: usize,
    /// Largest `offset` of search.
    pub max_offset: usize,
    /// Searches running at once; more wait.
    pub max_concurrent_searches: usize,
    /// Longest request URI (path and query string), in bytes.
    pub max_uri_bytes: usize,
    /// A request taking longer gets 503 `timeout`, in milliseconds.
    pub request_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_upload_bytes: 200 * 1024 * 1024,
            max_json_bytes: 64 * 1024,
            max_query_chars: 512,
            max_question_chars: 2_000,
            max_limit: 100,
            max_offset: 1_000,
            max_concurrent_searches: 64,
            max_uri_bytes: 4_096,
            request_timeout_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessSettings {
    /// What anonymous callers see: `public` or `internal`.
    pub anonymous_level: Sensitivity,
    /// A header naming the caller's groups (e.g. `X-Forwarded-Groups`), set by a trusted
    /// proxy; ignored unless set here and the request comes from `trusted_proxies`.
    pub trusted_proxy_header: Option<String>,
    /// Addresses of the proxies trusted to set `trusted_proxy_header` (IPs, or CIDR ranges).
    /// From them, the client address is read from `X-Forwarded-For` / `Forwarded`.
    pub trusted_proxies: Vec<String>,
    /// A header naming the user (e.g. `X-Forwarded-User`), set by a trusted proxy: each user
    /// then has their own rate-limit bucket. Ignored from other peers.
    pub trusted_user_header: Option<String>,
    /// A bearer token for `/metrics` and the details of `/readyz` (counts), besides the admin
    /// tokens. Without one, `/metrics` is open and `/readyz` details are for admins only.
    pub ops_token: Option<SecretString>,
    /// Where to send people when nothing they may see matches (a team, an address).
    pub steward_contact: Option<String>,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            anonymous_level: Sensitivity::Internal,
            trusted_proxy_header: None,
            trusted_proxies: Vec::new(),
            trusted_user_header: None,
            ops_token: None,
            steward_contact: None,
        }
    }
}

/// Per-key (API key) or per-IP request rate limits of the `/v1` API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Sustained requests per second per key or IP.
    pub per_second: u64,
    /// Requests allowed in a burst.
    pub burst: u32,
    /// How often idle buckets are dropped from the limiter's table.
    pub sweep_secs: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            per_second: 50,
            burst: 100,
            sweep_secs: 10,
        }
    }
}

/// The MCP server: Streamable HTTP at `/mcp` on the service's port, and `descoberta mcp` on
/// stdio.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpSettings {
    /// Serve `/mcp` at all.
    pub enabled: bool,
    /// Sessions (`Mcp-Session-Id`) kept at once; past it the least recently used is closed.
    pub max_sessions: usize,
    /// A session idle this long (seconds) is closed.
    pub session_idle_secs: u64,
    /// `Host` values `/mcp` accepts (DNS-rebinding protection), e.g. `["catalog.internal"]`;
    /// empty: any host, as on the REST API.
    pub allowed_hosts: Vec<String>,
    /// The key `descoberta mcp` (stdio) acts with: an API key, or an admin token; none:
    /// anonymous. An invalid key stops it at start.
    pub api_key: Option<SecretString>,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            enabled: true,
            max_sessions: 1_000,
            session_idle_secs: 300,
            allowed_hosts: Vec::new(),
            api_key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrievalSettings {
    /// Weight of the semantic ranking in the fusion (0 = lexical only).
    pub semantic_weight: f32,
    /// Bilingual word tables; default `<data_dir>/dict`.
    pub dictionary_dir: Option<PathBuf>,
    /// How many of the last week's most asked questions are embedded at start, once the
    /// semantic index is live, so their searches hit the query-embedding cache (0: none).
    pub warm_questions: usize,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        RetrievalSettings {
            semantic_weight: 0.5,
            dictionary_dir: None,
            warm_questions: 1000,
        }
    }
}

/// Values given on the command line; only those present override the other layers.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// Shortest admin (or ops) token accepted: a guessable token opens the admin API.
pub const MIN_TOKEN_BYTES: usize = 32;

fn check_token_strength(name: &str, token: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        token.len() >= MIN_TOKEN_BYTES,
        "{name} is too short: use at least {MIN_TOKEN_BYTES} bytes (for example `openssl rand -hex 32`)"
    );
    Ok(())
}

impl Settings {
    /// Layers: defaults, `config_file` (or `./descoberta.toml` when present), env, overrides.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Settings> {
        let mut figment = Figment::new();
        match config_file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "config file {} not found", path.display());
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("descoberta.toml")),
        }
        figment = figment
            .merge(Env::prefixed("DESCOBERTA_").filter_map(|key| {
                let key = key.as_str().to_ascii_lowercase();
                if TOP_LEVEL.contains(&key.as_str()) {
                    return Some(key.into());
                }
                SECTIONS.iter().find_map(|section| {
                    key.strip_prefix(&format!("{section}_"))
                        .map(|rest| format!("{section}.{rest}").into())
                })
            }))
            .merge(Serialized::globals(overrides));
        let mut settings: Settings = figment.extract().context("invalid settings")?;
        settings.drop_empty_values();
        settings.validate()?;
        Ok(settings)
    }

    /// Empty strings (e.g. `DESCOBERTA_LLM_BASE_URL=` from a compose file) mean "not set".
    fn drop_empty_values(&mut self) {
        fn text(value: &mut Option<String>) {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *value = None;
            }
        }
        fn secret(value: &mut Option<SecretString>) {
            if value
                .as_ref()
                .is_some_and(|v| v.expose_secret().trim().is_empty())
            {
                *value = None;
            }
        }
        secret(&mut self.database_url);
        secret(&mut self.admin_token);
        secret(&mut self.admin_tokens);
        secret(&mut self.access.ops_token);
        secret(&mut self.mcp.api_key);
        text(&mut self.access.trusted_user_header);
        text(&mut self.llm.base_url);
        secret(&mut self.llm.api_key);
        text(&mut self.llm.model);
        text(&mut self.embedding.base_url);
        secret(&mut self.embedding.api_key);
        text(&mut self.embedding.model);
        text(&mut self.embedding.e5_file);
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.keep_versions >= 2, "keep_versions must be at least 2");
        anyhow::ensure!(
            matches!(self.catalog_language.as_str(), "en" | "pt-BR"),
            "catalog_language must be `en` or `pt-BR`"
        );
        anyhow::ensure!(
            !(self.cors.allow_credentials && self.cors.allowed_origins.iter().any(|o| o == "*")),
            "cors.allow_credentials cannot be used with the `*` origin"
        );
        self.admin_tokens()?;
        self.ops_token()?;
        if let Some([unrelated, related]) = self.embedding.similarity_scale {
            anyhow::ensure!(
                (-1.0..=1.0).contains(&unrelated)
                    && (-1.0..=1.0).contains(&related)
                    && related > unrelated,
                "embedding.similarity_scale must be [unrelated, related] with \
                 -1 <= unrelated < related <= 1"
            );
        }
        anyhow::ensure!(
            self.embedding.question_timeout_ms > 0,
            "embedding.question_timeout_ms must be at least 1"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.embedding.cascade_share),
            "embedding.cascade_share must be between 0 and 1"
        );
        anyhow::ensure!(
            (0.0..1.0).contains(&self.embedding.cross_lingual_share),
            "embedding.cross_lingual_share must be at least 0 and below 1"
        );
        anyhow::ensure!(
            self.limits.max_limit > 0,
            "limits.max_limit must be positive"
        );
        anyhow::ensure!(
            self.mcp.max_sessions > 0,
            "mcp.max_sessions must be positive"
        );
        anyhow::ensure!(
            self.limits.max_concurrent_searches > 0,
            "limits.max_concurrent_searches must be positive"
        );
        anyhow::ensure!(
            matches!(
                self.access.anonymous_level,
                Sensitivity::Public | Sensitivity::Internal
            ),
            "access.anonymous_level must be `public` or `internal`"
        );
        if let Some(url) = &self.database_url {
            let url = url.expose_secret();
            anyhow::ensure!(
                url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.starts_with("sqlite:"),
                "database_url must start with postgres:// or sqlite:"
            );
        }
        Ok(())
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(url) => url.clone(),
            None => SecretString::from(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("catalog.db").display()
            )),
        }
    }

    /// Every configured admin token with its id (for the audit log).
    pub fn admin_tokens(&self) -> anyhow::Result<Vec<(String, SecretString)>> {
        let mut tokens = Vec::new();
        if let Some(token) = &self.admin_token {
            check_token_strength("DESCOBERTA_ADMIN_TOKEN", token.expose_secret().trim())?;
            tokens.push(("admin".to_string(), token.clone()));
        }
        if let Some(list) = &self.admin_tokens {
            for item in list
                .expose_secret()
                .split(';')
                .filter(|i| !i.trim().is_empty())
            {
                let (id, token) = item
                    .split_once('=')
                    .context("admin_tokens must look like `id=token;id2=token2`")?;
                anyhow::ensure!(
                    !id.trim().is_empty(),
                    "each entry of admin_tokens needs an id (`id=token`)"
                );
                check_token_strength(&format!("admin token `{}`", id.trim()), token.trim())?;
                tokens.push((id.trim().to_string(), SecretString::from(token.trim())));
            }
        }
        Ok(tokens)
    }

    /// The ops token, checked like an admin token.
    pub fn ops_token(&self) -> anyhow::Result<Option<&SecretString>> {
        if let Some(token) = &self.access.ops_token {
            check_token_strength("access.ops_token", token.expose_secret().trim())?;
        }
        Ok(self.access.ops_token.as_ref())
    }

    /// Where the bilingual word tables are (`pt-en.tsv`, `en-pt.tsv`).
    pub fn dictionary_dir(&self) -> PathBuf {
        self.retrieval
            .dictionary_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("dict"))
    }

    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    pub fn model_dir(&self) -> PathBuf {
        self.embedding.model_dir.clone().unwrap_or_else(|| {
            let name = match self.embedding.kind {
                EmbeddingKind::E5 => "multilingual-e5-small",
                EmbeddingKind::Transformer | EmbeddingKind::Static => "all-MiniLM-L6-v2",
            };
            self.data_dir.join("models").join(name)
        })
    }

    /// The cross-lingual companion model's directory (see `embedding.cross_lingual_dir`).
    pub fn cross_lingual_dir(&self) -> PathBuf {
        self.embedding.cross_lingual_dir.clone().unwrap_or_else(|| {
            let e5 = self.model_dir();
            e5.parent()
                .map_or_else(|| e5.clone(), PathBuf::from)
                .join("use-multilingual-v3")
        })
    }

    pub fn llm_configured(&self) -> bool {
        self.llm.base_url.is_some() && self.llm.model.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_debug() {
        let settings = Settings {
            database_url: Some(SecretString::from("postgres://u:hunter2@db/x")),
            admin_token: Some(SecretString::from("s3cr3t-token")),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("s3cr3t-token"), "{printed}");
    }

    #[test]
    fn short_admin_tokens_are_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        for config in [
            "admin_token = \"s3cret\"\n",
            "admin_tokens = \"alice=0123456789abcdef0123456789abcdef;bob=short\"\n",
            "[access]\nops_token = \"tiny\"\n",
        ] {
            let file = dir.path().join("d.toml");
            std::fs::write(&file, config).unwrap();
            let error = Settings::load(Some(&file), &Overrides::default()).unwrap_err();
            assert!(
                format!("{error:#}").contains("at least 32 bytes"),
                "{config}: {error:#}"
            );
        }
        let file = dir.path().join("ok.toml");
        std::fs::write(
            &file,
            "admin_token = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .unwrap();
        assert!(Settings::load(Some(&file), &Overrides::default()).is_ok());
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let settings = Settings::default();
        let url = settings.database_url();
        assert!(
            url.expose_secret()
                .starts_with("sqlite://./data/catalog.db")
        );
    }

    /// Settings loaded from a config file holding `toml`, with `overrides`.
    fn load_toml(toml: &str, overrides: &Overrides) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.toml");
        std::fs::write(&file, toml).unwrap();
        Settings::load(Some(&file), overrides)
    }

    #[test]
    fn flags_override_file_values() {
        let toml = "bind = \"0.0.0.0:1\"\n[llm]\nmodel = \"m\"\n";
        let from_file = load_toml(toml, &Overrides::default()).unwrap();
        assert_eq!(from_file.bind, "0.0.0.0:1");
        assert_eq!(from_file.llm.model.as_deref(), Some("m"));
        let overrides = Overrides {
            bind: Some("127.0.0.1:9".into()),
            ..Overrides::default()
        };
        let flagged = load_toml(toml, &overrides).unwrap();
        assert_eq!(flagged.bind, "127.0.0.1:9");
    }

    #[test]
    fn a_question_timeout_of_zero_is_refused() {
        let zero = "[embedding]\nquestion_timeout_ms = 0\n";
        let error = load_toml(zero, &Overrides::default()).unwrap_err();
        assert!(
            format!("{error:#}").contains("question_timeout_ms"),
            "{error:#}"
        );
        let some = "[embedding]\nquestion_timeout_ms = 250\n";
        let settings = load_toml(some, &Overrides::default()).unwrap();
        assert_eq!(settings.embedding.question_timeout_ms, 250);
    }

    #[test]
    fn a_cascade_share_outside_0_to_1_is_refused() {
        for share in ["-0.1", "1.5", "nan"] {
            let toml =
                format!("[embedding]\ne5_questions = \"cascade\"\ncascade_share = {share}\n");
            let error = load_toml(&toml, &Overrides::default()).unwrap_err();
            assert!(
                format!("{error:#}").contains("cascade_share"),
                "{share}: {error:#}"
            );
        }
        let toml = "[embedding]\ne5_questions = \"cascade\"\ncascade_share = 0.1\n";
        let settings = load_toml(toml, &Overrides::default()).unwrap();
        assert_eq!(settings.embedding.e5_questions, E5Questions::Cascade);
        assert_eq!(settings.embedding.cascade_share, 0.1);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(load_toml("bnd = \"x\"\n", &Overrides::default()).is_err());
    }
}
