//! `Strict-Transport-Security` (RFC 6797).

use std::time::Duration;

use http::HeaderValue;

use crate::error::ConfigError;

/// One year in seconds: the max-age the HSTS preload list requires.
pub const ONE_YEAR: Duration = Duration::from_secs(31_536_000);

/// A `Strict-Transport-Security` policy.
///
/// The default is `max-age=31536000; includeSubDomains` (one year, every
/// subdomain), what OWASP and helmet recommend. It is only ever sent on
/// responses to requests that arrived over HTTPS (RFC 6797 §7.2: browsers
/// ignore it over plain HTTP, where an attacker could also strip or forge it).
///
/// [`preload`](Self::preload) asks for `; preload`, the opt-in to browsers'
/// built-in HSTS list; the layer then refuses to build unless max-age is at
/// least one year and `includeSubDomains` is set, the list's entry conditions.
///
/// ```
/// use std::time::Duration;
/// use hardening_headers::hsts::StrictTransportSecurity;
///
/// let hsts = StrictTransportSecurity::default().preload();
/// assert_eq!(hsts.to_header_value().unwrap(), "max-age=31536000; includeSubDomains; preload");
///
/// let short = StrictTransportSecurity::new(Duration::from_secs(300)).preload();
/// assert!(short.to_header_value().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StrictTransportSecurity {
    max_age: u64,
    include_subdomains: bool,
    preload: bool,
}

impl Default for StrictTransportSecurity {
    fn default() -> Self {
        StrictTransportSecurity {
            max_age: ONE_YEAR.as_secs(),
            include_subdomains: true,
            preload: false,
        }
    }
}

impl StrictTransportSecurity {
    /// `max-age` alone, without `includeSubDomains` (whole seconds; any
    /// fraction is dropped).
    pub fn new(max_age: Duration) -> Self {
        StrictTransportSecurity {
            max_age: max_age.as_secs(),
            include_subdomains: false,
            preload: false,
        }
    }

    /// `max-age=0`: tells browsers to forget an earlier policy.
    pub fn clear() -> Self {
        Self::new(Duration::ZERO)
    }

    /// Sets `max-age`.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age.as_secs();
        self
    }

    /// Adds or drops `includeSubDomains`.
    pub fn include_subdomains(mut self, include: bool) -> Self {
        self.include_subdomains = include;
        self
    }

    /// Adds `preload`. Only valid with max-age ≥ one year and
    /// `includeSubDomains`; checked when the layer is built.
    pub fn preload(mut self) -> Self {
        self.preload = true;
        self
    }

    /// The configured max-age in seconds.
    pub fn max_age_secs(&self) -> u64 {
        self.max_age
    }

    /// Validates and renders the policy.
    ///
    /// # Errors
    ///
    /// [`ConfigError::HstsPreload`] when `preload` is set without a one-year
    /// max-age and `includeSubDomains`.
    pub fn to_header_value(&self) -> Result<HeaderValue, ConfigError> {
        if self.preload && (self.max_age < ONE_YEAR.as_secs() || !self.include_subdomains) {
            return Err(ConfigError::HstsPreload {
                max_age: self.max_age,
                include_subdomains: self.include_subdomains,
            });
        }
        let mut value = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.preload {
            value.push_str("; preload");
        }
        HeaderValue::from_str(&value)
            .map_err(|_| ConfigError::header_value("strict-transport-security", value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_one_year_with_subdomains() {
        assert_eq!(
            StrictTransportSecurity::default()
                .to_header_value()
                .unwrap(),
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(
            StrictTransportSecurity::new(Duration::from_millis(86_400_999))
                .to_header_value()
                .unwrap(),
            "max-age=86400"
        );
        assert_eq!(
            StrictTransportSecurity::clear().to_header_value().unwrap(),
            "max-age=0"
        );
    }

    #[test]
    fn preload_requires_a_year_and_subdomains() {
        let ok = StrictTransportSecurity::new(Duration::from_secs(2 * 31_536_000))
            .include_subdomains(true)
            .preload();
        assert_eq!(
            ok.to_header_value().unwrap(),
            "max-age=63072000; includeSubDomains; preload"
        );
        assert_eq!(
            StrictTransportSecurity::default()
                .include_subdomains(false)
                .preload()
                .to_header_value()
                .unwrap_err(),
            ConfigError::HstsPreload {
                max_age: 31_536_000,
                include_subdomains: false
            }
        );
        let err = StrictTransportSecurity::default()
            .max_age(Duration::from_secs(31_535_999))
            .preload()
            .to_header_value()
            .unwrap_err();
        assert!(err.to_string().contains("max-age=31535999"), "{err}");
    }
}
