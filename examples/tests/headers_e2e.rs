//! End to end: the real `secure_api` binary on `127.0.0.1:0`, a real HTTP
//! client, and every security header, nonce and redirect rule checked on the
//! wire.

mod support;

use bytes::Bytes;
use http::header::{HeaderName, CONTENT_TYPE, HOST, LOCATION, STRICT_TRANSPORT_SECURITY};
use http::{HeaderMap, Request, Response, StatusCode};

use support::SecureApi;

const PUBLIC_HOSTS: &str = "api.example.test, *.apps.example.test";

/// The strict set without CSP and HSTS (checked separately), as sent on `/`.
const STRICT: &[(&str, &str)] = &[
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    ("origin-agent-cluster", "?1"),
    ("x-dns-prefetch-control", "off"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-download-options", "noopen"),
    ("x-xss-protection", "0"),
];

/// The API set without HSTS, as sent on `/api`, `/llm`, `/auth`.
const API: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("x-permitted-cross-domain-policies", "none"),
    ("cache-control", "no-store"),
];

/// Headers only HTML responses get.
const DOCUMENT_ONLY: &[&str] = &[
    "permissions-policy",
    "cross-origin-opener-policy",
    "cross-origin-embedder-policy",
    "origin-agent-cluster",
    "x-dns-prefetch-control",
    "x-download-options",
    "x-xss-protection",
];

fn value<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing from {headers:?}"))
        .to_str()
        .unwrap()
}

fn assert_headers(headers: &HeaderMap, expected: &[(&str, &str)]) {
    for (name, want) in expected {
        assert_eq!(value(headers, name), *want, "{name}");
        assert_eq!(headers.get_all(*name).iter().count(), 1, "{name} once");
    }
}

/// The nonce of a strict CSP, checked to sit in both `script-src` and
/// `style-src`.
fn csp_nonce(csp: &str) -> String {
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no nonce in {csp}"))
        .to_owned();
    assert_eq!(nonce.len(), 24, "144-bit nonce in base64: {nonce}");
    assert!(nonce
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'));
    assert!(
        csp.contains(&format!(
            "script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-{nonce}';"
        )),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("style-src 'self' 'nonce-{nonce}'")),
        "{csp}"
    );
    nonce
}

/// Sends `method path` with `Host: host` (replacing the real one) and extra
/// headers.
async fn send_as(
    api: &SecureApi,
    method: &str,
    path: &str,
    host: &str,
    extra: &[(&str, &str)],
) -> Response<Bytes> {
    let mut req: Request<Bytes> = api.request(method, path).body(Bytes::new()).unwrap();
    req.headers_mut().insert(HOST, host.parse().unwrap());
    for (name, value) in extra {
        req.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    api.send(req).await
}

#[tokio::test]
async fn html_page_has_every_header_and_a_fresh_nonce_that_its_inline_code_uses() {
    let api = SecureApi::start_with(&[("PUBLIC_HOSTS", PUBLIC_HOSTS)], &[]).await;

    let mut nonces = Vec::new();
    for _ in 0..3 {
        let res = api.get("/").await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert!(value(h, "content-type").starts_with("text/html"));
        assert_headers(h, STRICT);
        assert!(value(h, "permissions-policy").contains("camera=(), "));
        assert!(value(h, "permissions-policy").contains("geolocation=()"));
        assert!(!h.contains_key("server") && !h.contains_key("x-powered-by"));
        assert!(!h.contains_key("cache-control"));
        // plain HTTP (loopback is served without redirect): no HSTS, and no
        // upgrade-insecure-requests, which would break the page's own links
        assert!(!h.contains_key(STRICT_TRANSPORT_SECURITY));
        let csp = value(h, "content-security-policy");
        assert!(
            csp.starts_with(
                "default-src 'none'; base-uri 'none'; connect-src 'self'; font-src 'self'; \
                 form-action 'self'; frame-ancestors 'none'; img-src 'self' data:; \
                 manifest-src 'self'; object-src 'none'; \
                 script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-"
            ),
            "{csp}"
        );
        assert!(
            csp.contains("; require-trusted-types-for 'script'; trusted-types 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("upgrade-insecure-requests"), "{csp}");
        // 'unsafe-inline' is only the fallback for pre-nonce browsers, next
        // to the nonce and 'strict-dynamic' that make current ones ignore it
        assert_eq!(csp.matches("'unsafe-inline'").count(), 1, "{csp}");
        let nonce = csp_nonce(csp);

        let body = String::from_utf8(res.body().to_vec()).unwrap();
        assert!(
            body.contains(&format!("<script nonce=\"{nonce}\">")),
            "{body}"
        );
        assert!(
            body.contains(&format!("<style nonce=\"{nonce}\">")),
            "{body}"
        );
        assert_eq!(
            body.matches("nonce=").count(),
            2,
            "every inline element carries it"
        );
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "every response has its own nonce");

    // 404s are HTML-profile responses too
    let res = api.get("/no-such-page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_headers(res.headers(), STRICT);
    csp_nonce(value(res.headers(), "content-security-policy"));
}

#[tokio::test]
async fn api_routes_get_the_api_header_set() {
    let api = SecureApi::start_with(&[("PUBLIC_HOSTS", PUBLIC_HOSTS)], &[]).await;

    let res = api.get("/api/items").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        value(res.headers(), CONTENT_TYPE.as_str()),
        "application/json"
    );
    assert_headers(res.headers(), API);
    for name in DOCUMENT_ONLY {
        assert!(
            !res.headers().contains_key(*name),
            "{name} on an API response"
        );
    }
    assert!(!res.headers().contains_key(STRICT_TRANSPORT_SECURITY));

    let req = api
        .request("POST", "/llm/complete")
        .header(CONTENT_TYPE, "text/plain")
        .body(Bytes::from_static(b"hello"))
        .unwrap();
    let res = api.send(req).await;
    assert_headers(res.headers(), API);
    let req = api
        .request("POST", "/auth/login")
        .header(CONTENT_TYPE, "application/json")
        .body(Bytes::from_static(br#"{"username":"a","password":"b"}"#))
        .unwrap();
    let res = api.send(req).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_headers(res.headers(), API);
}

#[tokio::test]
async fn plain_http_is_redirected_only_to_allowed_hosts() {
    let api = SecureApi::start_with(&[("PUBLIC_HOSTS", PUBLIC_HOSTS)], &[]).await;

    let res = send_as(
        &api,
        "GET",
        "/api/items?page=2&q=a%20b",
        "API.example.test:8080",
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        value(res.headers(), LOCATION.as_str()),
        "https://api.example.test/api/items?page=2&q=a%20b"
    );
    assert!(res.body().is_empty());
    // the redirect travels over plain HTTP: no HSTS (RFC 6797 §7.2), but the
    // other headers of its profile are there
    assert!(!res.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    assert_headers(res.headers(), API);

    let res = send_as(&api, "GET", "/", "shop.apps.example.test", &[]).await;
    assert_eq!(
        value(res.headers(), LOCATION.as_str()),
        "https://shop.apps.example.test/"
    );
    let res = send_as(&api, "POST", "/auth/login", "api.example.test", &[]).await;
    assert_eq!(
        res.status(),
        StatusCode::PERMANENT_REDIRECT,
        "308 keeps the method"
    );

    // forged hosts: 400, never a Location
    for host in [
        "evil.example",
        "api.example.test.evil.example",
        "apps.example.test",
        "api.example.test@evil.example",
        "localhost.evil.example",
    ] {
        let res = send_as(&api, "GET", "/", host, &[]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{host}");
        assert!(!res.headers().contains_key(LOCATION), "{host}");
        assert_headers(res.headers(), STRICT);
    }

    // a client claiming HTTPS itself is not believed: no trusted proxy here
    for forged in [("x-forwarded-proto", "https"), ("forwarded", "proto=https")] {
        let res = send_as(&api, "GET", "/", "api.example.test", &[forged]).await;
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT, "{forged:?}");
        assert!(!res.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    }
    let res = send_as(
        &api,
        "GET",
        "/",
        "evil.example",
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // probes stay reachable over plain HTTP (whatever they answer)
    for path in ["/livez", "/readyz", "/health"] {
        let res = send_as(&api, "GET", path, "api.example.test", &[]).await;
        assert_ne!(res.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_ne!(res.status(), StatusCode::BAD_REQUEST, "{path}");
    }

    // loopback is exempt: the quick start works in a browser
    let res = send_as(&api, "GET", "/", "localhost:3000", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_proto_from_a_trusted_proxy_is_honoured() {
    let api = SecureApi::start_with(
        &[
            ("PUBLIC_HOSTS", PUBLIC_HOSTS),
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
        &[],
    )
    .await;

    let res = send_as(
        &api,
        "GET",
        "/",
        "api.example.test",
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "the proxy terminated TLS");
    let h = res.headers();
    assert_eq!(
        value(h, STRICT_TRANSPORT_SECURITY.as_str()),
        "max-age=31536000; includeSubDomains"
    );
    let csp = value(h, "content-security-policy");
    csp_nonce(csp);
    assert!(csp.ends_with("; upgrade-insecure-requests"), "{csp}");

    let res = send_as(
        &api,
        "GET",
        "/api/items",
        "api.example.test",
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_headers(res.headers(), API);
    assert!(res.headers().contains_key(STRICT_TRANSPORT_SECURITY));

    // the proxy says the client used plain HTTP (rightmost value wins)
    let res = send_as(
        &api,
        "GET",
        "/",
        "api.example.test",
        &[("x-forwarded-proto", "https, http")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    let res = send_as(&api, "GET", "/", "api.example.test", &[]).await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    // still no redirect to a host that is not ours
    let res = send_as(&api, "GET", "/", "evil.example", &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_invalid_public_host_stops_startup_with_a_message_naming_it() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_secure_api"))
        .env("ADDR", "127.0.0.1:0")
        .env("PUBLIC_HOSTS", "api.example.test, bad/host")
        .env_remove("TRUSTED_PROXIES")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PUBLIC_HOSTS") && stderr.contains("`bad/host`"),
        "{stderr}"
    );
}
