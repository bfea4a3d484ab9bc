//! No secret ever reaches a log line.
//!
//! `hardening-redact` keeps passwords, tokens, API keys, session cookies,
//! private keys and card numbers out of logs — even when code logs a whole
//! request carelessly. tower-http's `SetSensitiveHeaders` only hides header
//! values from `Debug`; URIs with `?token=`, `tracing` fields and message
//! text still leak. This crate covers all of them:
//!
//! - [`Redactor`]: a compiled, cheaply cloneable scanner.
//!   [`redact`](Redactor::redact) returns `Cow::Borrowed` without allocating
//!   when the text is clean; [`redact_field`](Redactor::redact_field) judges
//!   a value by its field name first; [`redact_uri`](Redactor::redact_uri)
//!   masks sensitive query parameters. Replacement is `[REDACTED]`, or with a
//!   fingerprint key `[REDACTED:ab12cd34]` (keyed HMAC-SHA256) so the same
//!   secret can be correlated across lines without being revealed.
//! - [`fmt`] (feature `tracing`, on by default): a redacting event formatter
//!   for `tracing-subscriber`'s fmt layer (text and JSON), a field formatter
//!   that redacts by field name, and a `MakeWriter` scrub for any output.
//! - [`headers`] and [`trace`] (feature `http`): a layer marking
//!   `Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`, ... sensitive on
//!   requests and responses, and a `MakeSpan` for tower-http's `TraceLayer`
//!   that records a redacted URI and only allowlisted headers.
//! - [`Secret<T>`]: prints `[REDACTED]` in `Debug` and `Display` (and
//!   serializes so with the `serde` feature).
//!
//! # Example
//!
//! ```
//! use hardening_redact::Redactor;
//!
//! let redactor = Redactor::default();
//! let line = r#"POST /login?next=/home&token=abc123 {"user":"ada","password":"hunter2"} Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz"#;
//! assert_eq!(
//!     redactor.redact(line),
//!     r#"POST /login?next=/home&token=[REDACTED] {"user":"ada","password":"[REDACTED]"} Authorization: [REDACTED]"#,
//! );
//! ```
//!
//! # Logging setup
//!
//! Two lines around the usual `tracing-subscriber` builder:
//!
//! ```no_run
//! use hardening_redact::fmt::{RedactingFormat, RedactingMakeWriter};
//! use hardening_redact::Redactor;
//!
//! let redactor = Redactor::default();
//! tracing_subscriber::fmt()
//!     .json()
//!     .map_event_format(|f| RedactingFormat::new(redactor.clone(), f))
//!     .with_writer(RedactingMakeWriter::new(redactor, std::io::stdout))
//!     .init();
//! ```
//!
//! For text output add `.fmt_fields(RedactingFields::new(redactor.clone()))`
//! so fields with sensitive names print `name=[REDACTED]` whatever their
//! value contains. With the `http` feature, request spans:
//!
//! ```
//! # #[cfg(feature = "http")] {
//! use hardening_redact::{headers::SensitiveHeadersLayer, trace::RedactedMakeSpan, Redactor};
//! use tower::ServiceBuilder;
//! use tower_http::trace::TraceLayer;
//!
//! let layers = ServiceBuilder::new()
//!     .layer(SensitiveHeadersLayer::new())
//!     .layer(TraceLayer::new_for_http().make_span_with(RedactedMakeSpan::new(Redactor::default())));
//! # let _ = layers; }
//! ```
//!
//! # What is redacted
//!
//! **Values of sensitive fields.** Names are matched case-insensitively
//! after splitting them into words (at punctuation, camelCase humps and
//! letter/digit changes, after percent-decoding): a name is sensitive when,
//! after dropping trailing qualifier words (`id`, `value`, `hash`,
//! `confirmation`, `key`, ...), its letters **end with** a keyword:
//! password, passwd, passphrase, pwd, secret, token, api_key, access_key,
//! auth, authorization, credential(s), cookie(s), session, sessid,
//! private_key, bearer, otp, ssn, card_number, card_no, cc_number,
//! credit_card, cvv, cvc, signature, sig. So `userPassword`, `X-Api-Key`,
//! `access_token`, `session_id`, `PHPSESSID` and `password_confirmation`
//! are sensitive, while `author`, `authentic`, `tokenizer`, `cookiecutter`,
//! `max_tokens` and `token_count` are not. The keyword list is configurable
//! ([`RedactorBuilder::sensitive_field`],
//! [`RedactorBuilder::remove_sensitive_field`]). In free text this applies
//! to `key=value`, `key: value`, `"key": "value"`, `key => value` and
//! `\"key\":\"value\"` pairs, with quoted, `{...}`/`[...]` and
//! `Bearer <token>` values taken whole.
//!
//! **Value patterns** ([`Pattern`], each can be disabled): `Bearer`/`Basic`
//! credentials, JWTs, AWS access key ids, GitHub tokens (`ghp_`, `gho_`,
//! `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Stripe keys, Slack tokens and
//! webhook URLs, PEM private-key blocks, URL userinfo
//! (`scheme://user:password@`), sensitive query parameters in any URL
//! (names percent-decoded; percent-encoded URLs nested in values are
//! decoded and scanned), and card numbers with a known issuer prefix that
//! pass the Luhn check. Custom regexes can be added
//! ([`RedactorBuilder::pattern`]).
//!
//! **Not redacted:** UUIDs, git SHAs, hex ids, timestamps, numbers that fail
//! the issuer or Luhn check, prose mentioning "bearer" or "basic", words
//! that merely contain a keyword.
//!
//! **Limits.** A scanner only sees structure: a secret with no recognisable
//! shape after an unquoted `key=` in text stops at the first space (the
//! formatter redacts whole field values by name, and removes them from the
//! message too); `password hunter2` without a separator is not caught; an
//! AWS *secret* access key is only caught by its field name.
//!
//! # Performance
//!
//! Clean text is scanned in three cheap passes: a SIMD multi-literal search
//! (Aho-Corasick "Teddy") for the anchors of prefixed tokens, a SWAR pass
//! over `=` and `:` that checks the last three letters of the key before
//! anything else, and a card-number skip-scan that reads every 13th byte.
//! Regexes run only for custom patterns. See `benches/benches/redact.rs`.
//!
//! # Features
//!
//! - `tracing` (default): the [`fmt`] module (`tracing-subscriber` with
//!   `fmt`). Default because logging is what this crate is for.
//! - `http`: [`headers`] and [`trace`] (`http`, `tower-layer`,
//!   `tower-service`, `tower-http` with `trace`).
//! - `serde`: `Deserialize`/`Serialize` for [`Secret`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod error;
#[cfg(feature = "tracing")]
pub mod fmt;
#[cfg(feature = "http")]
pub mod headers;
mod pattern;
mod redactor;
mod scan;
mod secret;
#[cfg(feature = "http")]
pub mod trace;
#[doc(hidden)]
pub mod work;

pub use error::ConfigError;
pub use pattern::Pattern;
pub use redactor::{Redactor, RedactorBuilder, REDACTED};
pub use secret::Secret;
pub use work::MAX_STEPS_PER_BYTE;
