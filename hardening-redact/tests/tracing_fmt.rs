//! The redacting formatter and writer, driven through real `tracing`
//! subscribers writing to memory.
#![cfg(feature = "tracing")]

use hardening_redact::fmt::{RedactingFields, RedactingFormat, RedactingMakeWriter};
use hardening_redact::Redactor;
use hardening_testkit::LogBuffer;

fn capture_json(f: impl FnOnce()) -> String {
    let out = LogBuffer::new();
    let sink = out.clone();
    let redactor = Redactor::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .map_event_format(|e| RedactingFormat::new(redactor.clone(), e))
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let v = out.bytes();
    String::from_utf8(v).unwrap()
}

fn capture_text(f: impl FnOnce()) -> String {
    let out = LogBuffer::new();
    let sink = out.clone();
    let redactor = Redactor::default();
    let subscriber = tracing_subscriber::fmt()
        .without_time()
        .fmt_fields(RedactingFields::new(redactor.clone()))
        .map_event_format(|e| RedactingFormat::new(redactor.clone(), e))
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let v = out.bytes();
    String::from_utf8(v).unwrap()
}

#[test]
fn json_redacts_fields_by_name_message_and_spans() {
    let out = capture_json(|| {
        let span = tracing::info_span!(
            "request",
            uri = "/cb?token=span-secret-1&page=2",
            user = "alice"
        );
        let _e = span.enter();
        let user = "alice";
        let password = "correct horse battery staple";
        tracing::info!(username = %user, password = %password, "login attempt for user={} password={}", user, password);
        tracing::warn!(api_key = ?"k-debug-value-2", note = "key rotated", "rotating");
        tracing::info!(
            header = "Authorization: Bearer 0123456789abcdef0123",
            "upstream call"
        );
    });
    for secret in [
        "horse",
        "span-secret-1",
        "k-debug-value-2",
        "0123456789abcdef0123",
    ] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
    for kept in [
        "alice",
        "login attempt for user=alice",
        "page=2",
        "key rotated",
        "upstream call",
    ] {
        assert!(out.contains(kept), "{kept} missing:\n{out}");
    }
    // Every line is still valid JSON with the field present.
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect(line);
        assert!(v["fields"].is_object());
    }
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["fields"]["password"], "[REDACTED]");
    assert_eq!(first["fields"]["username"], "alice");
}

#[test]
fn text_redacts_whole_values_by_name() {
    let out = capture_text(|| {
        let span = tracing::info_span!("req", session_id = "sess spaced value", path = "/x");
        let _e = span.enter();
        tracing::info!(password = %"has spaces inside", token_count = 17, "done");
    });
    assert!(!out.contains("spaces inside"), "{out}");
    assert!(!out.contains("spaced value"), "{out}");
    assert!(out.contains("password=[REDACTED]"), "{out}");
    assert!(out.contains("session_id=[REDACTED]"), "{out}");
    assert!(
        out.contains("token_count=17") && out.contains("path=\"/x\""),
        "{out}"
    );
}

#[test]
fn make_writer_scrubs_any_output() {
    use std::io::Write;
    use tracing_subscriber::fmt::MakeWriter;

    let out = LogBuffer::new();
    let make = RedactingMakeWriter::new(Redactor::default(), out.clone());
    {
        let mut w = make.make_writer();
        // A line split over several writes, and a trailing partial line.
        w.write_all(b"first password=").unwrap();
        w.write_all(b"hunter2 end\nsecond AKIAIOSFODNN7EX").unwrap();
        w.write_all(b"AMPLE tail").unwrap();
    }
    {
        let mut w = make.make_writer();
        w.write_all(b"-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n")
            .unwrap();
    }
    let text = out.contents();
    assert_eq!(
        text,
        "first password=[REDACTED] end\nsecond [REDACTED] tail[REDACTED]\n"
    );
}

#[test]
fn make_writer_behind_plain_formatter() {
    let out = LogBuffer::new();
    let sink = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(RedactingMakeWriter::new(Redactor::default(), move || {
            sink.clone()
        }))
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(dsn = "redis://:pw-in-dsn@cache:6379", "connecting");
    });
    let text = out.contents();
    assert!(!text.contains("pw-in-dsn"), "{text}");
    assert!(text.contains("redis://:[REDACTED]@cache:6379"), "{text}");
}

/// Formatter and writer together: each line is scanned once (the writer
/// passes on the formatter's own line), and the writer still scans
/// anything else written through it, including a line that differs from
/// the formatter's by one byte, or one from a differently configured
/// redactor.
#[test]
fn formatter_and_writer_scan_once_and_still_catch_other_writes() {
    use std::io::Write;
    use tracing_subscriber::fmt::MakeWriter;

    let out = LogBuffer::new();
    let sink = out.clone();
    let redactor = Redactor::default();
    let make = RedactingMakeWriter::new(redactor.clone(), move || sink.clone());
    let subscriber = tracing_subscriber::fmt()
        .json()
        .map_event_format(|e| RedactingFormat::new(redactor.clone(), e))
        .with_writer(make.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(password = "pw-fmt-1234", "login token=tok-fmt-5678");
        tracing::info!(dsn = "redis://:pw-in-dsn@cache:6379", "connecting");
    });
    let formatted = out.contents();
    assert!(!formatted.contains("pw-fmt-1234"), "{formatted}");
    assert!(!formatted.contains("tok-fmt-5678"), "{formatted}");
    assert!(!formatted.contains("pw-in-dsn"), "{formatted}");
    assert_eq!(formatted.lines().count(), 2);

    // The last formatted line, written again: one-shot, so it is scanned
    // (and unchanged, being redacted already).
    let last = formatted.lines().last().unwrap().to_owned() + "\n";
    make.make_writer().write_all(last.as_bytes()).unwrap();
    // Direct writes on the same thread are scanned.
    make.make_writer()
        .write_all(b"direct password=pw-direct-9\n")
        .unwrap();
    // A writer with another redactor configuration scans even right after
    // a formatted line.
    let other = Redactor::builder().sensitive_field("pin").build().unwrap();
    let sink2 = LogBuffer::new();
    let make2 = RedactingMakeWriter::new(other, sink2.clone());
    let subscriber = tracing_subscriber::fmt()
        .json()
        .map_event_format(|e| RedactingFormat::new(Redactor::default(), e))
        .with_writer(make2)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("pin=4321 checked");
    });
    let text = out.contents();
    assert!(
        text.ends_with(&format!("{last}direct password=[REDACTED]\n")),
        "{text}"
    );
    assert!(
        sink2.contents().contains("pin=[REDACTED]"),
        "{}",
        sink2.contents()
    );
}
