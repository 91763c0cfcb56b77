//! Who is calling: resolved once per request into a [`Caller`] with its [`Visibility`]; and
//! the credential helpers (key hashing and generation, CIDR matching of proxy addresses).
//!
//! In order: an admin token (`Authorization: Bearer`) sees everything; an API key
//! (`X-Api-Key`, or `Authorization: Bearer`) sees public and internal datasets plus those of
//! its groups; a trusted proxy's groups header (when enabled, and only from the configured
//! proxy addresses) likewise; anyone else is anonymous, at the configured level.

use std::future::{Ready, ready};
use std::net::IpAddr;

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

/// A header that must be text and is not: a credential sent this way is refused (401), never
/// ignored (the caller would silently become anonymous).
fn header_text<'a>(req: &'a HttpRequest, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(value) => value.to_str().map(Some).map_err(|_| {
            ApiError::new(
                ErrorCode::Unauthorized,
                format!("the `{name}` header is not valid text"),
            )
        }),
    }
}

/// The bearer token of the request, if any.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = header_text(req, "authorization")? else {
        return Ok(None);
    };
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    Ok(token)
}

/// Constant-time comparison of a presented secret with the configured one.
pub fn secret_matches(presented: &str, configured: &str) -> bool {
    presented.as_bytes().ct_eq(configured.as_bytes()).into()
}

/// The id of the admin token `presented` is, if it is one (every token is compared).
fn admin_token_id(presented: &str, state: &AppState) -> Option<String> {
    let mut found = None;
    for (id, token) in state.settings.admin_tokens().unwrap_or_default() {
        if secret_matches(presented, token.expose_secret()) && found.is_none() {
            found = Some(id);
        }
    }
    found
}

/// The id of the admin token presented, if one is.
pub fn admin_id(req: &HttpRequest, state: &AppState) -> Option<String> {
    let presented = bearer_token(req).ok().flatten()?;
    admin_token_id(presented, state)
}

/// Whether the caller may see operational detail (counts): an admin token, or the ops token.
pub fn is_operator(req: &HttpRequest, state: &AppState) -> bool {
    let Some(presented) = bearer_token(req).ok().flatten() else {
        return false;
    };
    let ops = state.settings.access.ops_token.as_ref();
    ops.is_some_and(|t| secret_matches(presented, t.expose_secret()))
        || admin_token_id(presented, state).is_some()
}

/// The API key presented (`X-Api-Key`, else the bearer token), if any.
pub fn presented_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let key = header_text(req, "x-api-key")?
        .map(str::trim)
        .filter(|k| !k.is_empty());
    match key {
        Some(key) => Ok(Some(key)),
        None => bearer_token(req),
    }
}

/// A credential that checks out: an admin token or an active API key, by its id.
pub fn valid_credential(req: &HttpRequest, state: &AppState) -> Option<String> {
    if let Some(id) = admin_id(req, state) {
        return Some(id);
    }
    let key = presented_key(req).ok().flatten()?;
    state.governance.api_key(&hash_api_key(key)).map(|g| g.id)
}

/// Whether the direct peer of this request is one of the trusted proxies.
fn from_trusted_proxy(req: &HttpRequest, state: &AppState) -> bool {
    let proxies = &state.settings.access.trusted_proxies;
    req.peer_addr()
        .is_some_and(|peer| proxies.iter().any(|spec| ip_matches(peer.ip(), spec)))
}

/// The value of a header a trusted proxy sets, when the request comes from one. The proxy
/// must replace such a header, not append to it: a header sent more than once could carry a
/// value the client chose, so it is refused (400).
fn trusted_header<'a>(
    req: &'a HttpRequest,
    state: &AppState,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    if !from_trusted_proxy(req, state) {
        return Ok(None);
    }
    let mut values = req.headers().get_all(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("the `{name}` header appears more than once; the proxy must set it once"),
        ));
    }
    first.to_str().map(Some).map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("the `{name}` header is not valid text"),
        )
    })
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// address of `X-Forwarded-For` / `Forwarded` that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !from_trusted_proxy(req, state) {
        return Some(peer);
    }
    let proxies = &state.settings.access.trusted_proxies;
    let trusted = |ip: &IpAddr| proxies.iter().any(|spec| ip_matches(*ip, spec));
    let mut hops: Vec<Option<IpAddr>> = Vec::new();
    for value in req.headers().get_all("forwarded") {
        let Ok(value) = value.to_str() else {
            return Some(peer);
        };
        hops.extend(forwarded_for(value));
    }
    if hops.is_empty() {
        for value in req.headers().get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return Some(peer);
            };
            hops.extend(value.split(',').map(|hop| parse_hop(hop.trim())));
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            // An unreadable hop: nothing to its left can be trusted.
            None => break,
            Some(ip) => {
                client = ip;
                if !trusted(&ip) {
                    break;
                }
            }
        }
    }
    Some(client)
}

/// The `for=` addresses of a `Forwarded` header (RFC 7239), in order.
fn forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, v) = pair.trim().split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_hop(v.trim().trim_matches('"')))
            })
        })
        .collect()
}

/// One forwarded hop: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443` or `2001:db8::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = hop.strip_prefix('[')?.split(']').next()?;
    inner.parse().ok()
}

/// The rate-limit bucket of a request: a valid credential's own; a trusted proxy's user
/// header; otherwise the client's address (an IPv6 client by its /64). Unknown or invalid
/// credentials count against the address, so guessing keys is throttled like any traffic.
pub fn rate_key(req: &HttpRequest, state: &AppState) -> String {
    if let Some(id) = valid_credential(req, state) {
        return format!("key:{id}");
    }
    if let Some(header) = &state.settings.access.trusted_user_header
        && let Ok(Some(user)) = trusted_header(req, state, header)
    {
        return format!("user:{}", user.trim());
    }
    match client_ip(req, state) {
        Some(IpAddr::V6(ip)) if ip.to_ipv4_mapped().is_none() => {
            let prefix = u128::from(ip) >> 64;
            format!("ip6:{prefix:016x}")
        }
        Some(IpAddr::V6(ip)) => format!(
            "ip:{}",
            ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
        ),
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".into(),
    }
}

/// The caller a credential makes outside an HTTP request (the stdio MCP server's
/// `DESCOBERTA_MCP_API_KEY`): an admin token sees everything, an active API key its groups;
/// anything else is `None` (refused, never anonymous).
pub fn caller_for_credential(state: &AppState, credential: &str) -> Option<Caller> {
    let credential = credential.trim();
    if credential.is_empty() {
        return None;
    }
    if let Some(id) = admin_token_id(credential, state) {
        return Some(Caller {
            visibility: Visibility::All,
            is_admin: true,
            key_id: Some(id),
        });
    }
    let grant = state.governance.api_key(&hash_api_key(credential))?;
    Some(Caller {
        visibility: Visibility::for_groups(Sensitivity::Internal, &grant.groups),
        is_admin: false,
        key_id: Some(grant.id),
    })
}

/// The caller of an anonymous request, at the configured level.
pub fn anonymous(state: &AppState) -> Caller {
    Caller {
        visibility: Visibility::anonymous(state.settings.access.anonymous_level),
        is_admin: false,
        key_id: None,
    }
}

fn resolve(req: &HttpRequest) -> Result<Caller, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::internal(anyhow::anyhow!("app state missing")));
    };
    let settings = &state.settings;
    if let Some(bearer) = bearer_token(req)?
        && let Some(id) = admin_token_id(bearer, state)
    {
        return Ok(Caller {
            visibility: Visibility::All,
            is_admin: true,
            key_id: Some(id),
        });
    }
    if let Some(key) = presented_key(req)? {
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
        && let Some(value) = trusted_header(req, state, header)?
    {
        return Ok(Caller {
            visibility: Visibility::for_groups(Sensitivity::Internal, &parse_groups(value)),
            is_admin: false,
            key_id: None,
        });
    }
    Ok(anonymous(state))
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
pub fn ip_matches(ip: IpAddr, spec: &str) -> bool {
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
