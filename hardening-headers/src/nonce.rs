//! The per-request CSP nonce.

use std::fmt;

use rand::Rng as _;

/// Random bytes per nonce: 144 bits, above the 128 the CSP specification asks
/// for, and a multiple of 3 so the base64 form needs no padding.
pub const NONCE_BYTES: usize = 18;

/// Length of the base64 form.
pub(crate) const NONCE_LEN: usize = NONCE_BYTES / 3 * 4;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The Content-Security-Policy nonce of the current request.
///
/// With [`csp_nonce()`](crate::SecurityHeadersBuilder::csp_nonce) the layer
/// draws a fresh one for every request from a CSPRNG (the thread-local
/// ChaCha generator of `rand`, seeded by the operating system), puts it in
/// the request extensions, and lists it as `'nonce-…'` in the `script-src`
/// and `style-src` of that request's response. Put the same value in the
/// `nonce` attribute of inline `<script>` and `<style>` elements:
///
/// ```
/// use hardening_headers::CspNonce;
///
/// # fn page(req: &http::Request<()>) -> String {
/// let nonce = req.extensions().get::<CspNonce>().expect("layer has csp_nonce()");
/// format!(r#"<script nonce="{nonce}">start()</script>"#)
/// # }
/// ```
///
/// With the `axum` feature `CspNonce` is an extractor (and
/// `Option<CspNonce>` one that never fails).
///
/// The nonce is plain base64 (`A–Z a–z 0–9 + /`), 24 characters, safe to
/// place in an HTML attribute without escaping.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CspNonce {
    encoded: [u8; NONCE_LEN],
}

impl CspNonce {
    /// Draws a fresh nonce.
    pub fn generate() -> Self {
        let mut raw = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut raw);
        Self::from_bytes(raw)
    }

    /// The nonce for the given random bytes (tests and custom generators).
    pub fn from_bytes(raw: [u8; NONCE_BYTES]) -> Self {
        let mut encoded = [0u8; NONCE_LEN];
        for (chunk, out) in raw.chunks_exact(3).zip(encoded.chunks_exact_mut(4)) {
            let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = ALPHABET[(n >> (18 - 6 * i) & 63) as usize];
            }
        }
        CspNonce { encoded }
    }

    /// The base64 nonce, as it goes in a `nonce="…"` attribute.
    pub fn as_str(&self) -> &str {
        // The bytes come from ALPHABET: always ASCII.
        std::str::from_utf8(&self.encoded).unwrap_or_default()
    }

    pub(crate) fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.encoded
    }
}

impl fmt::Display for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CspNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CspNonce").field(&self.as_str()).finish()
    }
}

#[cfg(feature = "axum")]
mod extract {
    use std::convert::Infallible;

    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::http::request::Parts;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};

    use super::CspNonce;

    /// The rejection of the [`CspNonce`] extractor: the request did not pass
    /// through a `SecurityHeadersLayer` with `csp_nonce()`. Answers
    /// `500 Internal Server Error`, since it is a wiring mistake.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct MissingCspNonce;

    impl std::fmt::Display for MissingCspNonce {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(
                "no CSP nonce on the request: wrap the route in SecurityHeadersLayer with csp_nonce()",
            )
        }
    }

    impl std::error::Error for MissingCspNonce {}

    impl IntoResponse for MissingCspNonce {
        fn into_response(self) -> Response {
            (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
        }
    }

    impl<S: Send + Sync> FromRequestParts<S> for CspNonce {
        type Rejection = MissingCspNonce;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<CspNonce>()
                .copied()
                .ok_or(MissingCspNonce)
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for CspNonce {
        type Rejection = Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<CspNonce>().copied())
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingCspNonce;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn encodes_like_standard_base64() {
        let raw: [u8; NONCE_BYTES] = *b"\x00\x01\x02hello world!\xfb\xff\xfe";
        let expected = base64::engine::general_purpose::STANDARD.encode(raw);
        assert_eq!(CspNonce::from_bytes(raw).as_str(), expected);
        assert_eq!(expected.len(), NONCE_LEN);
    }

    #[test]
    fn generated_nonces_are_unique() {
        let nonces: HashSet<CspNonce> = (0..10_000).map(|_| CspNonce::generate()).collect();
        assert_eq!(nonces.len(), 10_000);
    }

    proptest! {
        /// Every nonce decodes back to its bytes and only uses characters the
        /// CSP nonce grammar and HTML attributes accept unescaped.
        #[test]
        fn nonces_are_valid_base64(raw in any::<[u8; NONCE_BYTES]>()) {
            let nonce = CspNonce::from_bytes(raw);
            let decoded = base64::engine::general_purpose::STANDARD.decode(nonce.as_str()).unwrap();
            prop_assert_eq!(decoded.as_slice(), &raw[..]);
            prop_assert!(nonce.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'));
        }
    }

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn axum_extractor() {
        use axum::extract::FromRequestParts;
        use axum::response::IntoResponse;

        let nonce = CspNonce::from_bytes([7; NONCE_BYTES]);
        let (mut parts, ()) = http::Request::new(()).into_parts();
        assert_eq!(
            CspNonce::from_request_parts(&mut parts, &()).await,
            Err(MissingCspNonce)
        );
        assert_eq!(MissingCspNonce.into_response().status(), 500);
        let none: Option<CspNonce> =
            <CspNonce as axum::extract::OptionalFromRequestParts<()>>::from_request_parts(
                &mut parts,
                &(),
            )
            .await
            .unwrap();
        assert_eq!(none, None);
        parts.extensions.insert(nonce);
        assert_eq!(
            CspNonce::from_request_parts(&mut parts, &()).await,
            Ok(nonce)
        );
    }
}
