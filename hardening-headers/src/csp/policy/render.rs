//! Rendering a [`ContentSecurityPolicy`]: the header text with the nonce
//! offsets and the HTTPS-only suffix, and `Display`.

use std::fmt::{self, Write as _};

use super::super::strict;
use super::super::{Directive, Source};
use super::validate::check;
use super::{ContentSecurityPolicy, Value};
use crate::error::ConfigError;

impl ContentSecurityPolicy {
    /// Validates and renders the policy. With `nonce`, the nonce source goes
    /// into `script-src` and `style-src` (created from `default-src` when
    /// absent) and into `script-src-elem`/`style-src-elem` when present; the
    /// returned offsets say where.
    pub(crate) fn render(
        &self,
        header: &'static str,
        nonce: bool,
    ) -> Result<Rendered, ConfigError> {
        let rendered = self.render_fallback(header, nonce)?;
        if let Some(strictness) = self.strict {
            strict::check(self, strictness, nonce)?;
        }
        Ok(rendered)
    }

    /// [`render`](Self::render) without the strict-policy checks: for the
    /// nonce-less fallback value the layer keeps beside a nonced policy
    /// (checked with the nonce, never expected to be sent).
    pub(crate) fn render_fallback(
        &self,
        header: &'static str,
        nonce: bool,
    ) -> Result<Rendered, ConfigError> {
        if self.directives.is_empty() {
            return Err(ConfigError::EmptyPolicy { header });
        }
        for (directive, value) in &self.directives {
            check(*directive, value)?;
        }

        let mut out = Rendered::default();
        let takes_nonce = |d: Directive| {
            nonce
                && matches!(
                    d,
                    Directive::ScriptSrc
                        | Directive::ScriptSrcElem
                        | Directive::StyleSrc
                        | Directive::StyleSrcElem
                )
        };
        let https_only =
            |d: Directive| matches!(d, Directive::ReportTo | Directive::UpgradeInsecureRequests);
        for (directive, value) in &self.directives {
            if !https_only(*directive) {
                write_directive(&mut out, *directive, value, takes_nonce(*directive));
            }
        }
        if nonce {
            let fallback = Value::Sources(
                self.sources_of(Directive::DefaultSrc)
                    .unwrap_or_default()
                    .to_vec(),
            );
            for directive in [Directive::ScriptSrc, Directive::StyleSrc] {
                if !self.contains(directive) {
                    write_directive(&mut out, directive, &fallback, true);
                }
            }
        }
        // HTTPS only, and so rendered last: `report-to` (Chromium delivers
        // Reporting API reports only for responses that came over HTTPS, and
        // while `report-to` is present it ignores `report-uri`, so over plain
        // HTTP the directive would silence reporting), then
        // `upgrade-insecure-requests`.
        let before = out.text.len();
        for (directive, value) in &self.directives {
            if *directive == Directive::ReportTo {
                write_directive(&mut out, *directive, value, false);
            }
        }
        if self.contains(Directive::UpgradeInsecureRequests) {
            write_directive(
                &mut out,
                Directive::UpgradeInsecureRequests,
                &Value::Flag,
                false,
            );
        }
        out.https_only_suffix = out.text.len() - before;
        Ok(out)
    }
}

fn write_directive(out: &mut Rendered, directive: Directive, value: &Value, with_nonce: bool) {
    if !out.text.is_empty() {
        out.text.push_str("; ");
    }
    out.text.push_str(directive.as_str());
    match value {
        Value::Flag => {
            if directive == Directive::RequireTrustedTypesFor {
                out.text.push_str(" 'script'");
            }
        }
        Value::Tokens(tokens) => {
            for token in tokens {
                out.text.push(' ');
                out.text.push_str(token);
            }
        }
        Value::Sources(sources) => {
            let only_none = sources.iter().all(Source::is_none);
            if only_none && !with_nonce {
                out.text.push_str(" 'none'");
            }
            if !only_none {
                for source in sources {
                    // infallible: writing to a String
                    let _ = write!(out.text, " {source}");
                }
            }
            if with_nonce {
                out.text.push(' ');
                out.nonce_at.push(out.text.len());
            }
        }
    }
}

/// A rendered policy: the text and, with a nonce, the byte offsets where the
/// nonce source (`'nonce-…'`) goes. `upgrade-insecure-requests` is always
/// rendered last, so the plain-HTTP variant is a prefix of the text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) nonce_at: Vec<usize>,
    /// How many bytes at the end (`; upgrade-insecure-requests`) are only
    /// sent to HTTPS requests.
    pub(crate) https_only_suffix: usize,
}

pub(super) fn render_value(value: &Value) -> String {
    match value {
        Value::Sources(s) => s
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        Value::Tokens(t) => t.join(" "),
        Value::Flag => String::new(),
    }
}

impl fmt::Display for ContentSecurityPolicy {
    /// The directives in the order they were set, without validation (use
    /// [`to_header_value`](Self::to_header_value) for the value as sent).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (directive, value)) in self.directives.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(directive.as_str())?;
            let rendered = match value {
                Value::Flag if *directive == Directive::RequireTrustedTypesFor => {
                    "'script'".to_owned()
                }
                Value::Sources(s) if s.is_empty() => "'none'".to_owned(),
                other => render_value(other),
            };
            if !rendered.is_empty() {
                write!(f, " {rendered}")?;
            }
        }
        Ok(())
    }
}
