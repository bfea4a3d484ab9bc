//! The response body: the inner body holding the request's permit until it
//! ends or is dropped, or the limiter's own problem document.

use hardening_core::body::{BodyGuard, ResponseBody};
use http_body::Body;

use crate::limiter::Permit;

/// The body of a [`ConcurrencyLimit`](crate::ConcurrencyLimit) response.
///
/// Wraps the inner body and keeps the request counted in flight until the
/// body has been read to its end (or failed) or is dropped: a response whose
/// headers went out while the body still streams still holds its slot
/// ([`holds_guard`](ResponseBody::holds_guard)). Or: the
/// `application/problem+json` document of a refusal.
pub type LoadShedBody<B> = ResponseBody<B, Permit>;

/// Releasing the slot is `Permit`'s `Drop`; nothing to observe on the way.
impl BodyGuard for Permit {}

/// The inner body, holding `permit` (if any) until it ends.
pub(crate) fn inner<B: Body>(body: B, permit: Option<Permit>) -> LoadShedBody<B> {
    match permit {
        Some(permit) => ResponseBody::guarded(body, permit),
        None => ResponseBody::inner(body),
    }
}
