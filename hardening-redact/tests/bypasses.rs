//! Redaction bypasses from issue 11 (item 6), each as a regression test,
//! and a property test over names, separators and quoting: a planted
//! secret never survives the `Redactor`, the text and JSON formatters, or
//! the `RedactingMakeWriter`.
#![cfg(feature = "tracing")]

use std::io::Write as _;

use hardening_redact::fmt::test_support::SharedBuf;
use hardening_redact::fmt::{RedactingFields, RedactingFormat, RedactingMakeWriter};
use hardening_redact::Redactor;
use proptest::prelude::*;
use tracing_subscriber::fmt::MakeWriter as _;

fn captured(out: &SharedBuf) -> String {
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

fn capture_json(f: impl FnOnce()) -> String {
    let out = SharedBuf::default();
    let sink = out.clone();
    let redactor = Redactor::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .map_event_format(|e| RedactingFormat::new(redactor.clone(), e))
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    captured(&out)
}

fn capture_text(f: impl FnOnce()) -> String {
    let out = SharedBuf::default();
    let sink = out.clone();
    let redactor = Redactor::default();
    let subscriber = tracing_subscriber::fmt()
        .without_time()
        .fmt_fields(RedactingFields::new(redactor.clone()))
        .map_event_format(|e| RedactingFormat::new(redactor.clone(), e))
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    captured(&out)
}

fn through_writer(line: &str) -> String {
    let out = SharedBuf::default();
    let make = RedactingMakeWriter::new(Redactor::default(), out.clone());
    let mut w = make.make_writer();
    w.write_all(line.as_bytes()).unwrap();
    w.write_all(b"\n").unwrap();
    drop(w);
    captured(&out)
}

/// The login handler logging a password with a quote and an apostrophe.
#[test]
fn password_with_quotes_leaks_in_no_formatter() {
    let p = "It's\"Secret1";
    let log = || tracing::info!(password = %p, "login attempt password={}", p);
    for (name, out) in [("json", capture_json(log)), ("text", capture_text(log))] {
        assert!(!out.contains("Secret1"), "{name}: {out}");
        assert!(!out.contains("'s"), "{name}: {out}");
        assert!(out.contains("login attempt password="), "{name}: {out}");
    }
    // The scanner alone: an apostrophe inside a word does not end the value.
    let r = Redactor::default();
    assert_eq!(r.redact("password=It's fine"), "password=[REDACTED] fine");
}

#[test]
fn blanks_before_the_separator() {
    let r = Redactor::default();
    for line in [
        "password\t= hunter2",
        "password   = hunter2",
        "password \t =\t hunter2",
        "password\\t= hunter2",
        "password:\t\thunter2",
    ] {
        let out = r.redact(line);
        assert!(!out.contains("hunter2"), "{line:?} -> {out:?}");
        assert!(out.starts_with("password"), "{out:?}");
    }
}

#[test]
fn json_escaped_key_names() {
    let r = Redactor::default();
    assert_eq!(
        r.redact(r#"{"pass\u0077ord": "x", "user": "ada"}"#),
        r#"{"pass\u0077ord": "[REDACTED]", "user": "ada"}"#
    );
    assert_eq!(
        r.redact(r#"{"passwor\u0064":"hunter2"}"#),
        r#"{"passwor\u0064":"[REDACTED]"}"#
    );
    assert_eq!(
        r.redact(r#"{\"api_ke\u0079\":\"k-123\"}"#),
        r#"{\"api_ke\u0079\":\"[REDACTED]\"}"#
    );
}

#[test]
fn percent_encoded_separators_in_paths() {
    let r = Redactor::default();
    assert_eq!(
        r.redact("/reset/password%3Dhunter2"),
        "/reset/password%3D[REDACTED]"
    );
    assert_eq!(
        r.redact_uri("/reset/password%3Dhunter2/next"),
        "/reset/password%3D[REDACTED]/next"
    );
    assert_eq!(r.redact("/x/token%3a%20abc123"), "/x/token%3a%20[REDACTED]");
    // Not a key: an encoded URL keeps its `%3A`.
    assert_eq!(
        r.redact("/go/https%3A%2F%2Fexample.com"),
        "/go/https%3A%2F%2Fexample.com"
    );
}

#[test]
fn unquoted_values_end_at_their_terminator() {
    let r = Redactor::default();
    for t in [',', ';', '&', ')', ']', '}', '|', '<', '>'] {
        let line = format!("(password=hunter2{t}user=ada{t})");
        let out = r.redact(&line);
        assert_eq!(
            out,
            format!("(password=[REDACTED]{t}user=ada{t})"),
            "{line}"
        );
    }
}

const NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "apiKey",
    "X-Api-Key",
    "access_token",
    "refresh-token",
    "auth",
    "Authorization",
    "session_id",
    "PHPSESSID",
    "private_key",
    "credentials",
    "cookie",
    "userPassword",
    "db.password",
    "otp",
];

/// A sensitive name as it may be written: plain, one letter JSON-escaped
/// (`\u0077`), or one letter percent-encoded.
fn name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(NAMES),
        0usize..3,
        any::<prop::sample::Index>(),
    )
        .prop_map(|(name, form, at)| {
            let letters: Vec<usize> = name
                .char_indices()
                .filter(|(_, c)| c.is_ascii_alphabetic())
                .map(|(i, _)| i)
                .collect();
            let i = letters[at.index(letters.len())];
            let c = name.as_bytes()[i];
            let esc = match form {
                0 => return name.to_owned(),
                1 => format!("\\u{:04x}", c),
                _ => format!("%{:02X}", c),
            };
            format!("{}{}{}", &name[..i], esc, &name[i + 1..])
        })
}

/// `=` or `:` with any blanks around, or percent-encoded.
fn separator() -> impl Strategy<Value = String> {
    (
        "[ \t]{0,3}",
        prop::sample::select(&["=", ":", "=>", "%3D", "%3A", "%3d", "%3a"][..]),
        "[ \t]{0,3}",
    )
        .prop_map(|(a, s, b)| {
            if s.starts_with('%') {
                s.to_owned()
            } else {
                format!("{a}{s}{b}")
            }
        })
}

/// Quotes around key and value: none, `'`, `"`, JSON-escaped `\"`,
/// doubly escaped `\\\"`, `Debug`-escaped `\'`.
const QUOTES: &[&str] = &["", "'", "\"", "\\\"", "\\\\\\\"", "\\'"];

const TERMINATORS: &[&str] = &[
    "", " ", ",", ";", "&", ")", "]", "}", "|", "<", ">", " next=1",
];

fn noise() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-z]{1,8}",
            "[0-9]{1,4}",
            Just(" ".to_owned()),
            Just("user=ada".to_owned())
        ],
        0..5,
    )
    .prop_map(|v| v.join(" "))
}

fn planted() -> impl Strategy<Value = (String, String)> {
    (
        noise(),
        name(),
        separator(),
        prop::sample::select(QUOTES),
        "S3cr3t[A-Za-z0-9]{4,10}",
        prop::sample::select(TERMINATORS),
        noise(),
    )
        .prop_map(|(before, name, sep, q, secret, term, after)| {
            let line = format!("{before} {q}{name}{q}{sep}{q}{secret}{q}{term}{after}");
            (line, secret)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn planted_secret_never_survives_the_redactor((line, secret) in planted()) {
        let out = Redactor::default().redact(&line).into_owned();
        prop_assert!(!out.contains(&secret), "{:?} -> {:?}", line, out);
        let out = through_writer(&line);
        prop_assert!(!out.contains(&secret), "writer: {:?} -> {:?}", line, out);
    }

    #[test]
    fn planted_secret_never_survives_the_formatters((line, secret) in planted()) {
        let log = || {
            tracing::info!("{}", line);
            tracing::info!(note = %line, "logged");
            tracing::info!(note = ?line, "logged");
            tracing::info!(password = %secret, "login {}", line);
        };
        let json = capture_json(log);
        prop_assert!(!json.contains(&secret), "json: {:?} -> {}", line, json);
        let text = capture_text(log);
        prop_assert!(!text.contains(&secret), "text: {:?} -> {}", line, text);
    }
}
