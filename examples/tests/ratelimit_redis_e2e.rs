//! `secure_api` replicas sharing their rate limits through a real Redis.

mod support;

use bytes::Bytes;
use http::{Response, StatusCode};
use support::{RedisServer, SecureApi};

async fn login(api: &SecureApi) -> Response<Bytes> {
    let req = api
        .request("POST", "/auth/login")
        .header("content-type", "application/json")
        .body(Bytes::from_static(
            br#"{"username":"alice","password":"hunter2"}"#,
        ))
        .unwrap();
    api.send(req).await
}

#[tokio::test]
async fn two_replicas_share_one_login_limit() {
    let Some(redis) = RedisServer::start("two_replicas_share_one_login_limit") else {
        return;
    };
    let env = [("REDIS_URL", redis.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = SecureApi::start_with(&env, &[]).await;
    let b = SecureApi::start_with(&env, &[]).await;

    let mut statuses = Vec::new();
    for n in 0..8 {
        let replica = if n % 2 == 0 { &a } else { &b };
        statuses.push(login(replica).await.status().as_u16());
    }
    // 5 per minute between them, not 5 each
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let res = login(&b).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));

    // Redis holds the state, with an expiry at its recovery (≤ 60 s).
    let pttl = redis
        .command("PTTL secure_api:ratelimit:auth:ip:127.0.0.1")
        .unwrap();
    let pttl: i64 = pttl.trim_start_matches(':').parse().unwrap();
    assert!((1..=60_000).contains(&pttl), "PTTL {pttl}");
    a.terminate();
    b.terminate();
}

#[tokio::test]
async fn replicas_keep_limiting_locally_when_redis_dies() {
    let Some(mut redis) = RedisServer::start("replicas_keep_limiting_locally_when_redis_dies")
    else {
        return;
    };
    let url = redis.url();
    let api = SecureApi::start_with(&[("REDIS_URL", url.as_str())], &[]).await;
    assert_eq!(login(&api).await.status(), StatusCode::OK);
    redis.kill();
    // The default failure policy limits in memory: still 5 per minute, never 503.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(login(&api).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    let health = api.get("/api/items").await;
    assert_eq!(health.status(), StatusCode::OK);
    api.terminate();
    let output = api.output();
    assert!(
        output.contains("Redis rate limit store failed"),
        "a warning says so: {output}"
    );
    assert_eq!(
        output.matches("Redis rate limit store failed").count(),
        1,
        "once per interval, not per request"
    );
}
