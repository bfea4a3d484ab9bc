//! [`RequestRef`]: a borrowed view of a request's head, independent of the
//! body type, for the small traits (key extractors, classifiers) that decide
//! from the method, URI, headers and extensions alone.

use std::net::SocketAddr;

use http::{Extensions, HeaderMap, Method, Request, Uri};

/// The parts of a request a key extractor or classifier may look at,
/// independent of the body type.
///
/// ```
/// use hardening_core::RequestRef;
///
/// let req = http::Request::get("/api/items?page=2").body(()).unwrap();
/// let head = RequestRef::from(&req);
/// assert_eq!(head.path(), "/api/items");
/// assert_eq!(head.method(), http::Method::GET);
/// assert_eq!(head.peer_addr(), None);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestRef<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestRef<'a> {
    /// A view of the given parts.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        Self {
            method,
            uri,
            headers,
            extensions,
        }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request path.
    pub fn path(&self) -> &'a str {
        self.uri.path()
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions.
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The TCP peer address: [`PeerAddr`](crate::PeerAddr), or (feature
    /// `axum`) axum's `ConnectInfo<SocketAddr>`.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        crate::proxy::peer_addr(self.extensions)
    }
}

impl<'a, B> From<&'a Request<B>> for RequestRef<'a> {
    fn from(req: &'a Request<B>) -> Self {
        Self::new(req.method(), req.uri(), req.headers(), req.extensions())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerAddr;

    #[test]
    fn views_every_part_of_the_head() {
        let mut req = Request::post("https://example.com/a/b?x=1")
            .header("x-api-key", "k")
            .body(())
            .unwrap();
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        req.extensions_mut().insert(PeerAddr(peer));
        let head = RequestRef::from(&req);
        assert_eq!(head.method(), Method::POST);
        assert_eq!(head.uri().query(), Some("x=1"));
        assert_eq!(head.path(), "/a/b");
        assert_eq!(head.headers()["x-api-key"], "k");
        assert_eq!(head.peer_addr(), Some(peer));
    }
}
