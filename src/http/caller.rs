//! Who is calling: resolved once per request into a [`Caller`] with its [`Visibility`].
//!
//! In order: an admin token (`Authorization: Bearer`) sees everything; an API key
//! (`X-Api-Key`, or `Authorization: Bearer`) sees public and internal datasets plus those of
//! its groups; a trusted proxy's groups header (when enabled, and only from the configured
//! proxy addresses) likewise; anyone else is anonymous, at the configured level.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, web};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::access::{Sensitivity, Visibility, hash_api_key, ip_matches, parse_groups};
use crate::error::{ApiError, ErrorCode};

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub visibility: Visibility,
    pub is_admin: bool,
    /// The API key id (or admin token id); `None` for anonymous and proxy callers.
    pub key_id: Option<String>,
}

/// The bearer token of the request, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Constant-time comparison of a presented secret with the configured one.
pub fn secret_matches(presented: &str, configured: &str) -> bool {
    presented.as_bytes().ct_eq(configured.as_bytes()).into()
}

/// The id of the admin token presented, if one is (every token is compared).
pub fn admin_id(req: &HttpRequest, state: &AppState) -> Option<String> {
    let presented = bearer_token(req)?;
    let mut found = None;
    for (id, token) in state.engine.settings().admin_tokens().unwrap_or_default() {
        if secret_matches(presented, token.expose_secret()) && found.is_none() {
            found = Some(id);
        }
    }
    found
}

/// The API key presented (`X-Api-Key`, else the bearer token), if any.
pub fn presented_key(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .or_else(|| bearer_token(req))
}

fn resolve(req: &HttpRequest) -> Result<Caller, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal(anyhow::anyhow!("app state missing")));
    };
    let settings = state.engine.settings();
    if let Some(id) = admin_id(req, state) {
        return Ok(Caller {
            visibility: Visibility::All,
            is_admin: true,
            key_id: Some(id),
        });
    }
    if let Some(key) = presented_key(req) {
        return match state.engine.api_key(&hash_api_key(key)) {
            Some((id, groups)) => Ok(Caller {
                visibility: Visibility::for_groups(Sensitivity::Internal, &groups),
                is_admin: false,
                key_id: Some(id),
            }),
            None => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the API key is not valid (or was revoked)",
            )),
        };
    }
    if let Some(header) = &settings.access.trusted_proxy_header
        && let Some(peer) = req.peer_addr()
        && settings
            .access
            .trusted_proxies
            .iter()
            .any(|spec| ip_matches(peer.ip(), spec))
        && let Some(value) = req
            .headers()
            .get(header.as_str())
            .and_then(|v| v.to_str().ok())
    {
        return Ok(Caller {
            visibility: Visibility::for_groups(Sensitivity::Internal, &parse_groups(value)),
            is_admin: false,
            key_id: None,
        });
    }
    Ok(Caller {
        visibility: Visibility::anonymous(settings.access.anonymous_level),
        is_admin: false,
        key_id: None,
    })
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        ready(resolve(req))
    }
}
