//! Criterion benchmarks of the `hardening` crates, each beside the peer named
//! in its issue. Run them with `cargo bench -p hardening-benches --bench NAME`.
//!
//! This library holds what several benches need: the ready no-op service
//! every contender wraps ([`Noop`]) and the ways to run one call without an
//! executor ([`poll_once`], [`drive`]).
//!
//! It also holds the core of the `limiter-load` binary
//! ([`limiter_load`]), so its smoke test runs in CI.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tower_service::Service;

pub mod limiter_load;

/// A service that is always ready and answers at once: a `u64` request is
/// echoed, an HTTP request gets an empty `200` with a default body.
#[derive(Clone, Copy, Debug, Default)]
pub struct Noop;

impl Service<u64> for Noop {
    type Response = u64;
    type Error = Infallible;
    type Future = Ready<Result<u64, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: u64) -> Self::Future {
        ready(Ok(req))
    }
}

impl<B: Default> Service<http::Request<B>> for Noop {
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<B>, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, _req: http::Request<B>) -> Self::Future {
        ready(Ok(http::Response::new(B::default())))
    }
}

/// Polls `fut` once with a no-op waker.
#[inline]
pub fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).poll(&mut cx)
}

/// `poll_ready`, `call` and one poll, as a server does for a ready service.
///
/// # Panics
///
/// When the service is not ready at once, fails, or its future is pending:
/// every service benchmarked this way answers at once.
#[inline]
pub fn drive<S, Req>(svc: &mut S, req: Req) -> S::Response
where
    S: Service<Req>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    match svc.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("the benchmarked service is always ready"),
    }
    match poll_once(svc.call(req)) {
        Poll::Ready(Ok(res)) => res,
        _ => panic!("the benchmarked service answers at once"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noop_answers_at_once() {
        assert_eq!(drive(&mut Noop, 7_u64), 7);
        let res: http::Response<String> = drive(&mut Noop, http::Request::new(String::new()));
        assert_eq!(res.status(), 200);
        assert!(poll_once(std::future::pending::<()>()).is_pending());
    }
}
