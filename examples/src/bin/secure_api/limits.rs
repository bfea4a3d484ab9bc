//! Per-client rate limits on `/auth`, `/api` and `/llm`.
//!
//! - `auth`: 5 logins per minute per client IP. The client IP is the TCP peer,
//!   or — only when the peer is one of `TRUSTED_PROXIES` — the address the
//!   proxies report in `X-Forwarded-For`, so a client cannot pick its own key.
//! - `api`: 60 per minute, `llm`: 20 per minute, per user when the request
//!   carries `Authorization: Bearer <token>` with a token this server issued
//!   (see [`crate::token`]: verified before the user counts), else per client
//!   IP. Made-up tokens are anonymous, so rotating them buys no quota.
//!
//! With `REDIS_URL` set the limits live in Redis, shared by every replica
//! (falling back to in-memory limits while Redis is unreachable); without
//! it, in this process's memory.
//!
//! Limited requests get `429` with `Retry-After`, `RateLimit-Policy`,
//! `RateLimit` and a problem+json body; admitted ones carry the `RateLimit*`
//! headers too.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::Request;
use axum::Router;
use hardening_metrics::layers::LayerMetrics;
use hardening_ratelimit::{
    AuthenticatedUser, ClientIp, Policy, RateLimitLayer, RedisStore, UserOrIp,
};
use tower::util::MapRequestLayer;

use crate::cli::Config;
use crate::token::TokenKey;

/// Adds the rate limits, and the demo authentication they key `/api` and
/// `/llm` by (it runs first: layers added last run first).
pub(crate) async fn apply(
    router: Router,
    config: &Config,
    tokens: &TokenKey,
    metrics: &LayerMetrics,
) -> Result<Router, Box<dyn std::error::Error>> {
    let client_ip = ClientIp::trusting(config.trusted_proxies.clone());
    let [auth, api, llm] = Policy::defaults();
    let builder = RateLimitLayer::builder()
        .observer(metrics.ratelimit())
        .policies([
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
    let tokens = tokens.clone();
    Ok(router.layer(MapRequestLayer::new(move |req| {
        authenticate(&tokens, req, SystemTime::now())
    })))
}

/// Demo authentication: `Authorization: Bearer <token>` with a token that
/// `tokens` verifies makes the request its user; anything else stays
/// anonymous (and is limited per client IP).
fn authenticate(tokens: &TokenKey, mut req: Request, now: SystemTime) -> Request {
    // A client may send its own `AuthenticatedUser`-shaped data only through
    // headers, never as an extension; still, start from a clean slate.
    req.extensions_mut().remove::<AuthenticatedUser>();
    let user = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .and_then(|token| tokens.verify(token, now))
        .map(Arc::<str>::from);
    if let Some(user) = user {
        req.extensions_mut().insert(AuthenticatedUser(user));
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_of(tokens: &TokenKey, authorization: &str) -> Option<AuthenticatedUser> {
        let req = Request::builder()
            .header("authorization", authorization)
            .body(axum::body::Body::empty())
            .unwrap();
        authenticate(tokens, req, SystemTime::now())
            .extensions()
            .get::<AuthenticatedUser>()
            .cloned()
    }

    #[test]
    fn only_verified_tokens_become_users() {
        let tokens = TokenKey::random();
        let token = tokens.issue("alice", SystemTime::now()).unwrap();
        assert_eq!(
            user_of(&tokens, &format!("Bearer {token}")),
            Some(AuthenticatedUser::new("alice"))
        );
        let other = TokenKey::random()
            .issue("alice", SystemTime::now())
            .unwrap();
        for value in [
            "Basic abc".to_owned(),
            "Bearer ".to_owned(),
            "Bearer demo-alice".to_owned(),
            format!("Bearer {other}"),
            format!("Bearer {}", "x".repeat(300)),
        ] {
            assert_eq!(user_of(&tokens, &value), None, "{value}");
        }
    }
}
