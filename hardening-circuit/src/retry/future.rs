//! [`ResponseFuture`]: the hand-written state machine that runs the attempts.
//!
//! The first attempt costs no allocation and no boxing: the inner future is
//! stored inline, timers are created only when a deadline, an attempt timeout
//! or a backoff wait needs one, and a successful response is recognised by a
//! bit test on its status before anything else is looked at.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hardening_core::observe::RetryOutcome;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tokio::time::{sleep_until, Instant, Sleep};
use tower_service::Service;

use super::body::{copy_request, ReplayableBody};
use super::classify::AttemptOutcome;
use super::config::Config;
use super::error::{AttemptTimeout, DeadlineExceeded, PolledAfterCompletion};
use super::policy::{Next, Stop};
use crate::BoxError;

pin_project! {
    /// The response future of [`Retry`](super::Retry).
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S::Future>,
        // One timer serves the attempt timeout, the deadline and the backoff
        // wait: only one of them can be next.
        #[pin]
        timer: Option<Sleep>,
        timer_means: TimerMeans,
        // `None` when the request is sent once (not retryable).
        retry: Option<Retrying<S, B>>,
        attempt: u32,
        deadline: Option<(Instant, Duration)>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Attempt { #[pin] future: F },
        Waiting,
        Ready,
        Done,
    }
}

/// What the armed timer stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerMeans {
    Nothing,
    AttemptTimeout(Duration),
    Deadline(Duration),
    Backoff,
}

/// What only a retryable call needs.
struct Retrying<S, B> {
    service: S,
    /// The request for the next attempt, copied before the current one.
    next: Option<Request<B>>,
    config: Arc<Config>,
    previous_delay: Duration,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    /// A call that is sent once.
    #[inline]
    pub(crate) fn single(future: S::Future, config: &Config) -> Self {
        let (timer, timer_means, deadline) = first_timer(config);
        Self {
            state: State::Attempt { future },
            timer,
            timer_means,
            retry: None,
            attempt: 1,
            deadline,
        }
    }

    /// A call that may be retried with `next`, on `service`.
    #[inline]
    pub(crate) fn retryable(
        future: S::Future,
        service: S,
        next: Request<B>,
        config: Arc<Config>,
    ) -> Self {
        let (timer, timer_means, deadline) = first_timer(&config);
        Self {
            state: State::Attempt { future },
            timer,
            timer_means,
            retry: Some(Retrying {
                service,
                next: Some(next),
                previous_delay: config.backoff.initial_previous(),
                config,
            }),
            attempt: 1,
            deadline,
        }
    }
}

type Deadline = Option<(Instant, Duration)>;

/// The timer of the first attempt, if a deadline or an attempt timeout is
/// configured.
#[inline]
fn first_timer(config: &Config) -> (Option<Sleep>, TimerMeans, Deadline) {
    if config.deadline.is_none() && config.attempt_timeout.is_none() {
        return (None, TimerMeans::Nothing, None);
    }
    armed_first_timer(config)
}

/// [`first_timer`] when there is a timer to arm, kept out of line so the
/// common case stays small.
#[inline(never)]
fn armed_first_timer(config: &Config) -> (Option<Sleep>, TimerMeans, Deadline) {
    let now = Instant::now();
    let deadline = config
        .deadline
        .and_then(|d| now.checked_add(d).map(|at| (at, d)));
    match attempt_timer(now, deadline, config.attempt_timeout) {
        Some((at, means)) => (Some(sleep_until(at)), means, deadline),
        None => (None, TimerMeans::Nothing, deadline),
    }
}

/// When the current attempt must end: its own timeout or the deadline,
/// whichever comes first.
fn attempt_timer(
    now: Instant,
    deadline: Deadline,
    timeout: Option<Duration>,
) -> Option<(Instant, TimerMeans)> {
    let own = timeout.and_then(|t| now.checked_add(t).map(|at| (at, t)));
    match (own, deadline) {
        (Some((at, t)), Some((end, d))) => Some(if end <= at {
            (end, TimerMeans::Deadline(d))
        } else {
            (at, TimerMeans::AttemptTimeout(t))
        }),
        (Some((at, t)), None) => Some((at, TimerMeans::AttemptTimeout(t))),
        (None, Some((end, d))) => Some((end, TimerMeans::Deadline(d))),
        (None, None) => None,
    }
}

fn set_timer(mut timer: Pin<&mut Option<Sleep>>, at: Instant) {
    match timer.as_mut().as_pin_mut() {
        Some(sleep) => sleep.reset(at),
        None => timer.set(Some(sleep_until(at))),
    }
}

/// `Some(means)` if the armed timer has fired.
fn timer_fired(
    timer: Pin<&mut Option<Sleep>>,
    means: TimerMeans,
    cx: &mut Context<'_>,
) -> Option<TimerMeans> {
    if means == TimerMeans::Nothing {
        return None;
    }
    let sleep = timer.as_pin_mut()?;
    sleep.poll(cx).is_ready().then_some(means)
}

/// The outcome of an attempt, for the retry event.
struct Reason<'a, B>(&'a Result<Response<B>, BoxError>);

impl<B> fmt::Display for Reason<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(res) => write!(f, "status {}", res.status().as_u16()),
            Err(err) => write!(f, "error: {err}"),
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    B: ReplayableBody,
{
    type Output = Result<Response<ResBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Attempt { future } => {
                    let outcome: Result<Response<ResBody>, BoxError> = match future.poll(cx) {
                        Poll::Ready(result) => result.map_err(Into::into),
                        Poll::Pending => {
                            match timer_fired(this.timer.as_mut(), *this.timer_means, cx) {
                                Some(TimerMeans::AttemptTimeout(timeout)) => {
                                    Err(Box::new(AttemptTimeout {
                                        timeout,
                                        attempt: *this.attempt,
                                    }))
                                }
                                Some(TimerMeans::Deadline(deadline)) => {
                                    this.state.set(State::Done);
                                    return Poll::Ready(Err(Box::new(DeadlineExceeded {
                                        deadline,
                                        attempts: *this.attempt,
                                    })));
                                }
                                _ => return Poll::Pending,
                            }
                        }
                    };
                    *this.timer_means = TimerMeans::Nothing;
                    // Drop the finished (or abandoned) attempt.
                    this.state.set(State::Done);

                    let Some(retry) = this.retry.as_mut() else {
                        return Poll::Ready(outcome);
                    };
                    if let Ok(res) = &outcome {
                        if retry.config.classifier.surely_returns_status(res.status()) {
                            if let Some(observer) = &retry.config.observer {
                                observer.attempt(RetryOutcome::Returned);
                            }
                            return Poll::Ready(outcome);
                        }
                    }
                    if !retry.next.as_ref().is_some_and(|r| r.body().can_replay()) {
                        if let Some(observer) = &retry.config.observer {
                            observer.attempt(RetryOutcome::Returned);
                        }
                        return Poll::Ready(outcome);
                    }
                    let remaining = this
                        .deadline
                        .map(|(at, _)| at.saturating_duration_since(Instant::now()));
                    let view = match &outcome {
                        Ok(res) => AttemptOutcome::Response {
                            status: res.status(),
                            headers: res.headers(),
                        },
                        Err(err) => AttemptOutcome::Error(&**err),
                    };
                    let delay = match retry.config.after_attempt(
                        *this.attempt,
                        view,
                        retry.previous_delay,
                        remaining,
                    ) {
                        Next::Return(stop) => {
                            if stop != Stop::Classified {
                                tracing::debug!(
                                    target: "hardening_circuit",
                                    attempt = *this.attempt,
                                    reason = %Reason(&outcome),
                                    why = stop.as_str(),
                                    "not retrying"
                                );
                            }
                            return Poll::Ready(outcome);
                        }
                        Next::Retry { delay } => delay,
                    };
                    let wake_at = if delay.is_zero() {
                        None
                    } else {
                        match Instant::now().checked_add(delay) {
                            Some(at) => Some(at),
                            None => return Poll::Ready(outcome),
                        }
                    };
                    tracing::info!(
                        target: "hardening_circuit",
                        attempt = *this.attempt + 1,
                        max_attempts = retry.config.max_attempts,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        reason = %Reason(&outcome),
                        "retrying request"
                    );
                    drop(outcome);
                    retry.previous_delay = delay;
                    match wake_at {
                        Some(at) => {
                            set_timer(this.timer.as_mut(), at);
                            *this.timer_means = TimerMeans::Backoff;
                            this.state.set(State::Waiting);
                        }
                        None => enter_ready(
                            this.state.as_mut(),
                            this.timer.as_mut(),
                            this.timer_means,
                            *this.deadline,
                        ),
                    }
                }
                StateProj::Waiting => {
                    if timer_fired(this.timer.as_mut(), *this.timer_means, cx).is_none() {
                        return Poll::Pending;
                    }
                    enter_ready(
                        this.state.as_mut(),
                        this.timer.as_mut(),
                        this.timer_means,
                        *this.deadline,
                    );
                }
                StateProj::Ready => {
                    let Some(retry) = this.retry.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(Box::new(PolledAfterCompletion)));
                    };
                    match retry.service.poll_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(err)) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(err.into()));
                        }
                        Poll::Pending => {
                            return match timer_fired(this.timer.as_mut(), *this.timer_means, cx) {
                                Some(TimerMeans::Deadline(deadline)) => {
                                    this.state.set(State::Done);
                                    Poll::Ready(Err(Box::new(DeadlineExceeded {
                                        deadline,
                                        attempts: *this.attempt,
                                    })))
                                }
                                _ => Poll::Pending,
                            };
                        }
                    }
                    let Some(mut req) = retry.next.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(Box::new(PolledAfterCompletion)));
                    };
                    *this.attempt += 1;
                    if *this.attempt < retry.config.max_attempts {
                        retry.next = copy_request(&req);
                    }
                    if let Some(name) = &retry.config.attempt_header {
                        req.headers_mut()
                            .insert(name.clone(), HeaderValue::from(*this.attempt));
                    }
                    *this.timer_means = TimerMeans::Nothing;
                    if this.deadline.is_some() || retry.config.attempt_timeout.is_some() {
                        if let Some((at, means)) = attempt_timer(
                            Instant::now(),
                            *this.deadline,
                            retry.config.attempt_timeout,
                        ) {
                            set_timer(this.timer.as_mut(), at);
                            *this.timer_means = means;
                        }
                    }
                    let future = retry.service.call(req);
                    this.state.set(State::Attempt { future });
                }
                StateProj::Done => {
                    return Poll::Ready(Err(Box::new(PolledAfterCompletion)));
                }
            }
        }
    }
}

/// Moves to polling the service for readiness; while waiting for it, the
/// deadline (if any) is the armed timer.
fn enter_ready<F>(
    mut state: Pin<&mut State<F>>,
    mut timer: Pin<&mut Option<Sleep>>,
    means: &mut TimerMeans,
    deadline: Deadline,
) {
    *means = TimerMeans::Nothing;
    if let Some((at, d)) = deadline {
        set_timer(timer.as_mut(), at);
        *means = TimerMeans::Deadline(d);
    }
    state.set(State::Ready);
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("attempt", &self.attempt)
            .field("retryable", &self.retry.is_some())
            .finish_non_exhaustive()
    }
}
