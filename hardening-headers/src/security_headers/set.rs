//! The precomputed header set and the per-response work: no I/O, no
//! allocation except the nonced CSP value.

use bytes::Bytes;
use http::header::{Entry, HeaderMap};
use http::{HeaderName, HeaderValue};

use hardening_core::TrustedProxies;

use crate::nonce::{CspNonce, NONCE_LEN};
use crate::policy::HeaderMode;

/// A header with its final value.
#[derive(Clone, Debug)]
pub(crate) struct FixedHeader {
    pub(crate) name: HeaderName,
    pub(crate) value: HeaderValue,
    pub(crate) mode: HeaderMode,
}

/// A CSP header whose value is completed with the request's nonce.
#[derive(Clone, Debug)]
pub(crate) struct NoncedHeader {
    pub(crate) name: HeaderName,
    /// The rendered policy, cut where the nonce sources go.
    pub(crate) pieces: Box<[Box<str>]>,
    /// The exact length of the finished value.
    pub(crate) len: usize,
    /// The policy without nonce, should the finished value ever be refused
    /// (it cannot be: every byte was checked at build time). Inline code is
    /// then blocked: failing closed.
    pub(crate) fallback: HeaderValue,
    pub(crate) mode: HeaderMode,
}

const NONCE_PREFIX: &str = "'nonce-";

impl NoncedHeader {
    pub(crate) fn new(
        name: HeaderName,
        text: &str,
        nonce_at: &[usize],
        fallback: HeaderValue,
        mode: HeaderMode,
    ) -> Self {
        let mut pieces = Vec::with_capacity(nonce_at.len() + 1);
        let mut start = 0;
        for &at in nonce_at {
            pieces.push(text.get(start..at).unwrap_or_default().into());
            start = at;
        }
        pieces.push(text.get(start..).unwrap_or_default().into());
        let len = text.len() + nonce_at.len() * (NONCE_PREFIX.len() + NONCE_LEN + 1);
        NoncedHeader {
            name,
            pieces: pieces.into_boxed_slice(),
            len,
            fallback,
            mode,
        }
    }

    /// The policy with `'nonce-…'` in place: one allocation of exactly the
    /// final size, which the `HeaderValue` then owns.
    pub(crate) fn value(&self, nonce: &CspNonce) -> HeaderValue {
        let mut buf = Vec::with_capacity(self.len);
        let mut pieces = self.pieces.iter();
        if let Some(first) = pieces.next() {
            buf.extend_from_slice(first.as_bytes());
        }
        for piece in pieces {
            buf.extend_from_slice(NONCE_PREFIX.as_bytes());
            buf.extend_from_slice(nonce.as_bytes());
            buf.push(b'\'');
            buf.extend_from_slice(piece.as_bytes());
        }
        HeaderValue::from_maybe_shared(Bytes::from(buf)).unwrap_or_else(|_| self.fallback.clone())
    }
}

/// Everything one profile sends, ready to copy into responses.
#[derive(Clone, Debug)]
pub(crate) struct HeaderSet {
    pub(crate) fixed: Box<[FixedHeader]>,
    pub(crate) nonced: Box<[NoncedHeader]>,
    pub(crate) hsts: Option<FixedHeader>,
    pub(crate) strip: Box<[HeaderName]>,
    pub(crate) nonce: bool,
    pub(crate) proxies: TrustedProxies,
}

impl HeaderSet {
    /// Whether the scheme of the request matters (HSTS is configured).
    pub(crate) fn needs_scheme(&self) -> bool {
        self.hsts.is_some()
    }

    /// Writes the headers into a response's header map.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, https: bool, nonce: Option<&CspNonce>) {
        for name in self.strip.iter() {
            headers.remove(name);
        }
        let _ = headers.try_reserve(self.fixed.len() + self.nonced.len() + 1);
        for h in self.fixed.iter() {
            put(headers, &h.name, h.mode, || h.value.clone());
        }
        for h in self.nonced.iter() {
            put(headers, &h.name, h.mode, || match nonce {
                Some(nonce) => h.value(nonce),
                None => h.fallback.clone(),
            });
        }
        if https {
            if let Some(h) = &self.hsts {
                put(headers, &h.name, h.mode, || h.value.clone());
            }
        }
    }
}

/// Adds one header according to its mode. The value is only made when it is
/// used. Reaching the header map's size limit (32768 entries, only a hostile
/// upstream gets there) drops the header instead of panicking.
fn put(
    headers: &mut HeaderMap,
    name: &HeaderName,
    mode: HeaderMode,
    value: impl FnOnce() -> HeaderValue,
) {
    match mode {
        HeaderMode::IfAbsent => {
            if let Ok(Entry::Vacant(slot)) = headers.try_entry(name) {
                let _ = slot.try_insert(value());
            }
        }
        HeaderMode::Overwrite => {
            let _ = headers.try_insert(name, value());
        }
        HeaderMode::Append => {
            let _ = headers.try_append(name, value());
        }
    }
}
