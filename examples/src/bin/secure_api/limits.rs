//! Per-client rate limits on `/auth`, `/api` and `/llm`.
//!
//! - `auth`: 5 logins per minute per client IP. The client IP is the TCP peer,
//!   or — only when the peer is one of `TRUSTED_PROXIES` — the address the
//!   proxies report in `X-Forwarded-For`, so a client cannot pick its own key.
//! - `api`: 60 per minute, `llm`: 20 per minute, per user when the request
//!   carries `Authorization: Bearer <token>` (this demo takes the token as
//!   the user id; a real service verifies it first), else per client IP.
//!
//! With `REDIS_URL` set the limits live in Redis, shared by every replica
//! (falling back to in-memory limits while Redis is unreachable); without
//! it, in this process's memory.
//!
//! Limited requests get `429` with `Retry-After`, `RateLimit-Policy`,
//! `RateLimit` and a problem+json body; admitted ones carry the `RateLimit*`
//! headers too.

use std::sync::Arc;

use axum::extract::Request;
use axum::Router;
use hardening_ratelimit::{
    AuthenticatedUser, ClientIp, Policy, RateLimitLayer, RedisStore, UserOrIp,
};
use tower::util::MapRequestLayer;

use crate::cli::Config;

/// Longest bearer token taken as a user id; longer ones count as anonymous.
const MAX_TOKEN_LEN: usize = 256;

/// Adds the rate limits, and the demo authentication they key `/api` and
/// `/llm` by (it runs first: layers added last run first).
pub(crate) async fn apply(
    router: Router,
    config: &Config,
) -> Result<Router, Box<dyn std::error::Error>> {
    let client_ip = ClientIp::trusting(config.trusted_proxies.clone());
    let [auth, api, llm] = Policy::defaults();
    let builder = RateLimitLayer::builder().policies([
        auth.key(client_ip.clone()),
        api.key(UserOrIp::new(client_ip.clone())),
        llm.key(UserOrIp::new(client_ip)),
    ]);

    let router = match &config.redis_url {
        // REDIS_URL: one limit shared by every replica. If Redis goes away
        // each replica falls back to limiting in memory until it is back.
        Some(redis_url) => {
            let store = RedisStore::builder(redis_url.as_str())
                .key_prefix("secure_api:ratelimit:")
                .build()?;
            tracing::info!("rate limits shared in Redis (REDIS_URL)");
            router.layer(builder.store(store).build()?)
        }
        None => router.layer(builder.build()?),
    };
    Ok(router.layer(MapRequestLayer::new(authenticate)))
}

/// Demo authentication: `Authorization: Bearer <token>` makes the request
/// user `<token>`.
fn authenticate(mut req: Request) -> Request {
    let user = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN)
        .map(Arc::<str>::from);
    if let Some(user) = user {
        req.extensions_mut().insert(AuthenticatedUser(user));
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_become_users() {
        let req = Request::builder()
            .header("authorization", "Bearer demo-alice")
            .body(axum::body::Body::empty())
            .unwrap();
        let req = authenticate(req);
        assert_eq!(
            req.extensions().get::<AuthenticatedUser>(),
            Some(&AuthenticatedUser::new("demo-alice"))
        );
        for value in [
            "Basic abc",
            "Bearer ",
            &format!("Bearer {}", "x".repeat(300)),
        ] {
            let req = Request::builder()
                .header("authorization", value)
                .body(axum::body::Body::empty())
                .unwrap();
            assert!(authenticate(req)
                .extensions()
                .get::<AuthenticatedUser>()
                .is_none());
        }
    }
}
