//! The keyword-valued policies: framing, referrer, cross-origin isolation,
//! and how a header meets one the handler already set.

use http::HeaderValue;

macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$doc:meta])* $variant:ident => $value:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            /// The header value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $value,)*
                }
            }

            /// The header value, as a static `HeaderValue`.
            pub const fn header_value(self) -> HeaderValue {
                HeaderValue::from_static(self.as_str())
            }
        }
    };
}

keyword_enum! {
    /// `X-Frame-Options`: who may frame the page, for browsers that predate
    /// CSP `frame-ancestors` (which wins wherever both are understood).
    ///
    /// `ALLOW-FROM` is obsolete and ignored by browsers, so it is not offered:
    /// list the origins in `frame-ancestors` instead.
    pub enum FrameOptions {
        /// `DENY`: nobody, matching `frame-ancestors 'none'`.
        Deny => "DENY",
        /// `SAMEORIGIN`: pages of the same origin, matching
        /// `frame-ancestors 'self'`.
        SameOrigin => "SAMEORIGIN",
    }
}

keyword_enum! {
    /// `Referrer-Policy`: how much of the page URL other requests reveal.
    pub enum ReferrerPolicy {
        /// `no-referrer`: never send a Referer. Note that it also makes
        /// same-origin form POSTs send `Origin: null`, which breaks CSRF
        /// defences that compare `Origin` with the host.
        NoReferrer => "no-referrer",
        /// `no-referrer-when-downgrade` (the old browser default; leaks full
        /// URLs to other sites).
        NoReferrerWhenDowngrade => "no-referrer-when-downgrade",
        /// `origin`
        Origin => "origin",
        /// `origin-when-cross-origin`
        OriginWhenCrossOrigin => "origin-when-cross-origin",
        /// `same-origin`: full URL to the same origin, nothing elsewhere.
        SameOrigin => "same-origin",
        /// `strict-origin`
        StrictOrigin => "strict-origin",
        /// `strict-origin-when-cross-origin`: full URL to the same origin, only
        /// the origin to other HTTPS sites, nothing over a downgrade. What
        /// OWASP recommends for HTML applications.
        StrictOriginWhenCrossOrigin => "strict-origin-when-cross-origin",
        /// `unsafe-url`: always the full URL. Avoid.
        UnsafeUrl => "unsafe-url",
    }
}

keyword_enum! {
    /// `Cross-Origin-Opener-Policy`: whether pages opened from other origins
    /// share a browsing context group with this one (and can reach it through
    /// `window.opener`).
    pub enum CrossOriginOpenerPolicy {
        /// `same-origin`: cross-origin openers and popups are isolated.
        SameOrigin => "same-origin",
        /// `same-origin-allow-popups`: popups this page opens keep a reference
        /// (OAuth and payment popups).
        SameOriginAllowPopups => "same-origin-allow-popups",
        /// `noopener-allow-popups`
        NoopenerAllowPopups => "noopener-allow-popups",
        /// `unsafe-none`: no isolation (the browser default).
        UnsafeNone => "unsafe-none",
    }
}

keyword_enum! {
    /// `Cross-Origin-Resource-Policy`: which sites may embed this response
    /// with a no-cors request (`<img>`, `<script>`), the defence against
    /// Spectre-style cross-site reads.
    pub enum CrossOriginResourcePolicy {
        /// `same-origin`
        SameOrigin => "same-origin",
        /// `same-site`
        SameSite => "same-site",
        /// `cross-origin`: anybody (public CDNs, images meant for embedding).
        CrossOrigin => "cross-origin",
    }
}

keyword_enum! {
    /// `Cross-Origin-Embedder-Policy`: whether the page may load cross-origin
    /// resources that did not opt in with CORP or CORS. Together with
    /// `Cross-Origin-Opener-Policy: same-origin` it makes the page
    /// cross-origin isolated (`SharedArrayBuffer`, precise timers). Off by
    /// default: it breaks third-party embeds that do not opt in.
    pub enum CrossOriginEmbedderPolicy {
        /// `require-corp`
        RequireCorp => "require-corp",
        /// `credentialless`: cross-origin no-cors loads go without cookies
        /// instead of failing.
        Credentialless => "credentialless",
        /// `unsafe-none` (the browser default).
        UnsafeNone => "unsafe-none",
    }
}

keyword_enum! {
    /// `X-Permitted-Cross-Domain-Policies`: whether Adobe Flash and Acrobat
    /// may load cross-domain policy files from this site.
    pub enum PermittedCrossDomainPolicies {
        /// `none`
        None => "none",
        /// `master-only`
        MasterOnly => "master-only",
        /// `by-content-type`
        ByContentType => "by-content-type",
        /// `all`
        All => "all",
    }
}

/// How a header the layer sends meets a header of the same name that the
/// handler already set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HeaderMode {
    /// The handler wins: the layer adds its value only when the response has
    /// none. The default, so a route can loosen its own policy.
    #[default]
    IfAbsent,
    /// The layer wins: its value replaces the handler's.
    Overwrite,
    /// Both: the layer's value is added beside the handler's. For
    /// `Content-Security-Policy` this means both policies are enforced (a
    /// resource must pass each), so a handler can only tighten the baseline.
    Append,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(FrameOptions::Deny.header_value(), "DENY");
        assert_eq!(
            ReferrerPolicy::StrictOriginWhenCrossOrigin.as_str(),
            "strict-origin-when-cross-origin"
        );
        assert_eq!(CrossOriginOpenerPolicy::SameOrigin.as_str(), "same-origin");
        assert_eq!(CrossOriginResourcePolicy::SameSite.as_str(), "same-site");
        assert_eq!(
            CrossOriginEmbedderPolicy::RequireCorp.as_str(),
            "require-corp"
        );
        assert_eq!(PermittedCrossDomainPolicies::None.as_str(), "none");
        assert_eq!(HeaderMode::default(), HeaderMode::IfAbsent);
    }
}
