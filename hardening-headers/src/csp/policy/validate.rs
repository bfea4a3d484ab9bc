//! Per-directive validation of a [`ContentSecurityPolicy`], run when it is
//! rendered.

use super::super::directive::{Kind, SANDBOX_FLAGS};
use super::super::{Directive, Source};
use super::render::render_value;
use super::Value;
use crate::error::ConfigError;

pub(super) fn check(directive: Directive, value: &Value) -> Result<(), ConfigError> {
    let kind = directive.kind();
    let invalid = |value: &str, reason: &'static str| ConfigError::InvalidDirectiveValue {
        directive: directive.as_str().to_owned(),
        value: value.to_owned(),
        reason,
    };
    match (kind, value) {
        (Kind::Sources, Value::Sources(sources)) => {
            for source in sources {
                source.check(directive)?;
            }
            if sources.len() > 1 && sources.iter().any(Source::is_none) {
                return Err(ConfigError::NoneWithOtherSources {
                    directive: directive.as_str().to_owned(),
                });
            }
            Ok(())
        }
        (Kind::SandboxFlags, Value::Tokens(flags)) => {
            for flag in flags {
                if !SANDBOX_FLAGS.iter().any(|f| f.eq_ignore_ascii_case(flag)) {
                    return Err(invalid(flag, "not a sandbox flag such as allow-scripts"));
                }
            }
            Ok(())
        }
        (Kind::Uris, Value::Tokens(uris)) => {
            if uris.is_empty() {
                return Err(invalid("", "needs at least one URI"));
            }
            for uri in uris {
                check_report_uri(uri)
                    .map_err(|reason| invalid(uri, reason))?;
            }
            Ok(())
        }
        (Kind::EndpointName, Value::Tokens(names)) => match names.as_slice() {
            [name] if is_sf_key(name) => Ok(()),
            [name] => Err(invalid(
                name,
                "an endpoint name starts with a lowercase letter or `*` and holds lowercase letters, digits, `_`, `-`, `.`, `*`",
            )),
            _ => Err(invalid(&names.join(" "), "takes exactly one endpoint name")),
        },
        (Kind::Flag | Kind::TrustedTypesSinks, Value::Flag) => Ok(()),
        (Kind::TrustedTypesPolicies, Value::Tokens(policies)) => {
            for policy in policies {
                let keyword = ["'none'", "'allow-duplicates'", "*"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(policy));
                let name = !policy.is_empty()
                    && policy.bytes().all(|b| {
                        b.is_ascii_alphanumeric()
                            || matches!(b, b'-' | b'#' | b'=' | b'_' | b'/' | b'@' | b'.' | b'%')
                    });
                if !keyword && !name {
                    return Err(invalid(policy, "not a Trusted Types policy name"));
                }
            }
            Ok(())
        }
        (_, value) => Err(invalid(&render_value(value), kind.setter())),
    }
}

/// A structured-field key (RFC 8941): what `Reporting-Endpoints` names are.
pub(crate) fn is_sf_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'*')
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
        })
}

/// An absolute `http(s)` URL or an absolute path, free of the characters CSP
/// and structured headers reserve.
pub(crate) fn check_report_uri(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty()
        || !uri
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\'' | b'\\'))
    {
        return Err("a URI holds visible ASCII only, without `;`, `,`, quotes or backslashes");
    }
    let parsed: http::Uri = uri.parse().map_err(|_| "not a URI")?;
    match parsed.scheme_str() {
        Some("https" | "http") if parsed.host().is_some() => Ok(()),
        Some(_) => Err("an absolute report URI must be http(s) with a host"),
        None if uri.starts_with('/') && !uri.starts_with("//") => Ok(()),
        None => Err("expected an absolute URL or an absolute path such as /csp-reports"),
    }
}
