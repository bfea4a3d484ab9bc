//! The chained setters of [`ContentSecurityPolicy`]: one per directive,
//! plus `sources`, `add_source`, the hash helpers and `remove`.

use std::borrow::Cow;

use super::super::{Directive, HashAlgorithm, Source};
use super::{ContentSecurityPolicy, Value};

macro_rules! source_setters {
    ($($(#[$doc:meta])* $method:ident => $directive:ident;)*) => {
        $(
            $(#[$doc])*
            ///
            /// Replaces the directive if it was set. An empty list renders
            /// as `'none'`.
            pub fn $method(self, sources: impl IntoIterator<Item = Source>) -> Self {
                self.sources(Directive::$directive, sources)
            }
        )*
    };
}

impl ContentSecurityPolicy {
    /// Adds the hash of an inline script to `script-src`, computed now with
    /// `algorithm` over exactly the script's text (what is between
    /// `<script>` and `</script>`).
    pub fn script_hash(self, algorithm: HashAlgorithm, script: impl AsRef<[u8]>) -> Self {
        self.add_source(Directive::ScriptSrc, Source::hash_of(algorithm, script))
    }

    /// Adds the hash of an inline `<style>` element's text to `style-src`,
    /// computed now.
    pub fn style_hash(self, algorithm: HashAlgorithm, style: impl AsRef<[u8]>) -> Self {
        self.add_source(Directive::StyleSrc, Source::hash_of(algorithm, style))
    }

    /// Sets `directive` to `sources`, replacing it if it was set.
    ///
    /// Only source-list directives (`*-src`, `base-uri`, `form-action`,
    /// `frame-ancestors`) take sources; anything else fails when rendered.
    pub fn sources(self, directive: Directive, sources: impl IntoIterator<Item = Source>) -> Self {
        self.set(directive, Value::Sources(sources.into_iter().collect()))
    }

    /// Adds one source to `directive`, creating the directive if needed.
    pub fn add_source(mut self, directive: Directive, source: Source) -> Self {
        match self.directives.iter_mut().find(|(d, _)| *d == directive) {
            Some((_, Value::Sources(list))) => list.push(source),
            Some((_, value)) => *value = Value::Sources(vec![source]),
            None => self
                .directives
                .push((directive, Value::Sources(vec![source]))),
        }
        self
    }

    source_setters! {
        /// `default-src`.
        default_src => DefaultSrc;
        /// `script-src`.
        script_src => ScriptSrc;
        /// `script-src-elem`.
        script_src_elem => ScriptSrcElem;
        /// `script-src-attr`.
        script_src_attr => ScriptSrcAttr;
        /// `style-src`.
        style_src => StyleSrc;
        /// `style-src-elem`.
        style_src_elem => StyleSrcElem;
        /// `style-src-attr`.
        style_src_attr => StyleSrcAttr;
        /// `img-src`.
        img_src => ImgSrc;
        /// `font-src`.
        font_src => FontSrc;
        /// `connect-src`.
        connect_src => ConnectSrc;
        /// `media-src`.
        media_src => MediaSrc;
        /// `object-src`.
        object_src => ObjectSrc;
        /// `frame-src`.
        frame_src => FrameSrc;
        /// `child-src`.
        child_src => ChildSrc;
        /// `worker-src`.
        worker_src => WorkerSrc;
        /// `manifest-src`.
        manifest_src => ManifestSrc;
        /// `fenced-frame-src`.
        fenced_frame_src => FencedFrameSrc;
        /// `base-uri`.
        base_uri => BaseUri;
        /// `form-action`.
        form_action => FormAction;
        /// `frame-ancestors`. Keep `X-Frame-Options` in step: the layer
        /// derives it from this directive unless you set it yourself.
        frame_ancestors => FrameAncestors;
    }

    /// `sandbox` with the given flags (`"allow-scripts"`, `"allow-forms"`, …);
    /// no flags is the strictest sandbox.
    pub fn sandbox<I, S>(self, flags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.set(
            Directive::Sandbox,
            Value::Tokens(flags.into_iter().map(Into::into).collect()),
        )
    }

    /// `report-uri`: absolute `http(s)` URLs or absolute paths that receive
    /// violation reports as `application/csp-report` POSTs. Browsers that
    /// support `report-to` ignore it when both are present.
    pub fn report_uri<I, S>(self, uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.set(
            Directive::ReportUri,
            Value::Tokens(uris.into_iter().map(Into::into).collect()),
        )
    }

    /// `report-to`: the name of an endpoint declared with
    /// [`SecurityHeadersBuilder::reporting_endpoint`](crate::SecurityHeadersBuilder::reporting_endpoint),
    /// which sends the matching `Reporting-Endpoints` header.
    ///
    /// Like `upgrade-insecure-requests`, it is rendered at the end and sent
    /// only on responses to HTTPS requests: Chromium delivers Reporting API
    /// reports only for pages that came over HTTPS, and while `report-to` is
    /// present it ignores `report-uri`. Over plain HTTP (local development)
    /// a `report-uri` set beside it therefore still gets the reports.
    pub fn report_to(self, endpoint: impl Into<Cow<'static, str>>) -> Self {
        self.set(Directive::ReportTo, Value::Tokens(vec![endpoint.into()]))
    }

    /// `upgrade-insecure-requests`.
    ///
    /// Browsers then fetch every `http:` subresource of the page, and
    /// same-origin navigations, over HTTPS. It is always rendered as the last
    /// directive, and the layer sends it only on responses to requests that
    /// arrived over HTTPS (like HSTS): on a page served over plain HTTP (local
    /// development, exempt paths) it would send the page's own links and
    /// subresources to an HTTPS origin that may not exist.
    pub fn upgrade_insecure_requests(self) -> Self {
        self.set(Directive::UpgradeInsecureRequests, Value::Flag)
    }

    /// `require-trusted-types-for 'script'`.
    pub fn require_trusted_types_for_script(self) -> Self {
        self.set(Directive::RequireTrustedTypesFor, Value::Flag)
    }

    /// `trusted-types` with policy names (and optionally `'allow-duplicates'`
    /// or `'none'`).
    pub fn trusted_types<I, S>(self, policies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.set(
            Directive::TrustedTypes,
            Value::Tokens(policies.into_iter().map(Into::into).collect()),
        )
    }

    /// Drops `directive`.
    pub fn remove(mut self, directive: Directive) -> Self {
        self.directives.retain(|(d, _)| *d != directive);
        self
    }

    fn set(mut self, directive: Directive, value: Value) -> Self {
        match self.directives.iter_mut().find(|(d, _)| *d == directive) {
            Some((_, slot)) => *slot = value,
            None => self.directives.push((directive, value)),
        }
        self
    }
}
