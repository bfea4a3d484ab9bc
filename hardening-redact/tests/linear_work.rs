//! Redaction work is linear in the input: hostile text (nested percent
//! encodings, repeated separators, anchors inside anchors) never costs more
//! than `MAX_STEPS_PER_BYTE` steps per byte, and never panics.
#![cfg(debug_assertions)]

use hardening_redact::work::measure;
use hardening_redact::{Redactor, MAX_STEPS_PER_BYTE};
use proptest::prelude::*;

/// The path from issue 11: 3,601 bytes took over a minute before the fix.
fn issue_path() -> String {
    let unit = "%3A%2F%2F%253A%252F%252F%25253A%25252F%25252F";
    let mut path = String::from("/");
    while path.len() < 3601 {
        path.push_str(unit);
    }
    path.truncate(3601);
    path
}

fn assert_linear(r: &Redactor, text: &str) {
    let bound = MAX_STEPS_PER_BYTE * (text.len() as u64 + 1);
    let (_, steps) = measure(|| r.redact(text).len());
    assert!(
        steps <= bound,
        "redact: {steps} steps for {} bytes (bound {bound}): {text:?}",
        text.len()
    );
    let (_, steps) = measure(|| r.redact_uri(text).len());
    assert!(
        steps <= bound,
        "redact_uri: {steps} steps for {} bytes (bound {bound}): {text:?}",
        text.len()
    );
}

#[test]
fn issue_path_is_linear_and_fast() {
    let r = Redactor::default();
    let path = issue_path();
    assert_eq!(path.len(), 3601);
    let (out, steps) = measure(|| r.redact_uri(&path).into_owned());
    assert!(
        steps <= MAX_STEPS_PER_BYTE * (path.len() as u64 + 1),
        "{steps} steps for {} bytes",
        path.len()
    );
    // Nothing secret in it: the path comes back unchanged.
    assert_eq!(out, path);
    // A generous wall-clock bound even for a debug build (it took > 60 s).
    let t = std::time::Instant::now();
    for _ in 0..10 {
        let _ = r.redact_uri(&path);
        let _ = r.redact(&path);
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn doubling_the_input_doubles_the_work() {
    let r = Redactor::default();
    let unit = "%3A%2F%2F%253A%252F%252F%25253A%25252F%25252F";
    let steps = |k: usize| measure(|| r.redact_uri(&unit.repeat(k)).len()).1;
    let (small, large) = (steps(40), steps(80));
    assert!(large <= 2 * small + 1000, "{small} -> {large}");
}

#[test]
fn overlapping_walks_are_linear() {
    let r = Redactor::default();
    for unit in [
        "password=",
        "password%3D",
        "password: ",
        "token={",
        "token=\\\\\"",
        "session=\"",
        "cookie=a",
        "xoxb-a-",
        "whsec_+",
        "http://hooks.slack.com/services/",
        "-----BEGIN RSA PRIVATE KEY-----",
        "Authorization: Bearer a",
        "a://b:c@",
        "eyJhbGciOiJIUzI1NiJ9.",
        "4111 ",
        "\"pass\\u0077ord\":",
        "_______",
        "\\t=",
        "%25%3A%2F%2F",
    ] {
        let text = unit.repeat(4000 / unit.len());
        assert_linear(&r, &text);
    }
}

/// Fragments an attacker strings together.
fn hostile() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("%3A%2F%2F".to_owned()),
            Just("%253A%252F%252F".to_owned()),
            Just("%25253A%25252F%25252F".to_owned()),
            Just("%3a%2f%2f".to_owned()),
            Just("://".to_owned()),
            Just("%25".to_owned()),
            Just("%3D".to_owned()),
            Just("%3A".to_owned()),
            Just("=".to_owned()),
            Just(":".to_owned()),
            Just("\"".to_owned()),
            Just("'".to_owned()),
            Just("\\".to_owned()),
            Just("\\\"".to_owned()),
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("?".to_owned()),
            Just("&".to_owned()),
            Just(" ".to_owned()),
            Just("password".to_owned()),
            Just("token".to_owned()),
            Just("cookie".to_owned()),
            Just("Bearer ".to_owned()),
            Just("https".to_owned()),
            Just("@".to_owned()),
            Just("eyJ".to_owned()),
            Just("xoxb-".to_owned()),
            Just("-----BEGIN PRIVATE KEY-----".to_owned()),
            Just("4111".to_owned()),
            "[a-z0-9]{1,4}",
            any::<u8>().prop_map(|b| char::from(b).to_string()),
            ".{1,3}",
        ],
        0..400,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_text_stays_within_the_step_bound(text in hostile()) {
        let r = Redactor::default();
        assert_linear(&r, &text);
    }

    #[test]
    fn repeated_hostile_units_stay_within_the_step_bound(unit in hostile(), times in 1usize..200) {
        let r = Redactor::default();
        let text = unit.repeat(times);
        let mut cut = text.len().min(8000);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = &text[..cut];
        assert_linear(&r, text);
    }

    #[test]
    fn arbitrary_bytes_stay_within_the_step_bound(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let r = Redactor::default();
        let text = String::from_utf8_lossy(&bytes);
        assert_linear(&r, &text);
    }
}
