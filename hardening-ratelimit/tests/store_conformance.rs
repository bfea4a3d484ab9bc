//! One list of behavioural cases, run against every store: the in-memory
//! store always, the Redis store when the `redis` feature is on (against
//! `REDIS_URL`).
//!
//! The in-memory store runs on a test clock. Redis decides on its server's
//! own clock, so in the Redis run time really passes: `advance` sleeps, and
//! durations are compared within the real time the test took beyond the
//! time it advanced (quotas are chosen so counts never depend on it).

mod support;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardening_ratelimit::gcra::Gcra;
use hardening_ratelimit::store::{Decision, PolicyCheck, RateLimitStore};
use hardening_ratelimit::{InMemoryStore, Key, Policy, Quota};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// A store under test with the test's clock.
struct Env<S> {
    store: S,
    now: AtomicU64,
    advanced: AtomicU64,
    real_time: bool,
    started: Instant,
}

impl<S: RateLimitStore> Env<S> {
    fn new(store: S, real_time: bool) -> Arc<Self> {
        Arc::new(Self {
            store,
            now: AtomicU64::new(1_000_000_000_000),
            advanced: AtomicU64::new(0),
            real_time,
            started: Instant::now(),
        })
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.now.load(Ordering::SeqCst))
    }

    async fn decide(&self, checks: &[PolicyCheck<'_>]) -> Decision {
        support::decide(&self.store, checks, self.now())
            .await
            .expect("the store decides")
    }

    async fn one(&self, policy: &Policy, key: &Key) -> Decision {
        self.decide(&[PolicyCheck::new(policy, key)]).await
    }

    async fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap();
        self.now.fetch_add(nanos, Ordering::SeqCst);
        self.advanced.fetch_add(nanos, Ordering::SeqCst);
        if self.real_time {
            tokio::time::sleep(by).await;
        }
    }

    /// How far a duration reported by the store may be from the exact one:
    /// zero on the test clock; the real time not accounted for by `advance`
    /// (plus a millisecond of clock granularity) when the store reads its own
    /// clock.
    fn tolerance(&self) -> Duration {
        if !self.real_time {
            return Duration::ZERO;
        }
        let advanced = Duration::from_nanos(self.advanced.load(Ordering::SeqCst));
        self.started.elapsed().saturating_sub(advanced) + Duration::from_millis(1)
    }

    #[track_caller]
    fn assert_about(&self, actual: Duration, expected: Duration, what: &str) {
        let tolerance = self.tolerance();
        let diff = actual.abs_diff(expected);
        assert!(
            diff <= tolerance,
            "{what}: got {actual:?}, expected {expected:?} (tolerance {tolerance:?})"
        );
    }
}

/// The cases. Each takes a fresh, empty store.
mod cases {
    use super::*;

    pub(crate) async fn burst_then_rejection<S: RateLimitStore>(env: Arc<Env<S>>) {
        let p = Policy::new("login", Quota::per_minute(nz(5)));
        let k = Key::ip("203.0.113.9".parse().unwrap(), 64);
        for remaining in (0..5).rev() {
            let d = env.one(&p, &k).await;
            assert!(d.is_allowed());
            let o = d.outcomes()[0];
            assert_eq!(o.remaining, remaining);
            assert_eq!(o.retry_after, Duration::ZERO);
            env.assert_about(
                o.reset_after,
                Duration::from_secs(12 * (5 - u64::from(remaining))),
                "reset_after",
            );
        }
        let d = env.one(&p, &k).await;
        assert!(!d.is_allowed());
        let o = d.outcomes()[0];
        assert!(!o.allowed);
        assert_eq!(o.remaining, 0);
        env.assert_about(o.retry_after, Duration::from_secs(12), "retry_after");
        env.assert_about(o.reset_after, Duration::from_secs(60), "reset_after");
        env.assert_about(
            d.retry_after(),
            Duration::from_secs(12),
            "decision retry_after",
        );
    }

    pub(crate) async fn rejections_consume_nothing<S: RateLimitStore>(env: Arc<Env<S>>) {
        let p = Policy::new("api", Quota::per_minute(nz(2)));
        let k = Key::user("mallory");
        assert!(env.one(&p, &k).await.is_allowed());
        assert!(env.one(&p, &k).await.is_allowed());
        for _ in 0..20 {
            let d = env.one(&p, &k).await;
            assert!(!d.is_allowed());
            // Still one period to wait: the rejections did not push it back.
            env.assert_about(d.retry_after(), Duration::from_secs(30), "retry_after");
            env.assert_about(
                d.outcomes()[0].reset_after,
                Duration::from_secs(60),
                "reset_after",
            );
        }
    }

    pub(crate) async fn all_or_nothing_across_policies<S: RateLimitStore>(env: Arc<Env<S>>) {
        let tight = Policy::new("tight", Quota::per_minute(nz(2)));
        let loose = Policy::new("loose", Quota::per_minute(nz(10)));
        let ip = Key::ip("203.0.113.1".parse().unwrap(), 64);
        let user = Key::user("bob");
        let both = [
            PolicyCheck::new(&tight, &ip),
            PolicyCheck::new(&loose, &user),
        ];
        assert!(env.decide(&both).await.is_allowed());
        let d = env.decide(&both).await;
        assert!(d.is_allowed());
        assert_eq!(d.outcomes()[0].remaining, 0);
        assert_eq!(d.outcomes()[1].remaining, 8);
        for _ in 0..5 {
            let d = env.decide(&both).await;
            assert!(!d.is_allowed());
            assert!(!d.outcomes()[0].allowed);
            assert!(d.outcomes()[1].allowed, "loose alone would admit");
            assert_eq!(d.outcomes()[1].remaining, 8, "and was not charged");
            assert_eq!(d.outcomes()[1].retry_after, Duration::ZERO);
            env.assert_about(
                d.outcomes()[1].reset_after,
                Duration::from_secs(12),
                "loose reset_after",
            );
            env.assert_about(d.retry_after(), Duration::from_secs(30), "retry_after");
        }
        let loose_only = [PolicyCheck::new(&loose, &user)];
        assert_eq!(env.decide(&loose_only).await.outcomes()[0].remaining, 7);
    }

    pub(crate) async fn many_policies_at_once<S: RateLimitStore>(env: Arc<Env<S>>) {
        let policies: Vec<Policy> = (0..5u32)
            .map(|i| Policy::new(format!("p{i}"), Quota::per_minute(nz(3 + i))))
            .collect();
        let k = Key::custom("tenant-7");
        let checks: Vec<PolicyCheck<'_>> =
            policies.iter().map(|p| PolicyCheck::new(p, &k)).collect();
        for round in 0..3u32 {
            let d = env.decide(&checks).await;
            assert!(d.is_allowed());
            assert_eq!(d.outcomes().len(), 5);
            for (i, o) in d.outcomes().iter().enumerate() {
                assert_eq!(o.remaining, 3 + i as u32 - round - 1, "policy p{i}");
            }
        }
        let d = env.decide(&checks).await;
        assert!(!d.is_allowed());
        let allowed: Vec<bool> = d.outcomes().iter().map(|o| o.allowed).collect();
        assert_eq!(allowed, [false, true, true, true, true]);
        let remaining: Vec<u32> = d.outcomes().iter().map(|o| o.remaining).collect();
        assert_eq!(remaining, [0, 1, 2, 3, 4]);
    }

    pub(crate) async fn keys_and_policies_are_independent<S: RateLimitStore>(env: Arc<Env<S>>) {
        let p = Policy::new("api", Quota::per_minute(nz(1)));
        let q = Policy::new("llm", Quota::per_minute(nz(1)));
        let alice = Key::user("alice");
        let bob = Key::user("bob");
        let alice_ip = Key::ip("198.51.100.7".parse().unwrap(), 64);
        assert!(env.one(&p, &alice).await.is_allowed());
        assert!(!env.one(&p, &alice).await.is_allowed());
        assert!(env.one(&p, &bob).await.is_allowed(), "another key");
        assert!(env.one(&q, &alice).await.is_allowed(), "another policy");
        assert!(
            env.one(&p, &alice_ip).await.is_allowed(),
            "another kind of key"
        );
        assert!(env.one(&p, &Key::global()).await.is_allowed());
        assert!(env.one(&p, &Key::unknown()).await.is_allowed());
        assert!(!env.one(&p, &Key::global()).await.is_allowed());
    }

    pub(crate) async fn same_policy_name_shares_state<S: RateLimitStore>(env: Arc<Env<S>>) {
        // Two policy values (two layers, two replicas) with one name.
        let a = Policy::new("shared", Quota::per_minute(nz(3))).path_prefix("/a");
        let b = Policy::new("shared", Quota::per_minute(nz(3))).path_prefix("/b");
        let k = Key::header_value("api-key-1");
        assert!(env.one(&a, &k).await.is_allowed());
        assert!(env.one(&b, &k).await.is_allowed());
        assert_eq!(env.one(&a, &k).await.outcomes()[0].remaining, 0);
        assert!(!env.one(&b, &k).await.is_allowed());
    }

    pub(crate) async fn ipv6_networks_share_a_limit<S: RateLimitStore>(env: Arc<Env<S>>) {
        let p = Policy::new("auth", Quota::per_minute(nz(2)));
        let one = Key::ip("2001:db8:1:2::1".parse().unwrap(), 64);
        let other = Key::ip("2001:db8:1:2:ffff::9".parse().unwrap(), 64);
        let next_net = Key::ip("2001:db8:1:3::1".parse().unwrap(), 64);
        assert!(env.one(&p, &one).await.is_allowed());
        assert!(env.one(&p, &other).await.is_allowed());
        assert!(!env.one(&p, &one).await.is_allowed());
        assert!(env.one(&p, &next_net).await.is_allowed());
    }

    pub(crate) async fn recovers_one_request_per_period<S: RateLimitStore>(env: Arc<Env<S>>) {
        let p = Policy::new("burst", Quota::per_second(nz(2)));
        let k = Key::custom("client");
        assert!(env.one(&p, &k).await.is_allowed());
        assert!(env.one(&p, &k).await.is_allowed());
        let d = env.one(&p, &k).await;
        assert!(!d.is_allowed());
        env.assert_about(d.retry_after(), Duration::from_millis(500), "retry_after");
        env.advance(Duration::from_millis(500)).await;
        let d = env.one(&p, &k).await;
        assert!(d.is_allowed(), "one period later, one more");
        assert_eq!(d.outcomes()[0].remaining, 0);
        assert!(!env.one(&p, &k).await.is_allowed(), "and only one");
    }

    pub(crate) async fn outcomes_equal_the_gcra_step<S: RateLimitStore>(env: Arc<Env<S>>) {
        // 7 per minute: a period that is not a whole number of microseconds.
        let quota = Quota::per_minute(nz(7)).with_burst(nz(4));
        let p = Policy::new("odd", quota);
        let k = Key::user("carol");
        let gcra = Gcra::new(quota);
        let now = 1_000 * 1_000_000_000;
        let mut tat = 0;
        for i in 0..6 {
            let expected = gcra.decide(tat, now);
            let d = env.one(&p, &k).await;
            let o = d.outcomes()[0];
            assert_eq!(o.allowed, expected.allowed, "request {i}");
            assert_eq!(o.remaining, expected.remaining, "request {i}");
            env.assert_about(
                o.reset_after,
                Duration::from_nanos(expected.reset_after),
                "reset_after",
            );
            env.assert_about(
                o.retry_after,
                Duration::from_nanos(expected.retry_after),
                "retry_after",
            );
            tat = expected.tat;
        }
    }

    pub(crate) async fn concurrent_requests_admit_exactly_the_quota<S: RateLimitStore>(
        env: Arc<Env<S>>,
    ) {
        // Hour-long windows: the real time a Redis run takes recovers nothing.
        let shared = Policy::new("global", Quota::per_hour(nz(50)));
        let own = Policy::new("per-task", Quota::per_hour(nz(1000)));
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let (env, shared, own) = (Arc::clone(&env), shared.clone(), own.clone());
                tokio::spawn(async move {
                    let everyone = Key::global();
                    let me = Key::custom(format!("task-{t}"));
                    let mut admitted = 0u32;
                    for _ in 0..20 {
                        let checks = [
                            PolicyCheck::new(&shared, &everyone),
                            PolicyCheck::new(&own, &me),
                        ];
                        admitted += u32::from(env.decide(&checks).await.is_allowed());
                    }
                    admitted
                })
            })
            .collect();
        let mut admitted = 0;
        let mut charged = 0;
        for (t, task) in tasks.into_iter().enumerate() {
            admitted += task.await.unwrap();
            let me = Key::custom(format!("task-{t}"));
            // one more request to read the state (it is admitted: 1000/h)
            let d = env.one(&own, &me).await;
            charged += 1000 - 1 - d.outcomes()[0].remaining;
        }
        assert_eq!(admitted, 50, "exactly the shared quota");
        assert_eq!(
            charged, 50,
            "per-task policies charged only for admitted requests"
        );
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::cases::$case(super::Env::new(super::InMemoryStore::new(), false)).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(store) = super::redis_store(concat!("conformance_", stringify!($case))) else {
                        return;
                    };
                    super::cases::$case(super::Env::new(store, true)).await;
                }
            )*
        }
    };
}

/// A Redis store that fails loudly (no local fallback hides a broken Redis
/// path), with a prefix of its own.
#[cfg(feature = "redis")]
fn redis_store(test: &str) -> Option<hardening_ratelimit::RedisStore> {
    use hardening_ratelimit::store::FailurePolicy;
    let url = support::redis::url(test)?;
    Some(
        hardening_ratelimit::RedisStore::builder(url)
            .key_prefix(support::redis::unique_prefix(test))
            .failure_policy(FailurePolicy::FailClosed)
            .timeout(Duration::from_secs(2))
            .build()
            .expect("valid Redis store settings"),
    )
}

conformance!(
    burst_then_rejection,
    rejections_consume_nothing,
    all_or_nothing_across_policies,
    many_policies_at_once,
    keys_and_policies_are_independent,
    same_policy_name_shares_state,
    ipv6_networks_share_a_limit,
    recovers_one_request_per_period,
    outcomes_equal_the_gcra_step,
    concurrent_requests_admit_exactly_the_quota,
);
