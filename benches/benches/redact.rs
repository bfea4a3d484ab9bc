//! `hardening-redact`: scanning throughput over a realistic log corpus, beside
//! a baseline that runs one regex per pattern; and the redacting tracing
//! formatter beside plain `tracing-subscriber` JSON.
//!
//! ```text
//! cargo bench -p hardening-benches --bench redact -- --warm-up-time 1 --measurement-time 3
//! ```
#![allow(missing_docs)]

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hardening_redact::Redactor;
use regex::Regex;

/// Deterministic pseudo-random numbers for the corpus.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() as usize) % items.len()]
    }
}

const PATHS: &[&str] = &[
    "/api/items",
    "/api/items/42",
    "/auth/login",
    "/llm/complete",
    "/",
    "/api/items?page=2&sort=name",
];
const METHODS: &[&str] = &["GET", "POST", "GET", "GET", "PUT", "DELETE"];
const LEVELS: &[&str] = &["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"];

/// One realistic clean log line (plain `tracing` text or JSON).
fn clean_line(rng: &mut Lcg) -> String {
    let ts = format!(
        "2026-11-23T18:{:02}:{:02}.{:06}Z",
        rng.next() % 60,
        rng.next() % 60,
        rng.next() % 1_000_000
    );
    let method = rng.pick(METHODS);
    let path = rng.pick(PATHS);
    let level = rng.pick(LEVELS);
    let latency = rng.next() % 900;
    let status = [200, 200, 201, 204, 404, 429, 503][(rng.next() % 7) as usize];
    match rng.next() % 8 {
        0 => format!("{ts}  {level} request{{method={method} uri={path} version=HTTP/1.1}}: tower_http::trace::on_response: finished processing request latency={latency} ms status={status}"),
        1 => format!("{{\"timestamp\":\"{ts}\",\"level\":\"{level}\",\"fields\":{{\"message\":\"finished processing request\",\"latency\":\"{latency} ms\",\"status\":{status}}},\"target\":\"tower_http::trace::on_response\",\"span\":{{\"method\":\"{method}\",\"uri\":\"{path}\",\"version\":\"HTTP/1.1\",\"name\":\"request\"}},\"spans\":[{{\"method\":\"{method}\",\"uri\":\"{path}\",\"version\":\"HTTP/1.1\",\"name\":\"request\"}}]}}"),
        2 => format!("{ts}  WARN secure_api::upstream: upstream call failed, retrying attempt={} backoff_ms={} error=\"connection reset by peer\" request_id=550e8400-e29b-41d4-a716-4466554{:05}", rng.next() % 4, rng.next() % 500, rng.next() % 100000),
        3 => format!("{ts} DEBUG sqlx::query: summary=\"SELECT id, name, price FROM items WHERE owner_id = $1 LIMIT 50\" rows_affected={} rows_returned={} elapsed={}.{:02}ms", rng.next() % 50, rng.next() % 50, rng.next() % 20, rng.next() % 100),
        4 => format!("{ts}  INFO secure_api::auth: user signed in user_id={} org=acme-corp plan=enterprise author=ada deploy_commit=9fceb02d0ae598e95dc970b74767f19372d61af8", rng.next() % 100000),
        5 => format!("{ts} ERROR hyper::server: connection error: error shutting down connection: Transport endpoint is not connected (os error 107) peer=203.0.113.{}:{}", rng.next() % 255, 40000 + rng.next() % 20000),
        6 => format!("{ts}  INFO cache: miss key=items:page:{} ttl_s=300 size_bytes={} hit_ratio=0.{:02}", rng.next() % 20, rng.next() % 100000, rng.next() % 100),
        _ => format!("{{\"timestamp\":\"{ts}\",\"level\":\"INFO\",\"fields\":{{\"message\":\"completion finished\",\"model\":\"small-1\",\"prompt_tokens\":{},\"completion_tokens\":{},\"max_tokens\":256,\"latency_ms\":{latency}}},\"target\":\"secure_api::llm\"}}", rng.next() % 2000, rng.next() % 500),
    }
}

/// A secret of some kind, in the form it typically leaks.
fn secret(rng: &mut Lcg) -> String {
    let n = rng.next();
    match n % 10 {
        0 => format!("password=hunter{}", n % 1000),
        1 => format!("Authorization: Bearer 9f8e7d6c5b4a{:08}f5e4d3c2b1a0", n % 100_000_000),
        2 => format!("uri=/callback?state=xyz&access_token=tok{n}&lang=en"),
        3 => "jwt=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c".to_owned(),
        4 => "aws_key=AKIAIOSFODNN7EXAMPLE".to_owned(),
        5 => "token ghp_16C7e42F292c6912E7710c838347Ae178B4a".to_owned(),
        6 => "card 4111 1111 1111 1111".to_owned(),
        7 => format!("db=postgres://app:pw{}@db.internal:5432/app", n % 1000),
        8 => format!("\"api_key\":\"ak-{n}\""),
        _ => "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_owned(),
    }
}

/// About 1 MiB of log lines, newline-separated.
fn corpus(with_secrets: bool) -> String {
    let mut rng = Lcg(42);
    let mut out = String::new();
    while out.len() < 1 << 20 {
        let mut line = clean_line(&mut rng);
        if with_secrets {
            line.push(' ');
            line.push_str(&secret(&mut rng));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The baseline: one regex per pattern, each run over the text in turn.
struct PerPatternRegexes(Vec<Regex>);

impl PerPatternRegexes {
    fn new() -> Self {
        let patterns = [
            r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*",
            r"\beyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
            r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
            r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
            r"\b(?:[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/=]{16,})",
            r"\bxox[baprse]-[A-Za-z0-9-]{10,}|\bxapp-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/[^\s?#]+",
            r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\z)",
            r"[A-Za-z][A-Za-z0-9+.-]+://[^\s/?#@:]*:[^\s/?#@]+@",
            r"(?i)[?&][a-z0-9_.%-]*(?:token|api_?key|secret|password|session|sig|signature|auth)=[^&\s#]*",
            r#"(?i)\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|auth|authorization|credentials?|cookie|session|sessid|private[_-]?key|bearer|otp|ssn|card[_-]?number|cvv|cvc)["']?\s*[:=]\s*(?:"[^"]*"|'[^']*'|[^\s,;&"'}]+)"#,
            r"\b(?:\d[ -]?){12,18}\d\b",
        ];
        PerPatternRegexes(patterns.iter().map(|p| Regex::new(p).unwrap()).collect())
    }

    fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        let last = self.0.len() - 1;
        for (i, re) in self.0.iter().enumerate() {
            let replaced = if i == last {
                // Card numbers: only Luhn-valid candidates are replaced.
                re.replace_all(&out, |c: &regex::Captures<'_>| {
                    let digits: Vec<u32> = c[0]
                        .bytes()
                        .filter(u8::is_ascii_digit)
                        .map(|b| u32::from(b - b'0'))
                        .collect();
                    if luhn(&digits) {
                        "[REDACTED]".to_owned()
                    } else {
                        c[0].to_owned()
                    }
                })
            } else {
                re.replace_all(&out, "[REDACTED]")
            };
            if let Cow::Owned(s) = replaced {
                out = Cow::Owned(s);
            }
        }
        out
    }
}

fn luhn(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let v = x * 2;
                if v > 9 {
                    v - 9
                } else {
                    v
                }
            } else {
                x
            }
        })
        .sum();
    sum % 10 == 0
}

fn scan(c: &mut Criterion) {
    let redactor = Redactor::default();
    let baseline = PerPatternRegexes::new();
    for (name, text) in [
        ("clean", corpus(false)),
        ("secret_every_line", corpus(true)),
    ] {
        // Both must agree that the corpus is (not) clean.
        assert_eq!(redactor.contains_secret(&text), name != "clean");
        let mut group = c.benchmark_group(format!("redact/{name}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("hardening_redact", name), &text, |b, t| {
            b.iter(|| black_box(redactor.redact(black_box(t))).len())
        });
        group.bench_with_input(
            BenchmarkId::new("regex_per_pattern", name),
            &text,
            |b, t| b.iter(|| black_box(baseline.redact(black_box(t))).len()),
        );
        group.finish();
    }
}

/// The 3,601-byte request path from issue 11 (repeated nested encodings
/// of `://`), which took over a minute before redaction was made linear;
/// the target is under 20 µs. The peer is a plain copy of the same path
/// (what a span that records the URI unredacted costs).
fn hostile_uri(c: &mut Criterion) {
    let redactor = Redactor::default();
    let unit = "%3A%2F%2F%253A%252F%252F%25253A%25252F%25252F";
    let mut path = String::from("/");
    while path.len() < 3601 {
        path.push_str(unit);
    }
    path.truncate(3601);
    let mut group = c.benchmark_group("redact/hostile_uri");
    group.throughput(Throughput::Elements(1));
    group.bench_with_input(
        BenchmarkId::new("hardening_redact", "nested_encoded_3601b"),
        &path,
        |b, p| b.iter(|| black_box(redactor.redact_uri(black_box(p))).len()),
    );
    group.bench_with_input(
        BenchmarkId::new("copy_unredacted", "nested_encoded_3601b"),
        &path,
        |b, p| b.iter(|| black_box(black_box(p.as_str()).to_owned()).len()),
    );
    group.finish();
}

/// One event through `tracing-subscriber`'s JSON formatter into a sink,
/// plain and wrapped in `RedactingFormat` (and with the `MakeWriter` scrub).
fn formatter(c: &mut Criterion) {
    use hardening_redact::fmt::{RedactingFormat, RedactingMakeWriter};
    use tracing::Dispatch;

    let redactor = Redactor::default();
    let plain = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::sink)
            .finish(),
    );
    let redacting = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .map_event_format(|f| RedactingFormat::new(redactor.clone(), f))
            .with_writer(std::io::sink)
            .finish(),
    );
    let both = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .map_event_format(|f| RedactingFormat::new(redactor.clone(), f))
            .with_writer(RedactingMakeWriter::new(redactor.clone(), std::io::sink))
            .finish(),
    );
    for event in ["clean_event", "sensitive_event"] {
        let mut group = c.benchmark_group(format!("redact/fmt_json/{event}"));
        group.throughput(Throughput::Elements(1));
        for (name, dispatch) in [
            ("tracing_fmt_json", &plain),
            ("redacting_format", &redacting),
            ("redacting_format_and_writer", &both),
        ] {
            group.bench_function(BenchmarkId::new(name, event), |b| {
                tracing::dispatcher::with_default(dispatch, || {
                    if event == "clean_event" {
                        b.iter(|| {
                            tracing::info!(
                                method = "GET",
                                uri = "/api/items?page=2",
                                status = 200u16,
                                latency_ms = 12u64,
                                "finished processing request"
                            )
                        })
                    } else {
                        b.iter(|| {
                            tracing::info!(
                                username = "alice",
                                password = "hunter2-hunter2",
                                status = 200u16,
                                "login attempt for user=alice password=hunter2-hunter2"
                            )
                        })
                    }
                })
            });
        }
        group.finish();
    }
}

/// Bytes and lines written through a `MakeWriter`, counted.
#[derive(Clone, Default)]
struct CountingSink(std::sync::Arc<(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64)>);

impl CountingSink {
    fn take(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.0 .0.swap(0, Relaxed), self.0 .1.swap(0, Relaxed))
    }
}

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        self.0 .0.fetch_add(buf.len() as u64, Relaxed);
        let lines = buf.iter().filter(|&&b| b == b'\n').count();
        self.0 .1.fetch_add(lines as u64, Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The logging pipeline of one request, as `secure_api` runs it (issue 16):
/// an outer `request` span with the request id, tower-http's `TraceLayer`
/// with its request span, a "started" and a "finished" line, JSON on a
/// sink. Contenders: the peer (plain `tracing-subscriber` JSON, tower-http's
/// `DefaultMakeSpan` at INFO); `secure_api` as it was (redacting formatter
/// and a writer that scans again, `span` and `spans`, headers in the span);
/// and as it is now (`examples/src/bin/secure_api/logging.rs`: one scan,
/// `spans` only, no headers). Bytes per line are printed before the timing.
fn pipeline(c: &mut Criterion) {
    use hardening_benches::{drive, Noop};
    use hardening_redact::fmt::{RedactingFormat, RedactingMakeWriter};
    use hardening_redact::trace::RedactedMakeSpan;
    use http_body_util::Empty;
    use tower::Layer;
    use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
    use tracing::{Dispatch, Level};

    type Body = Empty<bytes::Bytes>;
    let request = || {
        http::Request::get("/api/items?page=2&sort=name")
            .header("host", "api.example.com")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) curl/8.5.0")
            .header("accept", "application/json")
            .header("accept-encoding", "gzip, br")
            .header("x-request-id", "550e8400-e29b-41d4-a716-446655440000")
            .body(Body::default())
            .unwrap()
    };
    let sink = CountingSink::default();
    let redactor = Redactor::default();
    // A second, identically configured redactor: the old pipeline's writer
    // scanned every line again, which a writer with another configuration
    // still does.
    let other = Redactor::builder().build().unwrap();
    let w = sink.clone();
    let peer = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(move || w.clone())
            .finish(),
    );
    let w = sink.clone();
    let before = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .map_event_format(|f| RedactingFormat::new(redactor.clone(), f))
            .with_writer(RedactingMakeWriter::new(other, move || w.clone()))
            .finish(),
    );
    let w = sink.clone();
    let after = Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .map_event_format(|f| RedactingFormat::new(redactor.clone(), f))
            .with_writer(RedactingMakeWriter::new(redactor.clone(), move || {
                w.clone()
            }))
            .finish(),
    );
    let on = |t: TraceLayer<_, _, _, _>| {
        t.on_request(DefaultOnRequest::new().level(Level::INFO))
            .on_response(DefaultOnResponse::new().level(Level::INFO))
    };
    let peer_svc = on(TraceLayer::new_for_http())
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .layer(Noop);
    let before_svc = on(TraceLayer::new_for_http())
        .make_span_with(RedactedMakeSpan::new(redactor.clone()).record_headers(true))
        .layer(Noop);
    let after_svc = on(TraceLayer::new_for_http())
        .make_span_with(RedactedMakeSpan::new(redactor.clone()))
        .layer(Noop);

    let mut group = c.benchmark_group("redact/pipeline");
    group.throughput(Throughput::Elements(1));
    macro_rules! contender {
        ($name:literal, $dispatch:expr, $svc:expr) => {{
            let mut svc = $svc.clone();
            tracing::dispatcher::with_default(&$dispatch, || {
                let one = |svc: &mut _| {
                    let span = tracing::info_span!(
                        "request",
                        request_id = "550e8400-e29b-41d4-a716-446655440000"
                    );
                    let _g = span.enter();
                    drop(drive(svc, request()));
                };
                sink.take();
                one(&mut svc);
                let (bytes, lines) = sink.take();
                eprintln!(
                    "redact/pipeline/{}: {lines} lines per request, {} bytes per line",
                    $name,
                    bytes / lines.max(1)
                );
                group.bench_function(BenchmarkId::new($name, "request_2_lines"), |b| {
                    b.iter(|| one(&mut svc))
                });
            });
        }};
    }
    contender!("tracing_json_tracelayer", peer, peer_svc);
    contender!("secure_api_before", before, before_svc);
    contender!("secure_api_now", after, after_svc);
    group.finish();
}

criterion_group!(benches, scan, hostile_uri, formatter, pipeline);
criterion_main!(benches);
