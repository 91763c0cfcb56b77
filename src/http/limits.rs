//! Rate limits of the `/v1` API, per caller: a valid credential has its own bucket; anything
//! else (no credential, an unknown or invalid one) shares its client address's bucket, so
//! guessing keys is throttled like any other traffic. Behind a trusted proxy the address is
//! the client's (from `X-Forwarded-For` / `Forwarded`), or the proxy's user header when
//! configured. The table of buckets is bounded: idle buckets are dropped every
//! `rate_limit.sweep_secs`.

use std::time::Duration;

use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{GovernorConfig, GovernorConfigBuilder, KeyExtractor};
use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::AppState;
use super::error::{ErrorBody, ErrorCode};
use super::identity;
use crate::settings::RateLimitSettings;

/// The key of a request's bucket (see [`identity::rate_key`]). The API (`/v1/`) and the MCP
/// endpoint (`/mcp`) are limited; other routes (health, metrics, pages, the widget) are not.
#[derive(Clone)]
pub struct RateKey;

const RATE_EXEMPT: &str = "exempt";

/// Whether requests to `path` count against the caller's bucket.
fn is_limited(path: &str) -> bool {
    path.starts_with("/v1/") || path == "/mcp" || path.starts_with("/mcp/")
}

impl KeyExtractor for RateKey {
    type Key = String;
    type KeyExtractionError = actix_governor::SimpleKeyExtractionError<&'static str>;

    fn extract(
        &self,
        req: &actix_web::dev::ServiceRequest,
    ) -> Result<Self::Key, Self::KeyExtractionError> {
        if !is_limited(req.path()) {
            return Ok(RATE_EXEMPT.into());
        }
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return Err(actix_governor::SimpleKeyExtractionError::new(
                "application state missing",
            ));
        };
        Ok(identity::rate_key(req.request(), state))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &actix_governor::governor::NotUntil<QuantaInstant>,
        mut response: actix_web::HttpResponseBuilder,
    ) -> HttpResponse {
        // Whole seconds, rounded up: the limiter's own header says 0 for waits under 1 s.
        let wait = negative
            .wait_time_from(DefaultClock::default().now())
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64;
        response
            .insert_header((header::RETRY_AFTER, wait))
            .insert_header(("x-ratelimit-after", wait));
        response.json(ErrorBody::new(
            ErrorCode::RateLimited,
            format!("too many requests; retry in {wait} s"),
            None,
        ))
    }

    fn whitelisted_keys(&self) -> Vec<Self::Key> {
        vec![RATE_EXEMPT.into()]
    }
}

pub type RateLimiter = GovernorConfig<RateKey, NoOpMiddleware<QuantaInstant>>;

/// The rate limiter of the `/v1` API, as configured.
pub fn rate_limiter(settings: &RateLimitSettings) -> anyhow::Result<RateLimiter> {
    GovernorConfigBuilder::default()
        .requests_per_second(settings.per_second.max(1))
        .burst_size(settings.burst.max(1))
        .key_extractor(RateKey)
        .finish()
        .ok_or_else(|| anyhow::anyhow!("invalid rate limit settings"))
}

/// Keeps the bucket table bounded, forever: every `sweep_secs` it drops the buckets that are
/// indistinguishable from fresh ones (idle for `burst / per_second` seconds). The table then
/// holds only the callers seen in the last few seconds, whatever was sent before.
pub async fn maintain(limiter: RateLimiter, settings: RateLimitSettings) {
    let limiter = limiter.limiter();
    let every = Duration::from_secs(settings.sweep_secs.max(1));
    loop {
        tokio::time::sleep(every).await;
        let before = limiter.len();
        limiter.retain_recent();
        limiter.shrink_to_fit();
        tracing::debug!(before, after = limiter.len(), "rate-limit buckets swept");
    }
}
