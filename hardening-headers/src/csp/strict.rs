//! What keeps a strict policy strict: the checks behind
//! [`ContentSecurityPolicy::strict_nonce`] and
//! [`ContentSecurityPolicy::strict_hash`].
//!
//! The strict-CSP recipe trusts scripts by nonce or hash only, with
//! `'strict-dynamic'` so that those scripts may load others. Its `https:` and
//! `'unsafe-inline'` sources are fallbacks for browsers that predate CSP 3 or
//! CSP 2, which every current browser ignores because of the nonce or hash and
//! `'strict-dynamic'`. Changing one piece can silently turn a fallback into
//! the policy: these checks refuse such a change, naming the directive.

use super::{ContentSecurityPolicy, Directive, Source};
use crate::error::ConfigError;

/// Which strict preset a policy started from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// `strict_nonce()`: scripts carry the per-request nonce.
    Nonce,
    /// `strict_hash()`: inline scripts are allowed by their hashes.
    Hash,
}

/// Checks a strict policy as it will be sent: `with_nonce` says whether the
/// layer adds the per-request nonce to `script-src` (and `script-src-elem`).
pub(crate) fn check(
    csp: &ContentSecurityPolicy,
    strictness: Strictness,
    with_nonce: bool,
) -> Result<(), ConfigError> {
    let weakens = |directive: Directive, reason: &'static str| ConfigError::WeakensStrictPolicy {
        directive: directive.as_str().to_owned(),
        reason,
    };
    let only_none = |sources: &[Source]| sources.iter().all(Source::is_none);

    let object_src = csp
        .sources_of(Directive::ObjectSrc)
        .or_else(|| csp.sources_of(Directive::DefaultSrc));
    if !object_src.is_some_and(only_none) {
        return Err(weakens(
            Directive::ObjectSrc,
            "a strict policy needs object-src 'none': plugin content can run script",
        ));
    }
    let base_uri_ok = csp
        .sources_of(Directive::BaseUri)
        .is_some_and(|s| only_none(s) || matches!(s, [only] if only.is_self()));
    if !base_uri_ok {
        return Err(weakens(
            Directive::BaseUri,
            "a strict policy needs base-uri 'none' or 'self': an injected <base> makes nonced and hashed scripts load from the attacker's host",
        ));
    }

    for directive in [Directive::ScriptSrc, Directive::ScriptSrcElem] {
        let Some(sources) = csp.sources_of(directive) else {
            if directive == Directive::ScriptSrc {
                return Err(weakens(
                    directive,
                    "a strict policy needs script-src (default-src would decide alone)",
                ));
            }
            continue;
        };
        let trusts_inline = with_nonce || sources.iter().any(Source::is_hash);
        if !trusts_inline {
            return Err(weakens(
                directive,
                match strictness {
                    Strictness::Nonce => {
                        "strict_nonce() needs the per-request nonce: enable csp_nonce() on the layer (without it 'unsafe-inline' would be in force)"
                    }
                    Strictness::Hash => {
                        "strict_hash() needs the hash of each inline script: add them with script_hash() (without one 'unsafe-inline' would be in force)"
                    }
                },
            ));
        }
        if sources.contains(&Source::UNSAFE_EVAL) {
            return Err(weakens(
                directive,
                "'unsafe-eval' lets injected strings run as script",
            ));
        }
        if !sources.contains(&Source::STRICT_DYNAMIC) && sources.iter().any(Source::is_allowlist) {
            return Err(weakens(
                directive,
                "a host, scheme or 'self' allowlist without 'strict-dynamic' can be bypassed (JSONP endpoints, script gadgets, uploads); keep 'strict-dynamic'",
            ));
        }
    }

    if let Some(sources) = csp.sources_of(Directive::ScriptSrcAttr) {
        let ok = sources.iter().all(|s| {
            s.is_none() || s.is_hash() || *s == Source::UNSAFE_HASHES || *s == Source::REPORT_SAMPLE
        });
        if !ok {
            return Err(weakens(
                Directive::ScriptSrcAttr,
                "inline event handlers may only be allowed by hash (with 'unsafe-hashes') in a strict policy",
            ));
        }
    }
    Ok(())
}
