//! Who is calling: resolved once per request into a [`Caller`] with its [`Visibility`].

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, web};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::access::Visibility;
use crate::error::ApiError;

/// The caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub visibility: Visibility,
    pub is_admin: bool,
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

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::internal(anyhow::anyhow!(
                "app state missing"
            ))));
        };
        let settings = state.engine.settings();
        let is_admin = match (&settings.admin_token, bearer_token(req)) {
            (Some(configured), Some(presented)) => {
                secret_matches(presented, configured.expose_secret())
            }
            _ => false,
        };
        let visibility = if is_admin {
            Visibility::All
        } else {
            Visibility::anonymous(settings.access.anonymous_level)
        };
        ready(Ok(Caller {
            visibility,
            is_admin,
        }))
    }
}
