//! Canary corpus (every pattern and field, each asserted redacted) and
//! false-positive corpus (asserted unchanged).

use std::borrow::Cow;

use hardening_redact::Redactor;

/// `(line, secret)`: after redaction `secret` must be gone and
/// `[REDACTED]` present.
const CANARIES: &[(&str, &str)] = &[
    // Authorization schemes.
    ("Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ("forwarding with bearer abcDEF123ghiJKL456 upstream", "abcDEF123ghiJKL456"),
    ("curl -H 'Authorization: Basic dXNlcjpodW50ZXIy' https://api", "dXNlcjpodW50ZXIy"),
    ("sent basic YWxhZGRpbjpvcGVuc2VzYW1l to proxy", "YWxhZGRpbjpvcGVuc2VzYW1l"),
    ("authorization=Token 5b1f0c2e8a77 retry", "5b1f0c2e8a77"),
    // JWT (header.payload.signature).
    (
        "id_token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c done",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ),
    (
        "{\"msg\":\"jwt=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhY2NvdW50cyJ9.c2lnbmF0dXJlLXBhcnQ\"}",
        "eyJpc3MiOiJhY2NvdW50cyJ9",
    ),
    // AWS access key ids.
    ("using key AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"),
    ("sts creds ASIAY34FZKBOKMUTVV7A expire soon", "ASIAY34FZKBOKMUTVV7A"),
    // GitHub tokens.
    ("clone with ghp_16C7e42F292c6912E7710c838347Ae178B4a ok", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("oauth gho_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5 granted", "gho_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"),
    ("user-to-server ghu_0123456789abcdefghijABCDEFGHIJ012345", "ghu_0123456789abcdefghijABCDEFGHIJ012345"),
    ("app token ghs_ZZZZ0123456789abcdefghijABCDEFGHIJ01", "ghs_ZZZZ0123456789abcdefghijABCDEFGHIJ01"),
    ("refresh ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498", "ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498"),
    (
        "pat github_pat_11ABCDEFG0123456789abc_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789ABCDE",
        "github_pat_11ABCDEFG0123456789abc_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789ABCDE",
    ),
    // Stripe.
    ("stripe.key=sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("charging with sk_test_51H8xYzAbCdEfGhIjKlMnOp", "sk_test_51H8xYzAbCdEfGhIjKlMnOp"),
    ("restricted rk_live_51H8xYzAbCdEfGhIjKlMnOp", "rk_live_51H8xYzAbCdEfGhIjKlMnOp"),
    ("webhook signing whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    // Slack.
    ("slack bot xoxb-2048256831-4923617520-aBcDeFgHiJkLmNoPqRsTuVwX", "xoxb-2048256831-4923617520-aBcDeFgHiJkLmNoPqRsTuVwX"),
    ("slack user xoxp-1234567890-0987654321-1122334455-abcdef0123456789", "xoxp-1234567890-0987654321-1122334455-abcdef0123456789"),
    ("posting to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX now", "XXXXXXXXXXXXXXXXXXXXXXXX"),
    // PEM private keys.
    (
        "key loaded: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi\n-----END RSA PRIVATE KEY----- done",
        "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi",
    ),
    (
        "{\"pem\":\"-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\\n-----END PRIVATE KEY-----\\n\"}",
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg",
    ),
    ("truncated -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", "b3BlbnNzaC1rZXktdjEAAAAA"),
    // URL userinfo.
    ("connecting to postgres://app:s3cr3t-pw@db.internal:5432/app", "s3cr3t-pw"),
    ("redis=redis://:Zx9pass0rd@cache:6379/0", "Zx9pass0rd"),
    ("git clone https://x-access-token:ghs_tokentokentoken@github.com/o/r", "tokentokentoken"),
    ("pushing to https://0123456789abcdef0123@github.com/o/r.git", "0123456789abcdef0123"),
    // Query parameters in URLs inside text.
    ("GET https://api.example.com/v1/items?page=2&access_token=q1w2e3r4t5 200", "q1w2e3r4t5"),
    ("uri=/callback?state=xyz&token=tkn-777-abc&lang=en", "tkn-777-abc"),
    ("uri=/search?API_KEY=ak-998877&q=shoes", "ak-998877"),
    ("uri=/x?api%5Fkey=pct-encoded-name-1", "pct-encoded-name-1"),
    ("uri=/x?%74%6F%6B%65%6E=fully-encoded-name-2", "fully-encoded-name-2"),
    ("redirect /login?next=https%3A%2F%2Fapp.example%2Fcb%3Fsession%3Dnested-sess-3", "nested-sess-3"),
    ("s3 presign ?X-Amz-Credential=AK%2F20240101&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024", "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"),
    // key=value and "key": "value" pairs.
    ("login user=alice password=hunter2", "hunter2"),
    ("db_password=Tr0ub4dor&3 retry=1", "Tr0ub4dor"),
    ("PASSWD: correct-horse", "correct-horse"),
    ("pwd=letmein1", "letmein1"),
    ("{\"username\":\"bob\",\"password\":\"p@ss w0rd!\"}", "p@ss w0rd!"),
    ("{\"client_secret\": \"cs-31415926\"}", "cs-31415926"),
    ("config { apiKey: 'ak_live_value_1' }", "ak_live_value_1"),
    ("X-Api-Key: xk-0042-0042", "xk-0042-0042"),
    ("x-api-key=xk-0043-0043", "xk-0043-0043"),
    ("Cookie: sid=cookie-val-1; theme=dark", "cookie-val-1"),
    ("set-cookie: session=cookie-val-2; Path=/; HttpOnly", "cookie-val-2"),
    ("session_id=sess-4242-abcd", "sess-4242-abcd"),
    ("PHPSESSID=phpsess0123", "phpsess0123"),
    ("auth=auth-secret-5", "auth-secret-5"),
    ("credentials => {\"user\":\"u\",\"key\":\"inner-cred-6\"}", "inner-cred-6"),
    ("Login { username: \"alice\", password: \"debug-pw-7\" }", "debug-pw-7"),
    ("privateKey=pk-material-8", "pk-material-8"),
    ("otp=493817", "493817"),
    ("ssn=078-05-1120", "078-05-1120"),
    ("card_number=4111-1111-1111-1111 exp=12/30", "4111-1111-1111-1111"),
    ("cvv=737", "737"),
    ("refresh_token=rt-abc-123", "rt-abc-123"),
    ("passphrase = 'open sesame'", "open sesame"),
    ("{\\\"password\\\":\\\"escaped-json-9\\\"}", "escaped-json-9"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    // Card numbers anywhere.
    ("charged 4111111111111111 for 12.00", "4111111111111111"),
    ("card 5500 0000 0000 0004 declined", "5500 0000 0000 0004"),
    ("amex 3782-822463-10005 ok", "3782-822463-10005"),
    ("discover 6011000990139424", "6011000990139424"),
];

/// Lines that must come back unchanged (and borrowed).
const CLEAN: &[&str] = &[
    "request_id=550e8400-e29b-41d4-a716-446655440000 status=200",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 merged",
    "short sha 9fceb02 deployed",
    "object id 5f2b8c9e1a7d4f3b2c6e8a0d",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "The author of the authentic tokenizer used a cookiecutter template.",
    "author=ada authentic=true tokenizer=bpe cookiecutter=yes",
    "max_tokens=256 prompt_tokens=120 token_count=17 completion_tokens=64",
    "session_count=4 active for 3 sessions",
    "The bearer of this message carries basic news.",
    "Bearer authentication is described in RFC 6750.",
    "order 4111111111111112 failed Luhn",
    "ts=1714567890123 us=1714567890123456 ns=1714567890123456789",
    "phone +1 415 555 2671 and zip 94107",
    "2026-11-23T18:55:17.123456Z  INFO request{method=GET uri=/api/items?page=2 version=HTTP/1.1}: tower_http::trace::on_response: finished processing request latency=3 ms status=200",
    "{\"timestamp\":\"2026-11-23T18:55:17.123456Z\",\"level\":\"INFO\",\"fields\":{\"message\":\"started\",\"addr\":\"127.0.0.1:3000\"},\"target\":\"secure_api\"}",
    "GET https://example.com/search?q=rust&page=3#results",
    "see https://user@example.com/docs for details",
    "key=cache:user:42 hit=true",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUE\n-----END CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\n-----END PUBLIC KEY-----",
    "version=1.2.3 region=eu-west-1 duration=15ms",
    "eyJ is how base64 JSON starts",
    "AKIA prefix alone AKIA1234",
    "ghp_short sk_live_x xoxb-1",
    "if a == b && c != d: ok",
    "C://Windows path",
    "price=4111 qty=1111",
    "Déjà vu: naïve café ünïcödé ✓ password",
    "2026-11-23T18:00:04.240259Z  INFO secure_api::auth: user signed in user_id=34837",
    "",
];

#[test]
fn every_canary_is_redacted() {
    let r = Redactor::default();
    let mut failures = Vec::new();
    for (line, secret) in CANARIES {
        let out = r.redact(line);
        if out.contains(secret) || !out.contains("[REDACTED") {
            failures.push(format!("{line:?}\n   -> {out:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "secrets survived:\n{}",
        failures.join("\n")
    );
}

#[test]
fn clean_lines_are_unchanged_and_borrowed() {
    let r = Redactor::default();
    let mut failures = Vec::new();
    for line in CLEAN {
        match r.redact(line) {
            Cow::Borrowed(b) if b == *line => {}
            other => failures.push(format!("{line:?}\n   -> {other:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "false positives:\n{}",
        failures.join("\n")
    );
}

#[test]
fn non_secret_context_survives() {
    let r = Redactor::default();
    assert_eq!(
        r.redact("login user=alice password=hunter2 ip=10.0.0.1"),
        "login user=alice password=[REDACTED] ip=10.0.0.1"
    );
    assert_eq!(
        r.redact(r#"{"username":"bob","password":"x y","remember":true}"#),
        r#"{"username":"bob","password":"[REDACTED]","remember":true}"#
    );
    assert_eq!(
        r.redact("postgres://app:pw@db:5432/app"),
        "postgres://app:[REDACTED]@db:5432/app"
    );
    assert_eq!(
        r.redact("Authorization: Bearer abc.def-123"),
        "Authorization: [REDACTED]"
    );
    assert_eq!(
        r.redact("GET /a?page=2&token=t1&x=y"),
        "GET /a?page=2&token=[REDACTED]&x=y"
    );
}

#[test]
fn redaction_is_idempotent_on_the_corpora() {
    let r = Redactor::default();
    for line in CANARIES
        .iter()
        .map(|(l, _)| *l)
        .chain(CLEAN.iter().copied())
    {
        let once = r.redact(line).into_owned();
        let twice = r.redact(&once);
        assert_eq!(twice, once.as_str(), "not idempotent for {line:?}");
        assert!(matches!(twice, Cow::Borrowed(_)));
    }
}

#[test]
fn fingerprints_correlate_without_revealing() {
    let r = Redactor::builder()
        .fingerprint_key("0123456789abcdef-test-key")
        .build()
        .unwrap();
    let a = r.redact("password=hunter2");
    let b = r.redact("{\"password\":\"hunter2\"}");
    let c = r.redact("password=other");
    let fp = |s: &str| {
        s[s.find("[REDACTED:").unwrap()..]
            .split(']')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(fp(&a), fp(&b), "same secret, same fingerprint");
    assert_ne!(fp(&a), fp(&c), "different secret, different fingerprint");
    assert_eq!(fp(&a).len(), "[REDACTED:".len() + 8);
    assert!(!a.contains("hunter2"));
    // Another key gives other fingerprints.
    let r2 = Redactor::builder()
        .fingerprint_key("another-key-0123456789")
        .build()
        .unwrap();
    assert_ne!(fp(&r2.redact("password=hunter2")), fp(&a));
    // And fingerprinted output is stable under a second pass.
    assert_eq!(r.redact(&a), a.as_ref());
}
