//! [`SecureCookiesLayer`] and its builder.

use std::sync::Arc;

use hardening_core::TrustedProxies;
use tower_layer::Layer;

use super::rewrite::{CookiePolicy, SameSite};
use super::service::SecureCookies;
use crate::error::ConfigError;

/// Hardens every `Set-Cookie` of the responses: `Secure` over HTTPS,
/// `HttpOnly` unless the name opts out, a `SameSite` attribute, and the
/// `__Host-`/`__Secure-` prefix rules. Names and values are never changed.
///
/// See the [module docs](crate::cookies) for the rules and an example.
///
/// # Clone
///
/// Clones share the configuration.
#[derive(Clone, Debug)]
pub struct SecureCookiesLayer {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) policy: CookiePolicy,
    pub(crate) proxies: TrustedProxies,
}

impl SecureCookiesLayer {
    /// The defaults: `HttpOnly` on every cookie, `SameSite=Lax`, `Secure`
    /// on responses to requests that arrived over HTTPS (as decided by
    /// [`TrustedProxies::scheme`] with no trusted proxy: the connection and
    /// the request URI).
    pub fn new() -> Self {
        Self::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }

    /// A builder starting from the defaults of [`new`](Self::new).
    pub fn builder() -> SecureCookiesBuilder {
        SecureCookiesBuilder::default()
    }
}

impl Default for SecureCookiesLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for SecureCookiesLayer {
    type Service = SecureCookies<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecureCookies::new(inner, self.shared.clone())
    }
}

/// Configures a [`SecureCookiesLayer`].
#[derive(Clone, Debug, Default)]
pub struct SecureCookiesBuilder {
    http_only_exempt: Vec<String>,
    same_site: SameSite,
    proxies: TrustedProxies,
}

impl SecureCookiesBuilder {
    /// Cookies with these names (exact, case-sensitive) do not get
    /// `HttpOnly`: page scripts can read them (a theme, a CSRF token that
    /// scripts echo in a header). Every other rule still applies.
    pub fn http_only_exempt<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.http_only_exempt
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// The `SameSite` attribute of cookies whose handler set none
    /// (default [`SameSite::Lax`]). With [`SameSite::None`], a cookie that
    /// cannot be `Secure` (a response over plain HTTP) gets `Lax`, since
    /// browsers refuse `SameSite=None` without `Secure`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Whose `X-Forwarded-Proto` / `Forwarded: proto=` to believe when
    /// deciding whether a request arrived over HTTPS: give it the same
    /// [`TrustedProxies`] as the `SecurityHeadersLayer`, so cookies get
    /// `Secure` exactly when responses get HSTS.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidCookieName`] for an exempt name that is not a
    /// cookie name (an RFC 6265 token: visible ASCII except separators).
    pub fn build(self) -> Result<SecureCookiesLayer, ConfigError> {
        for name in &self.http_only_exempt {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            if !token {
                return Err(ConfigError::InvalidCookieName { name: name.clone() });
            }
        }
        let policy = CookiePolicy {
            http_only_exempt: self
                .http_only_exempt
                .into_iter()
                .map(|n| n.into_bytes().into_boxed_slice())
                .collect(),
            same_site: self.same_site,
        };
        Ok(SecureCookiesLayer {
            shared: Arc::new(Shared {
                policy,
                proxies: self.proxies,
            }),
        })
    }
}
