//! `Permissions-Policy`: which browser features the page and its frames may use.

use std::borrow::Cow;
use std::fmt::Write as _;

use http::HeaderValue;

use crate::error::ConfigError;
use crate::host::check_origin;

macro_rules! features {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A policy-controlled browser feature.
        ///
        /// The named variants are the features current browsers recognise;
        /// [`Feature::Other`] carries any other name (checked to be a
        /// lowercase token when the layer is built).
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Feature {
            $($(#[$doc])* $variant,)*
            /// Any other feature name.
            Other(Cow<'static, str>),
        }

        impl Feature {
            /// The feature's name, e.g. `"camera"`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Feature::$variant => $name,)*
                    Feature::Other(name) => name,
                }
            }
        }
    };
}

features! {
    /// `accelerometer`
    Accelerometer => "accelerometer",
    /// `autoplay`
    Autoplay => "autoplay",
    /// `browsing-topics` (the Topics API of interest-based advertising)
    BrowsingTopics => "browsing-topics",
    /// `camera`
    Camera => "camera",
    /// `clipboard-read`
    ClipboardRead => "clipboard-read",
    /// `clipboard-write`
    ClipboardWrite => "clipboard-write",
    /// `cross-origin-isolated`
    CrossOriginIsolated => "cross-origin-isolated",
    /// `display-capture`
    DisplayCapture => "display-capture",
    /// `encrypted-media`
    EncryptedMedia => "encrypted-media",
    /// `fullscreen`
    Fullscreen => "fullscreen",
    /// `gamepad`
    Gamepad => "gamepad",
    /// `geolocation`
    Geolocation => "geolocation",
    /// `gyroscope`
    Gyroscope => "gyroscope",
    /// `hid`
    Hid => "hid",
    /// `identity-credentials-get`
    IdentityCredentialsGet => "identity-credentials-get",
    /// `idle-detection`
    IdleDetection => "idle-detection",
    /// `keyboard-map`
    KeyboardMap => "keyboard-map",
    /// `local-fonts`
    LocalFonts => "local-fonts",
    /// `magnetometer`
    Magnetometer => "magnetometer",
    /// `microphone`
    Microphone => "microphone",
    /// `midi`
    Midi => "midi",
    /// `otp-credentials`
    OtpCredentials => "otp-credentials",
    /// `payment`
    Payment => "payment",
    /// `picture-in-picture`
    PictureInPicture => "picture-in-picture",
    /// `publickey-credentials-create` (WebAuthn registration)
    PublickeyCredentialsCreate => "publickey-credentials-create",
    /// `publickey-credentials-get` (WebAuthn sign-in)
    PublickeyCredentialsGet => "publickey-credentials-get",
    /// `screen-wake-lock`
    ScreenWakeLock => "screen-wake-lock",
    /// `serial`
    Serial => "serial",
    /// `storage-access`
    StorageAccess => "storage-access",
    /// `sync-xhr`
    SyncXhr => "sync-xhr",
    /// `unload` (denying it keeps pages eligible for the back/forward cache)
    Unload => "unload",
    /// `usb`
    Usb => "usb",
    /// `web-share`
    WebShare => "web-share",
    /// `window-management`
    WindowManagement => "window-management",
    /// `xr-spatial-tracking`
    XrSpatialTracking => "xr-spatial-tracking",
}

/// The features [`PermissionsPolicy::deny_all`] denies: the OWASP Secure
/// Headers Project list, without `interest-cohort` (removed from browsers,
/// which now log it as unrecognised) and `cross-origin-isolated` (denying it
/// would silently undo an opt-in to `Cross-Origin-Embedder-Policy`).
pub const DENY_ALL_FEATURES: &[Feature] = &[
    Feature::Accelerometer,
    Feature::Autoplay,
    Feature::BrowsingTopics,
    Feature::Camera,
    Feature::ClipboardRead,
    Feature::ClipboardWrite,
    Feature::DisplayCapture,
    Feature::EncryptedMedia,
    Feature::Fullscreen,
    Feature::Gamepad,
    Feature::Geolocation,
    Feature::Gyroscope,
    Feature::Hid,
    Feature::IdleDetection,
    Feature::KeyboardMap,
    Feature::Magnetometer,
    Feature::Microphone,
    Feature::Midi,
    Feature::Payment,
    Feature::PictureInPicture,
    Feature::PublickeyCredentialsGet,
    Feature::ScreenWakeLock,
    Feature::Serial,
    Feature::SyncXhr,
    Feature::Unload,
    Feature::Usb,
    Feature::WebShare,
    Feature::XrSpatialTracking,
];

/// Who may use a feature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Allow {
    /// `*`: every origin, frames included. Must be alone.
    All,
    /// `self`: the page's own origin.
    SelfOrigin,
    /// `src`: in an `<iframe allow=…>`, the frame's `src` origin.
    Src,
    /// An origin such as `https://maps.example.com` (`https://*.example.com`
    /// for its subdomains).
    Origin(Cow<'static, str>),
}

impl Allow {
    /// An origin entry.
    pub fn origin(origin: impl Into<Cow<'static, str>>) -> Self {
        Allow::Origin(origin.into())
    }
}

/// A `Permissions-Policy` header, built feature by feature.
///
/// A feature given an empty allowlist is denied to everyone, the page
/// included (`camera=()`); features not named keep the browser default
/// (usually `self`). [`deny_all`](Self::deny_all) denies every powerful
/// feature, and you allow back what the page uses.
///
/// ```
/// use hardening_headers::permissions::{Allow, Feature, PermissionsPolicy};
///
/// let policy = PermissionsPolicy::deny_all()
///     .allow(Feature::Fullscreen, [Allow::SelfOrigin])
///     .allow(Feature::Geolocation, [Allow::SelfOrigin, Allow::origin("https://maps.example.com")]);
/// let value = policy.to_header_value().unwrap();
/// let value = value.to_str().unwrap();
/// assert!(value.contains("camera=()"));
/// assert!(value.contains("fullscreen=(self)"));
/// assert!(value.contains(r#"geolocation=(self "https://maps.example.com")"#));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermissionsPolicy {
    features: Vec<(Feature, Vec<Allow>)>,
}

impl PermissionsPolicy {
    /// An empty policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Denies every feature of [`DENY_ALL_FEATURES`].
    pub fn deny_all() -> Self {
        DENY_ALL_FEATURES
            .iter()
            .fold(Self::new(), |p, f| p.deny(f.clone()))
    }

    /// Sets who may use `feature`, replacing an earlier setting.
    pub fn allow(mut self, feature: Feature, allowlist: impl IntoIterator<Item = Allow>) -> Self {
        let allowlist: Vec<Allow> = allowlist.into_iter().collect();
        match self.features.iter_mut().find(|(f, _)| *f == feature) {
            Some((_, slot)) => *slot = allowlist,
            None => self.features.push((feature, allowlist)),
        }
        self
    }

    /// Denies `feature` to everyone: `feature=()`.
    pub fn deny(self, feature: Feature) -> Self {
        self.allow(feature, [])
    }

    /// Stops naming `feature` (the browser default applies).
    pub fn remove(mut self, feature: &Feature) -> Self {
        self.features.retain(|(f, _)| f != feature);
        self
    }

    /// The allowlist of `feature`, if the policy names it.
    pub fn allowlist(&self, feature: &Feature) -> Option<&[Allow]> {
        self.features
            .iter()
            .find(|(f, _)| f == feature)
            .map(|(_, a)| a.as_slice())
    }

    /// Validates and renders the policy (a structured-field dictionary).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPermissionsFeature`] for a malformed
    /// [`Feature::Other`] name, [`ConfigError::InvalidPermissionsOrigin`] for
    /// a malformed origin or a `*` beside other entries.
    pub fn to_header_value(&self) -> Result<HeaderValue, ConfigError> {
        let mut out = String::new();
        for (feature, allowlist) in &self.features {
            let name = feature.as_str();
            if !crate::csp::is_sf_key(name) {
                return Err(ConfigError::InvalidPermissionsFeature {
                    feature: name.to_owned(),
                });
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push('=');
            if allowlist.contains(&Allow::All) {
                if allowlist.len() > 1 {
                    return Err(ConfigError::InvalidPermissionsOrigin {
                        feature: name.to_owned(),
                        origin: "*".to_owned(),
                        reason: "`*` must be the only entry",
                    });
                }
                out.push('*');
                continue;
            }
            out.push('(');
            for (i, entry) in allowlist.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                match entry {
                    Allow::All => {}
                    Allow::SelfOrigin => out.push_str("self"),
                    Allow::Src => out.push_str("src"),
                    Allow::Origin(origin) => {
                        let origin = check_origin(origin).map_err(|reason| {
                            ConfigError::InvalidPermissionsOrigin {
                                feature: name.to_owned(),
                                origin: origin.to_string(),
                                reason,
                            }
                        })?;
                        // infallible: writing to a String
                        let _ = write!(out, "\"{origin}\"");
                    }
                }
            }
            out.push(')');
        }
        if out.is_empty() {
            return Err(ConfigError::header_value("permissions-policy", ""));
        }
        HeaderValue::from_str(&out)
            .map_err(|_| ConfigError::header_value("permissions-policy", out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_all_denies_every_listed_feature() {
        let value = PermissionsPolicy::deny_all().to_header_value().unwrap();
        let value = value.to_str().unwrap();
        for feature in DENY_ALL_FEATURES {
            assert!(
                value.contains(&format!("{}=()", feature.as_str())),
                "{value}"
            );
        }
        assert!(
            value.starts_with("accelerometer=(), autoplay=()"),
            "{value}"
        );
        assert!(!value.contains("interest-cohort"));
    }

    #[test]
    fn allowlists_render_as_structured_fields() {
        let p = PermissionsPolicy::new()
            .allow(Feature::Camera, [Allow::SelfOrigin, Allow::Src])
            .allow(Feature::Fullscreen, [Allow::All])
            .allow(Feature::Other("attribution-reporting".into()), [])
            .allow(
                Feature::Geolocation,
                [Allow::origin("https://*.example.com/")],
            );
        assert_eq!(
            p.to_header_value().unwrap(),
            r#"camera=(self src), fullscreen=*, attribution-reporting=(), geolocation=("https://*.example.com")"#
        );
        let p = p.allow(Feature::Camera, []).remove(&Feature::Fullscreen);
        assert_eq!(p.allowlist(&Feature::Camera), Some(&[][..]));
        assert_eq!(p.allowlist(&Feature::Fullscreen), None);
    }

    #[test]
    fn errors_name_feature_and_origin() {
        let err = PermissionsPolicy::new()
            .allow(Feature::Camera, [Allow::origin("https://a.example/path")])
            .to_header_value()
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("camera") && msg.contains("https://a.example/path"),
            "{msg}"
        );
        let err = PermissionsPolicy::new()
            .allow(Feature::Other("Bad Name".into()), [])
            .to_header_value()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidPermissionsFeature {
                feature: "Bad Name".into()
            }
        );
        assert!(PermissionsPolicy::new()
            .allow(Feature::Usb, [Allow::All, Allow::SelfOrigin])
            .to_header_value()
            .is_err());
        assert!(PermissionsPolicy::new().to_header_value().is_err());
    }
}
