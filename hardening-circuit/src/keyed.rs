//! [`KeyedCircuitBreakerLayer`]: one breaker per key, such as per upstream
//! host.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use http::uri::Authority;
use tower_layer::Layer;
use tower_service::Service;

use crate::breaker::Breaker;
use crate::classify::{Classify, HttpClassifier};
use crate::config::CircuitBreakerBuilder;
use crate::future::ResponseFuture;
use crate::reject::{BoxErrorRejection, ErrorRejection, Rejection, ResponseRejection};

/// Picks the breaker key of a request.
///
/// Closures `Fn(&Req) -> Option<K>` implement it; [`UriAuthority`] (the
/// default) keys HTTP requests by their URI's authority without
/// allocating. `None` sends the request to the shared fallback breaker.
pub trait KeyExtractor<Req> {
    /// The key, as borrowed from the request (the layer stores its owned
    /// form).
    type Key: ToOwned + ?Sized;

    /// The key of `req`.
    fn key<'a>(&self, req: &'a Req) -> Option<Cow<'a, Self::Key>>;
}

impl<F, Req, K> KeyExtractor<Req> for F
where
    F: Fn(&Req) -> Option<K>,
    K: Clone,
{
    type Key = K;

    #[inline]
    fn key<'a>(&self, req: &'a Req) -> Option<Cow<'a, K>> {
        self(req).map(Cow::Owned)
    }
}

/// Keys an HTTP request by its URI's authority (`host:port`), i.e. one
/// breaker per upstream host. Client requests carry an absolute URI;
/// requests without an authority use the fallback breaker.
#[derive(Clone, Copy, Debug, Default)]
pub struct UriAuthority;

impl<B> KeyExtractor<http::Request<B>> for UriAuthority {
    type Key = Authority;

    #[inline]
    fn key<'a>(&self, req: &'a http::Request<B>) -> Option<Cow<'a, Authority>> {
        req.uri().authority().map(Cow::Borrowed)
    }
}

/// The breakers of a keyed layer.
struct Registry<K> {
    breakers: RwLock<HashMap<K, Breaker>>,
    max_keys: usize,
    fallback: Breaker,
    builder: CircuitBreakerBuilder,
}

/// The default bound on the number of keys.
const DEFAULT_MAX_KEYS: usize = 1024;

impl<K: Hash + Eq + fmt::Display> Registry<K> {
    fn new(builder: CircuitBreakerBuilder, max_keys: usize) -> Self {
        let fallback = Self::make(&builder, Arc::from("(fallback)"));
        Self {
            breakers: RwLock::new(HashMap::new()),
            max_keys,
            fallback,
            builder,
        }
    }

    fn make(builder: &CircuitBreakerBuilder, name: Arc<str>) -> Breaker {
        match builder.clone().named(name).validate() {
            Ok(settings) => Breaker::from_settings(settings),
            // The builder was validated when the layer was built, and naming
            // a breaker cannot invalidate it.
            Err(_) => Breaker::new(),
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<Breaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.breakers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn breaker_for<Q>(&self, key: Option<Cow<'_, Q>>) -> Breaker
    where
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
        K: Borrow<Q>,
    {
        let Some(key) = key else {
            return self.fallback.clone();
        };
        if let Some(breaker) = self.get(&*key) {
            return breaker;
        }
        let mut breakers = self
            .breakers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(breaker) = breakers.get(&*key) {
            return breaker.clone();
        }
        if breakers.len() >= self.max_keys {
            return self.fallback.clone();
        }
        let key = key.into_owned();
        let breaker = Self::make(&self.builder, Arc::from(key.to_string()));
        breakers.insert(key, breaker.clone());
        breaker
    }
}

/// Wraps services in a [`KeyedCircuitBreaker`]: one [`Breaker`] per key
/// (by default per request URI authority, i.e. per upstream host), all with
/// the same settings.
///
/// # Bounded keys
///
/// At most [`max_keys`](Self::max_keys) breakers are created (default
/// 1,024). Requests whose key is new once the bound is reached, and requests
/// without a key, all share one *fallback* breaker (named `(fallback)`):
/// memory stays bounded whatever the keys, existing breakers are never
/// evicted (so an open breaker cannot be reset by flooding new keys), and the
/// overflow traffic is still protected, if more coarsely.
///
/// # Clone
///
/// Clones share the breakers: every service made by any clone uses the
/// same breaker for the same key.
///
/// # Example
///
/// ```
/// use hardening_circuit::{KeyedCircuitBreakerLayer, SlidingWindow, State};
/// use tower::{service_fn, BoxError, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = KeyedCircuitBreakerLayer::builder()
///     .sliding_window(SlidingWindow::count(5))
///     .minimum_calls(1)
///     .build_keyed()
///     .unwrap();
/// let client = tower::ServiceBuilder::new().layer(layer.clone()).service(service_fn(
///     |req: http::Request<()>| async move {
///         let status = if req.uri().host() == Some("down.example") { 500 } else { 200 };
///         Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap())
///     },
/// ));
///
/// let req = |uri: &str| http::Request::get(uri).body(()).unwrap();
/// client.clone().oneshot(req("http://down.example/")).await.unwrap();
/// client.clone().oneshot(req("http://up.example/")).await.unwrap();
///
/// let down = http::uri::Authority::from_static("down.example");
/// let up = http::uri::Authority::from_static("up.example");
/// assert_eq!(layer.breaker(&down).unwrap().state(), State::Open);
/// assert_eq!(layer.breaker(&up).unwrap().state(), State::Closed);
/// assert!(client.oneshot(req("http://down.example/")).await.is_err());
/// # }
/// ```
pub struct KeyedCircuitBreakerLayer<
    K = Authority,
    X = UriAuthority,
    C = HttpClassifier,
    R = BoxErrorRejection,
> {
    registry: Arc<Registry<K>>,
    extractor: X,
    classify: C,
    _rejection: PhantomData<fn() -> R>,
}

impl KeyedCircuitBreakerLayer {
    /// Per-authority breakers with the default settings.
    pub fn new() -> Self {
        Self::from_builder(CircuitBreakerBuilder::new())
    }

    /// A builder for the breakers' settings; finish with
    /// [`build_keyed`](CircuitBreakerBuilder::build_keyed).
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new()
    }

    pub(crate) fn from_builder(builder: CircuitBreakerBuilder) -> Self {
        Self {
            registry: Arc::new(Registry::new(builder, DEFAULT_MAX_KEYS)),
            extractor: UriAuthority,
            classify: HttpClassifier::new(),
            _rejection: PhantomData,
        }
    }
}

impl Default for KeyedCircuitBreakerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, X, C, R> KeyedCircuitBreakerLayer<K, X, C, R>
where
    K: Hash + Eq + fmt::Display,
{
    /// Bounds the number of breakers (default 1,024); see the type's docs
    /// for what happens at the bound. Starts a fresh set of breakers.
    pub fn max_keys(self, max_keys: NonZeroUsize) -> Self {
        Self {
            registry: Arc::new(Registry::new(self.registry.builder.clone(), max_keys.get())),
            ..self
        }
    }

    /// Keys requests with `extractor` (e.g. a closure
    /// `|req: &Request<B>| Some(tenant_of(req))`) instead of by URI
    /// authority. Starts a fresh set of breakers.
    pub fn key<K2, X2>(self, extractor: X2) -> KeyedCircuitBreakerLayer<K2, X2, C, R>
    where
        K2: Hash + Eq + fmt::Display,
    {
        KeyedCircuitBreakerLayer {
            registry: Arc::new(Registry::new(
                self.registry.builder.clone(),
                self.registry.max_keys,
            )),
            extractor,
            classify: self.classify,
            _rejection: PhantomData,
        }
    }

    /// The breaker of `key`, if one was created.
    pub fn breaker<Q>(&self, key: &Q) -> Option<Breaker>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.registry.get(key)
    }

    /// The breaker shared by requests without a key and by new keys past
    /// the bound.
    pub fn fallback_breaker(&self) -> &Breaker {
        &self.registry.fallback
    }

    /// How many per-key breakers exist.
    pub fn len(&self) -> usize {
        self.registry
            .breakers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no per-key breaker exists yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Classifies results with `classify`.
    pub fn classify<C2>(self, classify: C2) -> KeyedCircuitBreakerLayer<K, X, C2, R> {
        KeyedCircuitBreakerLayer {
            registry: self.registry,
            extractor: self.extractor,
            classify,
            _rejection: PhantomData,
        }
    }

    /// Server mode: rejected calls get a `503` with `Retry-After` (see
    /// [`CircuitBreakerLayer::into_response`](crate::CircuitBreakerLayer::into_response)).
    pub fn into_response(self) -> KeyedCircuitBreakerLayer<K, X, C, ResponseRejection> {
        self.with_rejection()
    }

    /// Rejected calls get `Err(E::from(CircuitOpen))`.
    pub fn into_error(self) -> KeyedCircuitBreakerLayer<K, X, C, ErrorRejection> {
        self.with_rejection()
    }

    fn with_rejection<R2>(self) -> KeyedCircuitBreakerLayer<K, X, C, R2> {
        KeyedCircuitBreakerLayer {
            registry: self.registry,
            extractor: self.extractor,
            classify: self.classify,
            _rejection: PhantomData,
        }
    }
}

impl<K, X: Clone, C: Clone, R> Clone for KeyedCircuitBreakerLayer<K, X, C, R> {
    fn clone(&self) -> Self {
        Self {
            registry: self.registry.clone(),
            extractor: self.extractor.clone(),
            classify: self.classify.clone(),
            _rejection: PhantomData,
        }
    }
}

impl<K, X, C, R> fmt::Debug for KeyedCircuitBreakerLayer<K, X, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreakerLayer")
            .field("max_keys", &self.registry.max_keys)
            .finish_non_exhaustive()
    }
}

impl<S, K, X: Clone, C: Clone, R> Layer<S> for KeyedCircuitBreakerLayer<K, X, C, R> {
    type Service = KeyedCircuitBreaker<S, K, X, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedCircuitBreaker {
            inner,
            registry: self.registry.clone(),
            extractor: self.extractor.clone(),
            classify: self.classify.clone(),
            _rejection: PhantomData,
        }
    }
}

/// A service with one breaker per request key. Made by
/// [`KeyedCircuitBreakerLayer`].
///
/// The key is only known in `call`, so the breaker decides there: a
/// rejected call has still waited for the inner service to be ready.
///
/// # Clone
///
/// Clones share the breakers and clone the inner service.
pub struct KeyedCircuitBreaker<S, K, X, C, R> {
    inner: S,
    registry: Arc<Registry<K>>,
    extractor: X,
    classify: C,
    _rejection: PhantomData<fn() -> R>,
}

impl<S, K, X, C, R> KeyedCircuitBreaker<S, K, X, C, R> {
    hardening_core::define_inner_service_accessors!();
}

impl<S, K, X, C, R, Req> Service<Req> for KeyedCircuitBreaker<S, K, X, C, R>
where
    S: Service<Req>,
    X: KeyExtractor<Req>,
    X::Key: ToOwned<Owned = K> + Hash + Eq,
    K: Borrow<X::Key> + Hash + Eq + fmt::Display,
    C: Classify<S::Response, S::Error> + Clone,
    R: Rejection<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = R::Error;
    type Future = ResponseFuture<S::Future, C, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(R::error)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let breaker = self.registry.breaker_for(self.extractor.key(&req));
        match breaker.acquire() {
            Ok(call) => {
                let guard = if call.is_tracked() {
                    Some(breaker.guard_owned(call))
                } else {
                    None
                };
                ResponseFuture::called(self.inner.call(req), guard, self.classify.clone())
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}

impl<S: Clone, K, X: Clone, C: Clone, R> Clone for KeyedCircuitBreaker<S, K, X, C, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            registry: self.registry.clone(),
            extractor: self.extractor.clone(),
            classify: self.classify.clone(),
            _rejection: PhantomData,
        }
    }
}

impl<S: fmt::Debug, K, X, C, R> fmt::Debug for KeyedCircuitBreaker<S, K, X, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCircuitBreaker")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{service_fn, ServiceExt};

    use super::*;
    use crate::{CircuitOpen, SlidingWindow, State};

    fn layer() -> KeyedCircuitBreakerLayer {
        KeyedCircuitBreakerLayer::builder()
            .sliding_window(SlidingWindow::count(2))
            .minimum_calls(1)
            .build_keyed()
            .unwrap()
    }

    fn failing() -> impl Service<
        http::Request<()>,
        Response = http::Response<()>,
        Error = Infallible,
        Future = impl std::future::Future<Output = Result<http::Response<()>, Infallible>>,
    > + Clone {
        service_fn(|_req: http::Request<()>| async {
            Ok::<_, Infallible>(http::Response::builder().status(500).body(()).unwrap())
        })
    }

    fn get(uri: &str) -> http::Request<()> {
        http::Request::get(uri).body(()).unwrap()
    }

    #[tokio::test]
    async fn one_breaker_per_authority() {
        let layer = layer();
        let svc = layer.layer(failing());
        svc.clone()
            .oneshot(get("http://a.example/x"))
            .await
            .unwrap();
        assert_eq!(layer.len(), 1);
        let a = layer.breaker(&Authority::from_static("a.example")).unwrap();
        assert_eq!(a.state(), State::Open);
        assert_eq!(a.name(), Some("a.example"));
        let err = svc
            .clone()
            .oneshot(get("http://a.example/y"))
            .await
            .unwrap_err();
        assert!(err.is::<CircuitOpen>());
        // Another host, and the same host on another port, are unaffected.
        assert!(svc.clone().oneshot(get("http://b.example/")).await.is_ok());
        assert!(svc
            .clone()
            .oneshot(get("http://a.example:8080/"))
            .await
            .is_ok());
        assert_eq!(layer.len(), 3);
    }

    #[tokio::test]
    async fn new_keys_past_the_bound_share_the_fallback_breaker() {
        let layer = layer().max_keys(NonZeroUsize::new(2).unwrap());
        let svc = layer.clone().layer(failing());
        for host in ["a", "b", "c", "d", "e"] {
            let _ = svc
                .clone()
                .oneshot(get(&format!("http://{host}.example/")))
                .await;
        }
        assert_eq!(layer.len(), 2, "bounded");
        assert!(layer
            .breaker(&Authority::from_static("c.example"))
            .is_none());
        // c tripped the fallback; d and e were rejected by it.
        let fallback = layer.fallback_breaker();
        assert_eq!(fallback.state(), State::Open);
        assert_eq!(fallback.metrics().rejections, 2);
        assert_eq!(fallback.name(), Some("(fallback)"));
        // Known keys keep their own breaker.
        let a = layer.breaker(&Authority::from_static("a.example")).unwrap();
        assert_eq!(a.state(), State::Open);
    }

    #[tokio::test]
    async fn requests_without_a_key_use_the_fallback() {
        let layer = layer();
        let svc = layer.layer(failing());
        svc.clone().oneshot(get("/relative")).await.unwrap();
        assert!(layer.is_empty());
        assert_eq!(layer.fallback_breaker().state(), State::Open);
    }

    #[tokio::test]
    async fn a_closure_picks_the_key() {
        let layer = layer().key(|req: &http::Request<()>| {
            req.headers()
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let svc = layer.layer(failing());
        let req = http::Request::get("/")
            .header("x-tenant", "acme")
            .body(())
            .unwrap();
        svc.clone().oneshot(req).await.unwrap();
        assert_eq!(layer.breaker("acme").unwrap().state(), State::Open);
        assert!(layer.breaker("other").is_none());
    }

    #[tokio::test]
    async fn keyed_server_mode_answers_503() {
        let layer = layer().into_response();
        let svc = layer.layer(failing());
        svc.clone().oneshot(get("http://a.example/")).await.unwrap();
        let resp = svc.oneshot(get("http://a.example/")).await.unwrap();
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().contains_key("retry-after"));
    }
}
