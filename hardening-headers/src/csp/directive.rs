//! The directives of a Content-Security-Policy.

use std::fmt;

macro_rules! directives {
    ($($(#[$doc:meta])* $variant:ident => $name:literal, $kind:ident;)*) => {
        /// A Content-Security-Policy directive (CSP Level 3).
        ///
        /// Obsolete directives (`block-all-mixed-content`, `plugin-types`,
        /// `prefetch-src`, `navigate-to`) are deliberately absent.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Directive {
            $($(#[$doc])* $variant,)*
        }

        impl Directive {
            /// Every directive, in a stable order.
            pub const ALL: &'static [Directive] = &[$(Directive::$variant,)*];

            /// The directive's name, e.g. `"script-src"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Directive::$variant => $name,)*
                }
            }

            pub(crate) const fn kind(self) -> Kind {
                match self {
                    $(Directive::$variant => Kind::$kind,)*
                }
            }
        }
    };
}

directives! {
    /// `default-src`: the fallback of every fetch directive.
    DefaultSrc => "default-src", Sources;
    /// `script-src`: scripts (falls back to `default-src`).
    ScriptSrc => "script-src", Sources;
    /// `script-src-elem`: `<script>` elements.
    ScriptSrcElem => "script-src-elem", Sources;
    /// `script-src-attr`: inline event handlers (`onclick=`).
    ScriptSrcAttr => "script-src-attr", Sources;
    /// `style-src`: style sheets (falls back to `default-src`).
    StyleSrc => "style-src", Sources;
    /// `style-src-elem`: `<style>` and `<link rel=stylesheet>`.
    StyleSrcElem => "style-src-elem", Sources;
    /// `style-src-attr`: `style=` attributes.
    StyleSrcAttr => "style-src-attr", Sources;
    /// `img-src`: images and favicons.
    ImgSrc => "img-src", Sources;
    /// `font-src`: web fonts.
    FontSrc => "font-src", Sources;
    /// `connect-src`: `fetch`, XHR, WebSocket, EventSource.
    ConnectSrc => "connect-src", Sources;
    /// `media-src`: `<audio>`, `<video>`, `<track>`.
    MediaSrc => "media-src", Sources;
    /// `object-src`: `<object>` and `<embed>` (set it to `'none'`).
    ObjectSrc => "object-src", Sources;
    /// `frame-src`: what this page may frame.
    FrameSrc => "frame-src", Sources;
    /// `child-src`: frames and workers (fallback of `frame-src`, `worker-src`).
    ChildSrc => "child-src", Sources;
    /// `worker-src`: workers and service workers.
    WorkerSrc => "worker-src", Sources;
    /// `manifest-src`: web app manifests.
    ManifestSrc => "manifest-src", Sources;
    /// `fenced-frame-src`: `<fencedframe>`.
    FencedFrameSrc => "fenced-frame-src", Sources;
    /// `base-uri`: allowed `<base href>` (does not fall back to `default-src`).
    BaseUri => "base-uri", Sources;
    /// `form-action`: where forms may submit (no fallback).
    FormAction => "form-action", Sources;
    /// `frame-ancestors`: who may frame this page (no fallback; the modern
    /// `X-Frame-Options`).
    FrameAncestors => "frame-ancestors", Sources;
    /// `sandbox`: applies an iframe-like sandbox to the page.
    Sandbox => "sandbox", SandboxFlags;
    /// `report-uri`: where to POST violation reports (deprecated in favour of
    /// `report-to`, still the only one some browsers support).
    ReportUri => "report-uri", Uris;
    /// `report-to`: the name of a `Reporting-Endpoints` endpoint.
    ReportTo => "report-to", EndpointName;
    /// `upgrade-insecure-requests`: fetch `http:` subresources over HTTPS.
    UpgradeInsecureRequests => "upgrade-insecure-requests", Flag;
    /// `require-trusted-types-for 'script'`: DOM XSS sinks need Trusted Types.
    RequireTrustedTypesFor => "require-trusted-types-for", TrustedTypesSinks;
    /// `trusted-types`: the Trusted Types policy names the page may create.
    TrustedTypes => "trusted-types", TrustedTypesPolicies;
}

/// What value a directive takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Sources,
    SandboxFlags,
    Uris,
    EndpointName,
    Flag,
    TrustedTypesSinks,
    TrustedTypesPolicies,
}

impl Kind {
    /// How to set a directive of this kind, for error messages.
    pub(crate) const fn setter(self) -> &'static str {
        match self {
            Kind::Sources => "takes source expressions; set it with sources()",
            Kind::SandboxFlags => "takes sandbox flags; set it with sandbox()",
            Kind::Uris => "takes URIs; set it with report_uri()",
            Kind::EndpointName => "takes one endpoint name; set it with report_to()",
            Kind::Flag => "takes no value; set it with upgrade_insecure_requests()",
            Kind::TrustedTypesSinks => {
                "takes 'script'; set it with require_trusted_types_for_script()"
            }
            Kind::TrustedTypesPolicies => "takes policy names; set it with trusted_types()",
        }
    }
}

impl Directive {
    /// Looks a directive up by name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Directive> {
        Directive::ALL
            .iter()
            .copied()
            .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// `default-src`, `script-src*` and `style-src*`: the directives where
    /// `'unsafe-inline'`, `'strict-dynamic'`, hashes and nonces mean something.
    pub(crate) fn is_script_or_style(self) -> bool {
        matches!(
            self,
            Directive::DefaultSrc
                | Directive::ScriptSrc
                | Directive::ScriptSrcElem
                | Directive::ScriptSrcAttr
                | Directive::StyleSrc
                | Directive::StyleSrcElem
                | Directive::StyleSrcAttr
        )
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The flags of the `sandbox` directive.
pub(crate) const SANDBOX_FLAGS: &[&str] = &[
    "allow-downloads",
    "allow-forms",
    "allow-modals",
    "allow-orientation-lock",
    "allow-pointer-lock",
    "allow-popups",
    "allow-popups-to-escape-sandbox",
    "allow-presentation",
    "allow-same-origin",
    "allow-scripts",
    "allow-storage-access-by-user-activation",
    "allow-top-navigation",
    "allow-top-navigation-by-user-activation",
    "allow-top-navigation-to-custom-protocols",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in Directive::ALL {
            assert_eq!(Directive::from_name(d.as_str()), Some(*d));
            assert_eq!(
                Directive::from_name(&d.as_str().to_ascii_uppercase()),
                Some(*d)
            );
        }
        assert_eq!(Directive::from_name("block-all-mixed-content"), None);
    }
}
