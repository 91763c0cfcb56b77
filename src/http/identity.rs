//! Who is calling: resolved once per request into a [`Caller`] with its [`Visibility`]; and
//! the credential helpers (key hashing and generation, CIDR matching of proxy addresses).
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
use super::error::{ApiError, ErrorCode};
use crate::catalog::Sensitivity;
use crate::retrieval::Visibility;

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
    for (id, token) in state.settings.admin_tokens().unwrap_or_default() {
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
    let settings = &state.settings;
    if let Some(id) = admin_id(req, state) {
        return Ok(Caller {
            visibility: Visibility::All,
            is_admin: true,
            key_id: Some(id),
        });
    }
    if let Some(key) = presented_key(req) {
        return match state.governance.api_key(&hash_api_key(key)) {
            Some(grant) => Ok(Caller {
                visibility: Visibility::for_groups(Sensitivity::Internal, &grant.groups),
                is_admin: false,
                key_id: Some(grant.id),
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
/// The stored form of an API key: its SHA-256, hex. Keys are random, so a fast hash is the
/// right one (no dictionary to slow down).
pub fn hash_api_key(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// A new API key secret (shown once) and its id.
pub fn new_api_key() -> (String, String) {
    let id = format!("key_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let secret = format!(
        "dk_{:016x}{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    (id, secret)
}

/// Groups from a header value: comma- or semicolon-separated names.
pub fn parse_groups(value: &str) -> Vec<String> {
    value
        .split([',', ';'])
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect()
}

/// Whether `ip` is `spec`: an address, or a CIDR range (`10.0.0.0/8`, `fd00::/8`).
pub fn ip_matches(ip: std::net::IpAddr, spec: &str) -> bool {
    use std::net::IpAddr;
    let (addr, bits) = match spec.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (spec, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V4(_)) => ip
            .to_ipv4_mapped()
            .is_some_and(|v4| ip_matches(IpAddr::V4(v4), spec)),
        _ => false,
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn cidr_and_addresses() {
        let ip = |s: &str| s.parse().unwrap();
        assert!(ip_matches(ip("10.1.2.3"), "10.0.0.0/8"));
        assert!(!ip_matches(ip("11.1.2.3"), "10.0.0.0/8"));
        assert!(ip_matches(ip("127.0.0.1"), "127.0.0.1"));
        assert!(ip_matches(ip("::ffff:127.0.0.1"), "127.0.0.1"));
        assert!(!ip_matches(ip("127.0.0.2"), "127.0.0.1"));
        assert!(!ip_matches(ip("127.0.0.1"), "not-an-ip"));
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let (id1, k1) = new_api_key();
        let (id2, k2) = new_api_key();
        assert_ne!((id1, &k1), (id2, &k2));
        assert_eq!(hash_api_key(&k1).len(), 64);
        assert_ne!(hash_api_key(&k1), hash_api_key(&k2));
        assert_eq!(parse_groups(" hr, finance;;x "), ["hr", "finance", "x"]);
    }
}
