//! Property tests: redaction is idempotent, and a planted secret never
//! survives, whatever surrounds it.

use hardening_redact::Redactor;
use proptest::prelude::*;

/// `(prefix, secret, suffix)`: the line is `prefix + secret + suffix`.
const PLANTS: &[(&str, &str, &str)] = &[
    ("password=", "Hunter2xyz", ""),
    ("\"password\": \"", "p4ss w0rd", "\""),
    ("Authorization: Bearer ", "tok3nTOKEN0123456789", ""),
    ("Authorization: Basic ", "dXNlcjpodW50ZXIy", ""),
    ("", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", ""),
    ("", "AKIAIOSFODNN7EXAMPLE", ""),
    ("", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", ""),
    ("", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", ""),
    ("", "xoxb-2048256831-4923617520-aBcDeFgHiJkLmNoPqRsTuVwX", ""),
    ("postgres://app:", "s3cr3tPW", "@db:5432/app"),
    ("/cb?page=2&access_token=", "qTok3n99", "&x=1"),
    ("api_key=", "ak-live-0042", ""),
    ("", "4111 1111 1111 1111", ""),
    ("-----BEGIN EC PRIVATE KEY-----\n", "MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oqfKQv", "\n-----END EC PRIVATE KEY-----"),
];

/// Random log-ish text: words, numbers, punctuation, sometimes keywords.
fn noise() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-zA-Z]{1,10}",
            "[0-9]{1,6}",
            "[ =:,;.{}\\[\\]/?&_\"'-]{1,3}",
            Just("token".to_owned()),
            Just("author".to_owned()),
            Just("Bearer".to_owned()),
            Just("https://".to_owned()),
            Just("ünï ✓".to_owned()),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn redaction_is_idempotent(text in noise(), plant in 0..PLANTS.len(), with_plant: bool, tail in noise()) {
        let r = Redactor::default();
        let (pre, secret, post) = PLANTS[plant];
        let line = if with_plant {
            format!("{text} {pre}{secret}{post} {tail}")
        } else {
            format!("{text}{tail}")
        };
        let once = r.redact(&line).into_owned();
        let twice = r.redact(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str());
    }

    #[test]
    fn planted_secret_never_survives(before in noise(), plant in 0..PLANTS.len(), after in noise()) {
        let r = Redactor::default();
        let (pre, secret, post) = PLANTS[plant];
        let line = format!("{before} {pre}{secret}{post} {after}");
        let out = r.redact(&line);
        prop_assert!(!out.contains(secret), "{:?} -> {:?}", line, out);
    }

    #[test]
    fn arbitrary_input_never_panics(text in ".{0,300}") {
        let r = Redactor::default();
        let _ = r.redact(&text);
        let _ = r.redact_uri(&text);
    }
}
