//! The `http_route` label: a route template, never a raw path.
//!
//! A [`ClassifyRoute`] names the route a request matched (axum's
//! `MatchedPath`, or any closure). Requests it cannot name get
//! [`UNMATCHED_ROUTE`]; once [`max_routes`](super::HttpMetricsBuilder::max_routes)
//! distinct names have been seen, further new names get [`OVERFLOW_ROUTE`].
//! Either way the number of `http_route` values is bounded by configuration,
//! whatever clients send.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use http::Request;

/// The `http_route` value of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "_unmatched";

/// The `http_route` value of routes named after the
/// [`max_routes`](super::HttpMetricsBuilder::max_routes) budget was spent.
pub const OVERFLOW_ROUTE: &str = "_OTHER";

/// Names the route a request matched, for the `http_route` label.
///
/// Return the route *template* (`/users/{id}`), not the path
/// (`/users/42`), and `None` for requests that matched no route. Closures
/// `Fn(&Request<B>) -> Option<&'static str>` implement it:
///
/// ```
/// use hardening_metrics::http::ClassifyRoute;
/// use http::Request;
///
/// let classify = |req: &Request<()>| match req.uri().path() {
///     "/" => Some("/"),
///     p if p.starts_with("/users/") => Some("/users/{id}"),
///     _ => None,
/// };
/// let req = Request::get("/users/42").body(()).unwrap();
/// assert_eq!(classify.classify(&req), Some("/users/{id}"));
/// ```
pub trait ClassifyRoute<B>: Send + Sync + 'static {
    /// The route template `request` matched, or `None`.
    fn classify<'r>(&self, request: &'r Request<B>) -> Option<&'r str>;
}

impl<B, F> ClassifyRoute<B> for F
where
    F: Fn(&Request<B>) -> Option<&'static str> + Send + Sync + 'static,
{
    #[inline]
    fn classify<'r>(&self, request: &'r Request<B>) -> Option<&'r str> {
        self(request)
    }
}

/// The default classifier.
///
/// With the `axum` feature it reads axum's `MatchedPath` (present when the
/// layer is added with `Router::layer` or `Router::route_layer`); without
/// it, every request is [`UNMATCHED_ROUTE`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRoute;

impl<B> ClassifyRoute<B> for DefaultRoute {
    #[inline]
    fn classify<'r>(&self, request: &'r Request<B>) -> Option<&'r str> {
        #[cfg(feature = "axum")]
        {
            request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|m| m.as_str())
        }
        #[cfg(not(feature = "axum"))]
        {
            let _ = request;
            None
        }
    }
}

/// An interned `http_route` value. Every distinct name has exactly one
/// allocation (the [`RouteTable`] guarantees it), so equality and hashing
/// use the pointer: cheap on the per-request path.
#[derive(Clone)]
pub(crate) struct RouteLabel(Arc<str>);

impl RouteLabel {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as *const u8 as usize).hash(state);
    }
}

impl fmt::Debug for RouteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// The bounded set of route names seen so far.
pub(crate) struct RouteTable {
    known: RwLock<HashMap<Box<str>, RouteLabel>>,
    max_routes: usize,
    unmatched: RouteLabel,
    overflow: RouteLabel,
}

impl RouteTable {
    pub(crate) fn new(max_routes: usize) -> Self {
        let unmatched = RouteLabel(Arc::from(UNMATCHED_ROUTE));
        let overflow = RouteLabel(Arc::from(OVERFLOW_ROUTE));
        let mut known = HashMap::new();
        known.insert(Box::from(UNMATCHED_ROUTE), unmatched.clone());
        known.insert(Box::from(OVERFLOW_ROUTE), overflow.clone());
        Self {
            known: RwLock::new(known),
            max_routes,
            unmatched,
            overflow,
        }
    }

    /// The label for `route`: its interned name, [`UNMATCHED_ROUTE`] for
    /// `None`, or [`OVERFLOW_ROUTE`] when the budget is spent.
    pub(crate) fn label(&self, route: Option<&str>) -> RouteLabel {
        let Some(route) = route else {
            return self.unmatched.clone();
        };
        {
            let known = self.known.read().unwrap_or_else(|e| e.into_inner());
            if let Some(label) = known.get(route) {
                return label.clone();
            }
        }
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if let Some(label) = known.get(route) {
            return label.clone();
        }
        // The two reserved names are in the map but not in the budget.
        if known.len() - 2 >= self.max_routes {
            return self.overflow.clone();
        }
        let label = RouteLabel(Arc::from(route));
        known.insert(Box::from(route), label.clone());
        label
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.known.read().unwrap().len() - 2
    }
}

impl fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTable")
            .field("max_routes", &self.max_routes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_label_and_the_budget_holds() {
        let table = RouteTable::new(2);
        let a = table.label(Some("/a"));
        assert_eq!(a, table.label(Some("/a")));
        assert_eq!(table.label(None).as_str(), UNMATCHED_ROUTE);
        let b = table.label(Some("/b"));
        assert_ne!(a, b);
        assert_eq!(table.label(Some("/c")).as_str(), OVERFLOW_ROUTE);
        assert_eq!(table.label(Some("/d")), table.label(Some("/e")));
        // Names seen before the budget ran out keep their label.
        assert_eq!(table.label(Some("/b")), b);
        // The reserved names are not new routes.
        assert_eq!(table.label(Some(UNMATCHED_ROUTE)), table.label(None));
        assert_eq!(table.len(), 2);
    }
}
