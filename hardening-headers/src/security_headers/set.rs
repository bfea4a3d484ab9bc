//! The precomputed header set and the per-response work: no I/O, no
//! allocation except the nonced CSP value.

use bytes::Bytes;
use http::header::{Entry, HeaderMap, OccupiedEntry};
use http::{HeaderName, HeaderValue};

use hardening_core::TrustedProxies;

use crate::nonce::{CspNonce, NONCE_LEN};
use crate::policy::HeaderMode;

/// A header with its final values: one for requests that arrived over HTTPS,
/// one for plain HTTP (`None`: not sent). They differ only for HSTS (HTTPS
/// only) and for a CSP with `upgrade-insecure-requests` (HTTPS only).
#[derive(Clone, Debug)]
pub(crate) struct FixedHeader {
    pub(crate) name: HeaderName,
    pub(crate) https: Option<HeaderValue>,
    pub(crate) http: Option<HeaderValue>,
    pub(crate) mode: HeaderMode,
}

/// A CSP header whose value is completed with the request's nonce.
#[derive(Clone, Debug)]
pub(crate) struct NoncedHeader {
    pub(crate) name: HeaderName,
    /// The rendered policy, cut where the nonce sources go.
    pieces: Box<[Box<str>]>,
    /// The exact length of the finished value, over HTTPS.
    len: usize,
    /// Bytes at the end of the last piece sent over HTTPS only.
    https_only_suffix: usize,
    /// The policy without nonce (HTTPS, plain HTTP), should the finished
    /// value ever be refused (it cannot be: every byte was checked at build
    /// time). Inline code is then blocked: failing closed.
    fallback: (HeaderValue, HeaderValue),
    pub(crate) mode: HeaderMode,
}

const NONCE_PREFIX: &str = "'nonce-";

impl NoncedHeader {
    pub(crate) fn new(
        name: HeaderName,
        text: &str,
        nonce_at: &[usize],
        https_only_suffix: usize,
        fallback: (HeaderValue, HeaderValue),
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
            https_only_suffix,
            fallback,
            mode,
        }
    }

    /// The policy with `'nonce-…'` in place: one allocation of exactly the
    /// final size, which the `HeaderValue` then owns.
    pub(crate) fn value(&self, nonce: &CspNonce, https: bool) -> HeaderValue {
        let trim = if https { 0 } else { self.https_only_suffix };
        let mut buf = Vec::with_capacity(self.len - trim);
        let last = self.pieces.len().saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                buf.extend_from_slice(NONCE_PREFIX.as_bytes());
                buf.extend_from_slice(nonce.as_bytes());
                buf.push(b'\'');
            }
            let piece = piece.as_bytes();
            let piece = if i == last {
                piece
                    .get(..piece.len().saturating_sub(trim))
                    .unwrap_or(piece)
            } else {
                piece
            };
            buf.extend_from_slice(piece);
        }
        HeaderValue::from_maybe_shared(Bytes::from(buf)).unwrap_or_else(|_| self.fallback(https))
    }

    pub(crate) fn fallback(&self, https: bool) -> HeaderValue {
        if https {
            self.fallback.0.clone()
        } else {
            self.fallback.1.clone()
        }
    }
}

/// Responses with at most this many headers take the template path.
const TEMPLATE_MAX_HANDLER_HEADERS: usize = 16;

/// Everything one profile sends, ready to copy into responses.
#[derive(Clone, Debug)]
pub(crate) struct HeaderSet {
    pub(crate) fixed: Box<[FixedHeader]>,
    /// The fixed headers as ready-made maps (HTTPS, plain HTTP), when every
    /// one of them lets the handler win: see [`HeaderSet::apply`].
    pub(crate) templates: Option<Box<(HeaderMap, HeaderMap)>>,
    pub(crate) nonced: Box<[NoncedHeader]>,
    pub(crate) strip: Box<[HeaderName]>,
    pub(crate) nonce: bool,
    /// Whether any header depends on the request's scheme.
    pub(crate) needs_scheme: bool,
    pub(crate) proxies: TrustedProxies,
}

impl HeaderSet {
    /// The ready-made maps, when every fixed header is `IfAbsent`.
    pub(crate) fn templates(
        fixed: &[FixedHeader],
        nonced: usize,
    ) -> Option<Box<(HeaderMap, HeaderMap)>> {
        if fixed.iter().any(|h| h.mode != HeaderMode::IfAbsent) {
            return None;
        }
        // Clones keep the index table's size: leave room for the handler's
        // headers and the nonced CSP, so adding them never rehashes.
        let room = fixed.len() + nonced + TEMPLATE_MAX_HANDLER_HEADERS;
        let mut https = HeaderMap::with_capacity(room);
        let mut http = HeaderMap::with_capacity(room);
        for h in fixed {
            if let Some(value) = &h.https {
                https.try_append(&h.name, value.clone()).ok()?;
            }
            if let Some(value) = &h.http {
                http.try_append(&h.name, value.clone()).ok()?;
            }
        }
        Some(Box::new((https, http)))
    }

    /// Writes the headers into a response's header map.
    ///
    /// The usual response carries a handful of headers and none of ours. For
    /// it (up to 16 headers), instead of hashing a dozen names into the
    /// handler's map, the precomputed map is cloned (two allocations and a
    /// copy, no hashing) and the handler's headers are moved into it,
    /// replacing ours where names collide: the handler still wins. Larger
    /// responses, and header sets with `Overwrite`/`Append` modes, add header
    /// by header.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, https: bool, nonce: Option<&CspNonce>) {
        match &self.templates {
            Some(templates) if headers.len() <= TEMPLATE_MAX_HANDLER_HEADERS => {
                let template = if https { &templates.0 } else { &templates.1 };
                let handler = std::mem::replace(headers, template.clone());
                // the handler's names move into the map (a clone of a name
                // the handler allocated would allocate again)
                let mut current: Option<OccupiedEntry<'_, HeaderValue>> = None;
                for (name, value) in handler {
                    match name {
                        Some(name) => {
                            current = None;
                            if self.strip.contains(&name) {
                                continue;
                            }
                            current = match headers.try_entry(name) {
                                Ok(Entry::Occupied(mut ours)) => {
                                    ours.insert(value);
                                    Some(ours)
                                }
                                Ok(Entry::Vacant(slot)) => slot.try_insert_entry(value).ok(),
                                Err(_) => None,
                            };
                        }
                        None => {
                            if let Some(entry) = current.as_mut() {
                                entry.append(value);
                            }
                        }
                    }
                }
            }
            _ => {
                for name in self.strip.iter() {
                    headers.remove(name);
                }
                let _ = headers.try_reserve(self.fixed.len() + self.nonced.len());
                for h in self.fixed.iter() {
                    let value = if https { &h.https } else { &h.http };
                    if let Some(value) = value {
                        put(headers, &h.name, h.mode, || value.clone());
                    }
                }
            }
        }
        for h in self.nonced.iter() {
            put(headers, &h.name, h.mode, || match nonce {
                Some(nonce) => h.value(nonce, https),
                None => h.fallback(https),
            });
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
