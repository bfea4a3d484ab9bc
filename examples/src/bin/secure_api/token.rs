//! Demo bearer tokens that the server can verify: a token counts as a user
//! only if this server (or a replica sharing `TOKEN_SECRET`) issued it.
//!
//! A token is `v1.<user>.<expiry>.<mac>`: the user id in unpadded base64url,
//! the expiry in Unix seconds, and an HMAC-SHA256 over `v1.<user>.<expiry>`
//! keyed with the server's secret, in unpadded base64url. `/auth/login`
//! issues one; the rate limits key `/api` and `/llm` by its user only after
//! [`TokenKey::verify`] accepted it. Anything else (a random string, a forged
//! or expired token) is an anonymous request and is limited per client IP,
//! so rotating made-up tokens buys no extra quota.
//!
//! The secret comes from `TOKEN_SECRET` (at least 32 bytes, so replicas
//! accept each other's tokens) or, without it, 32 random bytes per process.
//! A real service would use its identity provider's tokens instead; the
//! shape of the check (verify before the id is trusted) is what to copy.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac};
use rand::Rng as _;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Shortest `TOKEN_SECRET` accepted, in bytes.
pub(crate) const MIN_SECRET_LEN: usize = 32;
/// Longest user id a token carries, in bytes.
pub(crate) const MAX_USER_LEN: usize = 64;
/// Longest token looked at; longer ones are rejected before any work.
pub(crate) const MAX_TOKEN_LEN: usize = 256;
/// How long an issued token is valid.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(3600);

const VERSION: &str = "v1";

/// The key that signs and verifies demo tokens. Clones share nothing
/// mutable (the key is a keyed MAC state, cloned per use).
#[derive(Clone)]
pub(crate) struct TokenKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([secret])")
    }
}

impl TokenKey {
    /// A key from `secret` (at least [`MIN_SECRET_LEN`] bytes).
    pub(crate) fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "invalid TOKEN_SECRET: expected at least {MIN_SECRET_LEN} bytes, got {}",
                secret.len()
            ));
        }
        let mac = HmacSha256::new_from_slice(secret).map_err(|e| e.to_string())?;
        Ok(Self { mac })
    }

    /// A key of 32 random bytes (tokens die with the process).
    pub(crate) fn random() -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self::new(&secret).expect("32 bytes is long enough")
    }

    /// A token for `user` valid until `now + TOKEN_TTL`, or `None` when the
    /// user id is empty or longer than [`MAX_USER_LEN`].
    pub(crate) fn issue(&self, user: &str, now: SystemTime) -> Option<String> {
        if user.is_empty() || user.len() > MAX_USER_LEN {
            return None;
        }
        let expiry = unix_secs(now).saturating_add(TOKEN_TTL.as_secs());
        let payload = format!("{VERSION}.{}.{expiry}", URL_SAFE_NO_PAD.encode(user));
        let tag = self.tag(payload.as_bytes());
        Some(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag)))
    }

    /// The user of a token this key issued that has not expired at `now`.
    ///
    /// Work is bounded by [`MAX_TOKEN_LEN`]; the MAC is compared in constant
    /// time.
    pub(crate) fn verify(&self, token: &str, now: SystemTime) -> Option<String> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (payload, tag) = token.rsplit_once('.')?;
        let mut parts = payload.split('.');
        let (version, user, expiry) = (parts.next()?, parts.next()?, parts.next()?);
        if version != VERSION || parts.next().is_some() {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        // Signed by us from here on: the fields are ours.
        let expiry: u64 = expiry.parse().ok()?;
        if unix_secs(now) >= expiry {
            return None;
        }
        let user = String::from_utf8(URL_SAFE_NO_PAD.decode(user).ok()?).ok()?;
        (!user.is_empty() && user.len() <= MAX_USER_LEN).then_some(user)
    }

    fn tag(&self, payload: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::new(&[7u8; 32]).unwrap()
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let token = key().issue("alice", now()).unwrap();
        assert_eq!(key().verify(&token, now()).as_deref(), Some("alice"));
        let later = now() + TOKEN_TTL - Duration::from_secs(1);
        assert_eq!(key().verify(&token, later).as_deref(), Some("alice"));
        assert_eq!(key().verify(&token, now() + TOKEN_TTL), None);
    }

    #[test]
    fn another_key_or_a_changed_byte_fails() {
        let token = key().issue("alice", now()).unwrap();
        let other = TokenKey::new(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(&token, now()), None);
        // Swap the user for another one, keep the MAC.
        let (_, rest) = token.split_once('.').unwrap();
        let (_, rest) = rest.split_once('.').unwrap();
        let forged = format!("v1.{}.{rest}", URL_SAFE_NO_PAD.encode("mallory"));
        assert_eq!(key().verify(&forged, now()), None);
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(changed) = String::from_utf8(bytes) else {
                continue;
            };
            if changed != token {
                assert_eq!(key().verify(&changed, now()), None, "byte {i} changed");
            }
        }
    }

    #[test]
    fn made_up_and_demo_style_tokens_are_not_users() {
        for token in [
            "demo-alice",
            "",
            "v1..0.",
            "v1.YWxpY2U.9999999999.",
            "a.b.c.d.e",
        ] {
            assert_eq!(key().verify(token, now()), None, "{token:?}");
        }
        assert_eq!(key().issue("", now()), None);
        assert_eq!(key().issue(&"x".repeat(MAX_USER_LEN + 1), now()), None);
    }

    #[test]
    fn short_secrets_are_refused_with_the_setting_named() {
        let err = TokenKey::new(b"short").unwrap_err();
        assert!(err.contains("TOKEN_SECRET") && err.contains("32"), "{err}");
    }

    proptest! {
        /// Arbitrary client bytes never verify and never panic.
        #[test]
        fn arbitrary_tokens_never_verify(token in ".{0,300}") {
            prop_assert_eq!(key().verify(&token, now()), None);
        }

        /// Every user id a token can carry comes back exactly.
        #[test]
        fn round_trip(user in "[^\u{0}]{1,16}") {
            prop_assume!(user.len() <= MAX_USER_LEN);
            let token = key().issue(&user, now()).unwrap();
            prop_assert!(token.len() <= MAX_TOKEN_LEN);
            prop_assert_eq!(key().verify(&token, now()), Some(user));
        }
    }
}
