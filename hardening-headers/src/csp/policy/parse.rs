//! Parsing a policy string into a [`ContentSecurityPolicy`] (validated at
//! once).

use std::borrow::Cow;
use std::str::FromStr;

use super::super::directive::Kind;
use super::super::{Directive, Source};
use super::{ContentSecurityPolicy, Value};
use crate::error::ConfigError;

impl FromStr for ContentSecurityPolicy {
    type Err = ConfigError;

    /// Parses and validates a policy such as
    /// `"default-src 'self'; img-src 'self' data:"`.
    ///
    /// Directive names are matched ignoring case; an unknown or repeated
    /// directive is an error (browsers would silently ignore it).
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let mut csp = ContentSecurityPolicy::new();
        for part in s.split(';') {
            let mut tokens = part.split_ascii_whitespace();
            let Some(name) = tokens.next() else {
                continue;
            };
            let directive =
                Directive::from_name(name).ok_or_else(|| ConfigError::UnknownDirective {
                    name: name.to_owned(),
                })?;
            if csp.contains(directive) {
                return Err(ConfigError::DuplicateDirective {
                    directive: directive.as_str().to_owned(),
                });
            }
            let invalid = |value: &str, reason| ConfigError::InvalidDirectiveValue {
                directive: directive.as_str().to_owned(),
                value: value.to_owned(),
                reason,
            };
            let value = match directive.kind() {
                Kind::Sources => {
                    let mut sources = tokens
                        .map(|t| Source::parse_token(directive, t))
                        .collect::<Result<Vec<_>, _>>()?;
                    if sources.is_empty() {
                        // an empty source list matches nothing, like 'none'
                        sources.push(Source::NONE);
                    }
                    Value::Sources(sources)
                }
                Kind::Flag => match tokens.next() {
                    Some(extra) => return Err(invalid(extra, "takes no value")),
                    None => Value::Flag,
                },
                Kind::TrustedTypesSinks => {
                    let rest: Vec<&str> = tokens.collect();
                    if rest.len() != 1 || !rest[0].eq_ignore_ascii_case("'script'") {
                        return Err(invalid(&rest.join(" "), "takes exactly 'script'"));
                    }
                    Value::Flag
                }
                Kind::SandboxFlags
                | Kind::Uris
                | Kind::EndpointName
                | Kind::TrustedTypesPolicies => {
                    Value::Tokens(tokens.map(|t| Cow::Owned(t.to_owned())).collect())
                }
            };
            csp.directives.push((directive, value));
        }
        csp.render("content-security-policy", false)?;
        Ok(csp)
    }
}
