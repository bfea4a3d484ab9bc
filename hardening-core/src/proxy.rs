//! Client address and scheme of a request, behind trusted reverse proxies.
//!
//! A reverse proxy tells the service who its client was with `Forwarded`
//! (RFC 7239) or `X-Forwarded-For` / `X-Forwarded-Proto`. Anybody can send
//! those headers, so they are believed only when the TCP peer is a proxy you
//! configured by CIDR, and only the hops that your proxies appended are used:
//! the list is walked right to left, skipping trusted proxies, and the first
//! address that is not a trusted proxy is the client. Whatever a client wrote
//! into the header itself sits to the left of that and is never read, so a
//! client can never choose its own address.
//!
//! # Which header
//!
//! [`TrustedProxies`] reads exactly one header family, chosen with
//! [`ProxyHeader`] (default [`ProxyHeader::XForwardedFor`], what nginx, HAProxy
//! and the cloud load balancers append). Reading the other family as well would
//! let a client inject, say, `Forwarded: for=1.2.3.4` through a proxy that only
//! appends `X-Forwarded-For`. Pick the one your proxies write.
//!
//! # Hostile bytes
//!
//! Field lines are cut into members at every `,` byte, on the raw bytes and
//! without honouring quotes, before anything is decoded. Whatever a client
//! writes — obs-text, an unterminated `"`, brackets, `;` — therefore stays
//! inside its own members and cannot change how the members a proxy
//! appended to its right are read, whether the proxy appended to the
//! client's line or added a line of its own. `Forwarded` elements are then
//! parsed strictly (a malformed element stops the walk, it never borrows
//! from its neighbour). At most [`MAX_HOPS`] members are read.
//!
//! The scheme ([`TrustedProxies::scheme`]) comes from the connection
//! ([`ConnectionScheme`]) or a trusted proxy only, never from the request
//! target, which the client writes.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, SocketAddr};
//! use hardening_core::proxy::{PeerAddr, Scheme, TrustedProxies};
//!
//! let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
//!
//! // A request relayed by the load balancer at 10.0.0.2 ...
//! let mut req = http::Request::builder()
//!     .uri("/login")
//!     .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
//!     .header("x-forwarded-proto", "https")
//!     .body(())
//!     .unwrap();
//! req.extensions_mut().insert(PeerAddr("10.0.0.2:41000".parse::<SocketAddr>().unwrap()));
//!
//! // ... came from 203.0.113.9 (the client forged "6.6.6.6" itself) over HTTPS.
//! assert_eq!(proxies.client_ip(&req), Some("203.0.113.9".parse::<IpAddr>().unwrap()));
//! assert_eq!(proxies.scheme(&req), Scheme::Https);
//!
//! // The same headers straight from an untrusted peer are ignored.
//! req.extensions_mut().insert(PeerAddr("198.51.100.7:5000".parse::<SocketAddr>().unwrap()));
//! assert_eq!(proxies.client_ip(&req), Some("198.51.100.7".parse::<IpAddr>().unwrap()));
//! assert_eq!(proxies.scheme(&req), Scheme::Http);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use http::header::{HeaderMap, HeaderName};
use http::{Extensions, Request};
use ipnet::IpNet;

/// How many hops of a forwarding chain are walked at most. Real chains have a
/// handful; the bound keeps a hostile header from costing more than that.
pub const MAX_HOPS: usize = 32;

/// The peer address of the connection a request arrived on, as a request
/// extension.
///
/// Plain hyper serving code inserts it (axum users get the same from
/// `ConnectInfo<SocketAddr>` when the `axum` feature is on):
///
/// ```
/// use std::net::SocketAddr;
/// use hardening_core::proxy::{peer_addr, PeerAddr};
///
/// let peer: SocketAddr = "192.0.2.1:4242".parse().unwrap();
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(PeerAddr(peer));
/// assert_eq!(peer_addr(req.extensions()), Some(peer));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The scheme of the connection a request arrived on, as a request extension.
///
/// A TLS acceptor inserts `ConnectionScheme(Scheme::Https)` on the requests it
/// decrypts, so [`TrustedProxies::scheme`] knows the connection was secure even
/// though HTTP/1.1 request targets carry no scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionScheme(pub Scheme);

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain text HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// `http` or `https`, case-insensitive, surrounded by optional
    /// whitespace; anything else (quotes included) is `None`.
    fn parse(value: &[u8]) -> Option<Self> {
        let value = value.trim_ascii();
        if value.eq_ignore_ascii_case(b"https") {
            Some(Scheme::Https)
        } else if value.eq_ignore_ascii_case(b"http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The peer address of the connection, from [`PeerAddr`] or (feature `axum`)
/// axum's `ConnectInfo<SocketAddr>`. `None` when the server inserted neither.
pub fn peer_addr(extensions: &Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*addr);
    }
    None
}

/// Which forwarding headers the trusted proxies write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProxyHeader {
    /// `X-Forwarded-For` for the client and `X-Forwarded-Proto` for the scheme.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=...;proto=...`.
    Forwarded,
}

/// A CIDR in a trusted-proxy list did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProxyCidr {
    /// The entry as given.
    pub value: String,
}

impl fmt::Display for InvalidProxyCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trusted proxy `{}` is neither an IP address nor a CIDR such as 10.0.0.0/8",
            self.value
        )
    }
}

impl std::error::Error for InvalidProxyCidr {}

/// The reverse proxies whose forwarding headers are believed.
///
/// The default trusts nobody: forwarding headers are ignored and the client is
/// the TCP peer.
///
/// # Clone
///
/// Cloning copies the (short) list of networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ProxyHeader,
}

impl TrustedProxies {
    /// Trusts no proxy.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts the given networks.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            nets: nets.into_iter().map(|n| n.trunc()).collect(),
            header: ProxyHeader::default(),
        }
    }

    /// Trusts the given CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single
    /// addresses (`127.0.0.1`).
    ///
    /// # Errors
    ///
    /// [`InvalidProxyCidr`] naming the first entry that is neither.
    pub fn parse<I, S>(cidrs: I) -> Result<Self, InvalidProxyCidr>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nets = cidrs
            .into_iter()
            .map(|s| parse_net(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(nets))
    }

    /// Trusts loopback (`127.0.0.0/8`, `::1`): a proxy on the same host.
    pub fn loopback() -> Self {
        Self::new([
            IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
            IpNet::new_assert(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
        ])
    }

    /// Trusts loopback and the private ranges (`10/8`, `172.16/12`,
    /// `192.168/16`, `fc00::/7`): the usual shape inside a cluster.
    pub fn private_networks() -> Self {
        let mut proxies = Self::loopback();
        proxies.nets.extend([
            IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
            IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12),
            IpNet::new_assert(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16),
            IpNet::new_assert(IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7),
        ]);
        proxies
    }

    /// Reads `header` instead of the default `X-Forwarded-For`.
    pub fn with_header(mut self, header: ProxyHeader) -> Self {
        self.header = header;
        self
    }

    /// The header family read.
    pub fn header(&self) -> ProxyHeader {
        self.header
    }

    /// The trusted networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether nobody is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy. IPv4-mapped IPv6 addresses
    /// (`::ffff:10.0.0.1`) count as their IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of `req`: the peer address when the peer is not a
    /// trusted proxy, else the first untrusted hop of the forwarding header,
    /// walked right to left. `None` when the server recorded no peer address
    /// (see [`peer_addr`]).
    pub fn client_ip<B>(&self, req: &Request<B>) -> Option<IpAddr> {
        let peer = peer_addr(req.extensions())?;
        Some(self.client_ip_from(peer.ip(), req.headers()))
    }

    /// [`client_ip`](Self::client_ip) from a known peer address and headers.
    ///
    /// When a hop the proxies wrote cannot be read (`unknown`, an obfuscated
    /// identifier, garbage, a malformed `Forwarded` element), the walk stops
    /// there and the address of the proxy that reported it is returned: the
    /// client behind it cannot be told apart, and it is never an address the
    /// client chose. The result is canonical ([`canonical_ip`]).
    pub fn client_ip_from(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.walk(peer, headers).client
    }

    /// The scheme the client used: the connection's ([`ConnectionScheme`]),
    /// else — only when the TCP peer is a trusted proxy — the forwarded proto,
    /// else `http`.
    ///
    /// With `X-Forwarded-Proto` the rightmost value is used (the one the
    /// nearest proxy wrote); with `Forwarded`, the `proto` of the element that
    /// names the client.
    ///
    /// The request target is never read: an absolute-form target
    /// (`GET https://example.com/ HTTP/1.1`) and an h2c `:scheme` are written
    /// by the client, so a plaintext client could claim HTTPS with them.
    pub fn scheme<B>(&self, req: &Request<B>) -> Scheme {
        if let Some(ConnectionScheme(scheme)) = req.extensions().get::<ConnectionScheme>() {
            return *scheme;
        }
        peer_addr(req.extensions())
            .and_then(|peer| self.forwarded_scheme_from(peer.ip(), req.headers()))
            .unwrap_or(Scheme::Http)
    }

    /// The scheme reported by the trusted proxies, if `peer` is one of them
    /// and they reported one.
    pub fn forwarded_scheme_from(&self, peer: IpAddr, headers: &HeaderMap) -> Option<Scheme> {
        if !self.contains(peer) {
            return None;
        }
        match self.header {
            ProxyHeader::XForwardedFor => {
                let last = list_members_rev(headers, &X_FORWARDED_PROTO).next()?;
                Scheme::parse(last)
            }
            ProxyHeader::Forwarded => self.walk(peer, headers).proto,
        }
    }

    fn walk(&self, peer: IpAddr, headers: &HeaderMap) -> Hop {
        let peer = canonical_ip(peer);
        let mut current = Hop {
            client: peer,
            proto: None,
            members_read: 0,
        };
        if !self.contains(peer) {
            return current;
        }
        let name = match self.header {
            ProxyHeader::XForwardedFor => &X_FORWARDED_FOR,
            ProxyHeader::Forwarded => &http::header::FORWARDED,
        };
        for member in list_members_rev(headers, name) {
            current.members_read += 1;
            let (ip, proto) = match self.header {
                ProxyHeader::XForwardedFor => (parse_node(member), None),
                ProxyHeader::Forwarded => match ForwardedElement::parse(member) {
                    Some(element) => (element.for_node.and_then(parse_node), element.proto),
                    None => (None, None),
                },
            };
            let Some(ip) = ip else { break };
            current.client = ip;
            current.proto = proto;
            if !self.contains(ip) {
                break;
            }
        }
        current
    }
}

impl FromStr for TrustedProxies {
    type Err = InvalidProxyCidr;

    /// Parses a comma- or whitespace-separated list, as found in an
    /// environment variable (`"10.0.0.0/8, 192.168.0.0/16"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(
            s.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|part| !part.is_empty()),
        )
    }
}

/// `ip` in the one form to compare, match and key on: an IPv4-mapped IPv6
/// address (`::ffff:127.0.0.1`, what a dual-stack socket reports for an
/// IPv4 client) becomes its IPv4 address; every other address is unchanged.
///
/// ```
/// use std::net::IpAddr;
/// use hardening_core::proxy::canonical_ip;
///
/// let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
/// assert_eq!(canonical_ip(mapped), "203.0.113.9".parse::<IpAddr>().unwrap());
/// ```
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whether `ip` is a loopback address (`127.0.0.0/8`, `::1`), IPv4-mapped
/// forms (`::ffff:127.0.0.1`) included: the test every "local requests
/// only" rule of the hardening crates uses.
///
/// ```
/// use std::net::IpAddr;
/// use hardening_core::proxy::is_loopback;
///
/// let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
/// assert!(is_loopback(mapped));
/// assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
/// ```
pub fn is_loopback(ip: IpAddr) -> bool {
    canonical_ip(ip).is_loopback()
}

#[derive(Debug)]
struct Hop {
    client: IpAddr,
    proto: Option<Scheme>,
    /// List members looked at, at most [`MAX_HOPS`].
    members_read: usize,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The members of every `name` field line, right to left, at most
/// [`MAX_HOPS`] of them.
///
/// Lines are split at every `,` byte, on the raw bytes: a line is never
/// decoded as a whole, so a byte a client wrote (obs-text, a quote, an
/// unbalanced bracket) stays inside its own member and cannot change how the
/// members to its right — the ones the proxies appended — are cut. No member
/// of a forwarding header needs a literal comma (RFC 7239 `node` values and
/// `proto` never contain one), so quotes are deliberately not honoured here.
/// The iterator is lazy: it reads the bytes of the members it yields and
/// nothing further left.
fn list_members_rev<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .iter()
        .rev()
        .flat_map(|line| line.as_bytes().rsplit(|&b| b == b','))
        .take(MAX_HOPS)
}

fn parse_net(s: &str) -> Result<IpNet, InvalidProxyCidr> {
    let trimmed = s.trim();
    trimmed
        .parse::<IpNet>()
        .or_else(|_| trimmed.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| InvalidProxyCidr {
            value: s.to_owned(),
        })
}

/// The longest node worth parsing: `[` + a 45-character IPv6 address + a
/// zone id + `]:65535` fits easily. Longer members are not addresses, and
/// the cap keeps the parse of one member constant-time.
const MAX_NODE_LEN: usize = 96;

/// Parses one hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`, surrounded by optional whitespace. Anything else
/// (`unknown`, an obfuscated `_id`, quotes, zone ids outside brackets,
/// obs-text) is `None`.
fn parse_node(raw: &[u8]) -> Option<IpAddr> {
    let raw = raw.trim_ascii();
    if raw.is_empty() || raw.len() > MAX_NODE_LEN || !raw.is_ascii() {
        return None;
    }
    let s = std::str::from_utf8(raw).ok()?;
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical_ip(ip));
    }
    if let Ok(sock) = s.parse::<SocketAddr>() {
        return Some(canonical_ip(sock.ip()));
    }
    // `[2001:db8::1]` without a port
    let inner = s.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<Ipv6Addr>()
        .ok()
        .map(|ip| canonical_ip(IpAddr::V6(ip)))
}

/// One RFC 7239 `forwarded-element`: `pair *( ";" pair )`, with
/// `pair = token "=" ( token / quoted-string )`.
#[derive(Debug, Default, PartialEq, Eq)]
struct ForwardedElement<'a> {
    /// The `for` value, unquoted.
    for_node: Option<&'a [u8]>,
    proto: Option<Scheme>,
}

impl<'a> ForwardedElement<'a> {
    /// Parses one element (already cut at commas by [`list_members_rev`]).
    /// `None` for anything malformed: a pair without `=`, a name that is
    /// not a token, an unterminated or embedded quote, a repeated `for` or
    /// `proto`. A malformed element stops the walk like an unreadable hop
    /// does; it never borrows bytes from a neighbouring element.
    fn parse(element: &'a [u8]) -> Option<Self> {
        let mut parsed = ForwardedElement::default();
        let mut seen_proto = false;
        for pair in element.split(|&b| b == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                continue;
            }
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (name, value) = (&pair[..eq], unquote(&pair[eq + 1..])?);
            if name.is_empty() || !name.iter().copied().all(is_tchar) {
                return None;
            }
            if name.eq_ignore_ascii_case(b"for") {
                if parsed.for_node.replace(value).is_some() {
                    return None;
                }
            } else if name.eq_ignore_ascii_case(b"proto") {
                if std::mem::replace(&mut seen_proto, true) {
                    return None;
                }
                parsed.proto = Scheme::parse(value);
            }
        }
        Some(parsed)
    }
}

/// A `token` as is, or the inside of a `quoted-string` that holds no `"`
/// and no `\` (no value this parser reads needs a quoted-pair). `None`
/// otherwise, unterminated quotes included.
fn unquote(value: &[u8]) -> Option<&[u8]> {
    let inner = match value {
        [b'"', inner @ .., b'"'] => inner,
        _ => value,
    };
    (!inner.iter().any(|&b| b == b'"' || b == b'\\')).then_some(inner)
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn lb() -> TrustedProxies {
        TrustedProxies::parse(["10.0.0.0/8", "192.168.1.1"]).unwrap()
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=2.2.2.2")]);
        assert_eq!(
            lb().client_ip_from(ip("203.0.113.5"), &h),
            ip("203.0.113.5")
        );
        let fwd = lb().with_header(ProxyHeader::Forwarded);
        assert_eq!(fwd.client_ip_from(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        assert_eq!(
            TrustedProxies::none().client_ip_from(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn walks_right_to_left_skipping_trusted_hops() {
        let h = headers(&[(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.9, 10.1.1.1, 192.168.1.1",
        )]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn several_header_lines_form_one_list() {
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9, 10.1.1.1"),
        ]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn all_trusted_chain_yields_leftmost() {
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("10.9.9.9"));
    }

    #[test]
    fn missing_header_from_trusted_peer_yields_peer() {
        assert_eq!(
            lb().client_ip_from(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn unreadable_hop_stops_at_reporting_proxy() {
        let h = headers(&[("x-forwarded-for", "203.0.113.9, garbage, 10.1.1.1")]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("10.1.1.1"));
        let h = headers(&[("x-forwarded-for", "")]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443, 203.0.113.9:5555")]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "::ffff:203.0.113.9")]);
        assert_eq!(
            lb().client_ip_from(ip("::ffff:10.0.0.2"), &h),
            ip("203.0.113.9")
        );
        let h = headers(&[("x-forwarded-for", "2001:db8::7")]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("2001:db8::7"));
    }

    #[test]
    fn forwarded_header_with_quotes_and_proto() {
        let proxies = lb().with_header(ProxyHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            r#"for=6.6.6.6;proto=https, for="[2001:db8:cafe::17]:4711";proto=https, for=10.1.1.1;proto=http"#,
        )]);
        assert_eq!(
            proxies.client_ip_from(ip("10.0.0.2"), &h),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            proxies.forwarded_scheme_from(ip("10.0.0.2"), &h),
            Some(Scheme::Https)
        );
        // a proxy that only appends X-Forwarded-For: an injected Forwarded is not read
        let h = headers(&[
            ("forwarded", "for=6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn forwarded_unknown_and_obfuscated_stop_the_walk() {
        let proxies = lb().with_header(ProxyHeader::Forwarded);
        let h = headers(&[("forwarded", "for=unknown, for=10.1.1.1")]);
        assert_eq!(proxies.client_ip_from(ip("10.0.0.2"), &h), ip("10.1.1.1"));
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(proxies.client_ip_from(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn scheme_detection() {
        let proxies = lb();
        let mut req = Request::builder()
            .uri("/")
            .header("x-forwarded-proto", "http, https")
            .body(())
            .unwrap();
        assert_eq!(
            proxies.scheme(&req),
            Scheme::Http,
            "no peer: headers unused"
        );
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.3:1".parse().unwrap()));
        assert_eq!(
            proxies.scheme(&req),
            Scheme::Https,
            "rightmost proto from trusted peer"
        );
        req.extensions_mut()
            .insert(PeerAddr("8.8.8.8:1".parse().unwrap()));
        assert_eq!(
            proxies.scheme(&req),
            Scheme::Http,
            "forged by untrusted peer"
        );
        req.extensions_mut().insert(ConnectionScheme(Scheme::Https));
        assert_eq!(proxies.scheme(&req), Scheme::Https, "TLS connection");
    }

    /// Issue 11 item 4: the request target is the client's word, never the
    /// connection's.
    #[test]
    fn absolute_form_target_does_not_set_the_scheme() {
        for peer in ["203.0.113.7:1", "10.0.0.3:1"] {
            let mut req = Request::builder()
                .uri("https://example.com/")
                .body(())
                .unwrap();
            req.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
            assert_eq!(lb().scheme(&req), Scheme::Http, "{peer}");
        }
        let no_peer = Request::builder()
            .uri("https://example.com/")
            .body(())
            .unwrap();
        assert_eq!(lb().scheme(&no_peer), Scheme::Http);
        // the trusted proxy's word still counts, and the connection's wins
        let mut req = Request::builder()
            .uri("http://example.com/")
            .header("x-forwarded-proto", "https")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(PeerAddr("10.0.0.3:1".parse().unwrap()));
        assert_eq!(lb().scheme(&req), Scheme::Https);
        req.extensions_mut().insert(ConnectionScheme(Scheme::Http));
        assert_eq!(lb().scheme(&req), Scheme::Http);
    }

    #[test]
    fn parse_errors_name_the_entry() {
        let err = TrustedProxies::parse(["10.0.0.0/8", "10.0.0.0/99"]).unwrap_err();
        assert_eq!(err.value, "10.0.0.0/99");
        assert!(err.to_string().contains("10.0.0.0/99"));
        assert!("not-an-ip".parse::<TrustedProxies>().is_err());
        let parsed: TrustedProxies = "10.0.0.0/8, 127.0.0.1 ::1".parse().unwrap();
        assert_eq!(parsed.networks().len(), 3);
        assert!(parsed.contains(ip("127.0.0.1")));
        assert!(!parsed.contains(ip("127.0.0.2")));
    }

    #[test]
    fn presets() {
        assert!(TrustedProxies::loopback().contains(ip("127.8.0.1")));
        assert!(TrustedProxies::loopback().contains(ip("::1")));
        let private = TrustedProxies::private_networks();
        for addr in ["10.1.2.3", "172.20.0.1", "192.168.5.5", "fd00::1"] {
            assert!(private.contains(ip(addr)), "{addr}");
        }
        assert!(!private.contains(ip("172.32.0.1")));
    }

    fn raw_headers(name: &'static str, lines: &[Vec<u8>]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(name, HeaderValue::from_bytes(line).unwrap());
        }
        map
    }

    /// Issue 11 item 2: obs-text in the client's part of a line that a proxy
    /// appended to stays in the client's member.
    #[test]
    fn obs_text_does_not_hide_the_appended_hop() {
        let proxies = TrustedProxies::loopback();
        let h = raw_headers("x-forwarded-for", &[b"\x80, 203.0.113.7".to_vec()]);
        assert_eq!(
            proxies.client_ip_from(ip("127.0.0.1"), &h),
            ip("203.0.113.7")
        );
        let h = raw_headers(
            "x-forwarded-for",
            &[b"\xff\xfe".to_vec(), b"203.0.113.7".to_vec()],
        );
        assert_eq!(
            proxies.client_ip_from(ip("127.0.0.1"), &h),
            ip("203.0.113.7")
        );
        // obs-text in a hop a proxy wrote still stops the walk at that proxy
        let h = raw_headers(
            "x-forwarded-for",
            &[b"203.0.113.7, \x80, 10.1.1.1".to_vec()],
        );
        assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), ip("10.1.1.1"));
    }

    /// Issue 11 item 3: an unterminated quote in the client's element cannot
    /// swallow the element the proxy appended, on the same line or the next.
    #[test]
    fn unclosed_quote_does_not_swallow_the_appended_element() {
        let proxies = lb().with_header(ProxyHeader::Forwarded);
        let h = headers(&[("forwarded", r#"for=1.2.3.4;x=", for=203.0.113.9"#)]);
        assert_eq!(
            proxies.client_ip_from(ip("10.0.0.2"), &h),
            ip("203.0.113.9")
        );
        let h = headers(&[
            ("forwarded", r#"for=1.2.3.4;x=""#),
            ("forwarded", "for=203.0.113.9;proto=http"),
        ]);
        assert_eq!(
            proxies.client_ip_from(ip("10.0.0.2"), &h),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.forwarded_scheme_from(ip("10.0.0.2"), &h),
            Some(Scheme::Http)
        );
        // a quote that closes in the proxy's element is no better
        let h = headers(&[(
            "forwarded",
            r#"for="1.2.3.4, for=203.0.113.9;proto="https""#,
        )]);
        assert_eq!(
            proxies.client_ip_from(ip("10.0.0.2"), &h),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_elements() {
        fn parse(s: &str) -> Option<ForwardedElement<'_>> {
            ForwardedElement::parse(s.as_bytes())
        }
        let e = parse(r#" For="[2001:db8::1]:80" ; PROTO=https;by=_x "#).unwrap();
        assert_eq!(e.for_node, Some(&b"[2001:db8::1]:80"[..]));
        assert_eq!(e.proto, Some(Scheme::Https));
        assert_eq!(parse(";;"), Some(ForwardedElement::default()));
        for bad in [
            r#"for="1.2.3.4"#,
            r#"for=1.2.3.4";"#,
            r#"for="1.2"3.4""#,
            r#"for="1.2.3.4\"""#,
            "for",
            "for=1.2.3.4;for=5.6.7.8",
            "for=1.2.3.4;proto=http;proto=https",
            "f r=1",
            "=1.2.3.4",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_and_loopback_helpers() {
        assert_eq!(canonical_ip(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(canonical_ip(ip("2001:db8::1")), ip("2001:db8::1"));
        for yes in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip(yes)), "{yes}");
        }
        for no in ["10.0.0.1", "::ffff:10.0.0.1", "::2", "::127.0.0.1"] {
            assert!(!is_loopback(ip(no)), "{no}");
        }
    }

    /// Work is bounded by MAX_HOPS members, whatever the header's size.
    #[test]
    fn long_chains_are_cut_at_max_hops() {
        let long = "10.0.0.1, ".repeat(100_000) + "10.0.0.1";
        let h = headers(&[("x-forwarded-for", &long)]);
        let hop = lb().walk(ip("10.0.0.2"), &h);
        assert_eq!(hop.members_read, MAX_HOPS);
        assert_eq!(hop.client, ip("10.0.0.1"));
        let mut many_lines = HeaderMap::new();
        for _ in 0..10_000 {
            many_lines.append("forwarded", HeaderValue::from_static("for=10.0.0.7"));
        }
        let hop = lb()
            .with_header(ProxyHeader::Forwarded)
            .walk(ip("10.0.0.2"), &many_lines);
        assert_eq!(hop.members_read, MAX_HOPS);
        // one huge member is rejected by length before any parse
        let huge = "1".repeat(1 << 20);
        assert_eq!(parse_node(huge.as_bytes()), None);
    }

    /// Bytes a hostile client puts in front of what the proxies append:
    /// every byte a header value can carry, and the fragments that confuse
    /// list, quote and address parsers.
    fn client_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff].prop_map(|b| vec![b]);
        let fragment = proptest::sample::select(vec![
            &b"\""[..],
            b"\\",
            b";",
            b",",
            b"=",
            b"[",
            b"]",
            b":",
            b" ",
            b"\x80",
            b"\xff",
            b"for=",
            b"for=\"",
            b"For=\"[",
            b"proto=https",
            b";proto=\"https",
            b";x=\"",
            b"unknown",
            b"_hidden",
            b"127.0.0.1",
            b"10.0.0.1",
            b"::ffff:127.0.0.1",
            b"[::1]",
            b"[fe80::1%eth0]:80",
            b"fe80::1%25eth0",
            b"[::1]:443",
            b":65535",
            b"\\\"",
        ])
        .prop_map(<[u8]>::to_vec);
        proptest::collection::vec(prop_oneof![byte, fragment], 0..24).prop_map(|v| v.concat())
    }

    /// An address the trusted proxy saw (never one of `lb()`'s own).
    fn real_client() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<Ipv4Addr>().prop_map(IpAddr::V4),
            any::<Ipv6Addr>().prop_map(IpAddr::V6),
        ]
        .prop_filter("not a trusted proxy", |ip| !lb().contains(*ip))
    }

    /// How a proxy writes `ip` into X-Forwarded-For.
    fn xff_hop(ip: IpAddr, port: Option<u16>) -> Vec<u8> {
        match (ip, port) {
            (_, None) => ip.to_string(),
            (IpAddr::V4(v4), Some(p)) => format!("{v4}:{p}"),
            (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
        }
        .into_bytes()
    }

    /// How a proxy writes `ip` and `proto` as a `Forwarded` element.
    fn forwarded_hop(ip: IpAddr, port: Option<u16>, proto: Option<Scheme>) -> Vec<u8> {
        let node = match (ip, port) {
            (IpAddr::V4(v4), None) => v4.to_string(),
            (IpAddr::V4(v4), Some(p)) => format!("\"{v4}:{p}\""),
            (IpAddr::V6(v6), None) => format!("\"[{v6}]\""),
            (IpAddr::V6(v6), Some(p)) => format!("\"[{v6}]:{p}\""),
        };
        match proto {
            Some(proto) => format!("for={node};proto={proto}"),
            None => format!("for={node}"),
        }
        .into_bytes()
    }

    fn separator() -> impl Strategy<Value = &'static [u8]> {
        proptest::sample::select(vec![&b","[..], b", ", b" ,\t"])
    }

    fn proto() -> impl Strategy<Value = Option<Scheme>> {
        proptest::option::of(prop_oneof![Just(Scheme::Http), Just(Scheme::Https)])
    }

    /// The proxy's hops appended to the client's bytes on the same line, or
    /// after the client's own lines: `[client lines..] + proxy line`.
    fn lines(
        client: Vec<Vec<u8>>,
        same_line: bool,
        sep: &[u8],
        hops: Vec<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let appended = hops.join(&b", "[..]);
        let mut lines = client;
        match lines.last_mut() {
            Some(last) if same_line => {
                last.extend_from_slice(sep);
                last.extend_from_slice(&appended);
            }
            _ => lines.push(appended),
        }
        lines
    }

    /// Any bytes (cut into lines at the bytes a header value cannot carry).
    fn header_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes
            .split(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
            .map(<[u8]>::to_vec)
            .collect()
    }

    proptest! {
        /// Issue 11 items 2 and 3, the contract: whatever the client writes
        /// (any lines, any bytes) in front of what one trusted proxy
        /// appended, the resolved client is exactly the hop it appended, for
        /// both header families, on the client's line or a line of its own.
        #[test]
        fn appended_hop_is_the_client(client in proptest::collection::vec(client_bytes(), 0..4),
                                      same_line in any::<bool>(),
                                      sep in separator(),
                                      real in real_client(),
                                      port in proptest::option::of(any::<u16>()),
                                      proto in proto()) {
            let peer = ip("10.0.0.2");
            let want = canonical_ip(real);
            let xff = raw_headers("x-forwarded-for",
                &lines(client.clone(), same_line, sep, vec![xff_hop(real, port)]));
            let hop = lb().walk(peer, &xff);
            prop_assert_eq!(hop.client, want);
            prop_assert!(hop.members_read <= MAX_HOPS);

            let fwd = lb().with_header(ProxyHeader::Forwarded);
            let h = raw_headers("forwarded",
                &lines(client, same_line, sep, vec![forwarded_hop(real, port, proto)]));
            prop_assert_eq!(fwd.client_ip_from(peer, &h), want);
            prop_assert_eq!(fwd.forwarded_scheme_from(peer, &h), proto);
        }

        /// The same behind a chain of two trusted proxies: the outer one
        /// appended the client, the inner one appended the outer one.
        #[test]
        fn chain_of_two_trusted_proxies(client in proptest::collection::vec(client_bytes(), 0..4),
                                        same_line in any::<bool>(),
                                        own_lines in any::<bool>(),
                                        sep in separator(),
                                        real in real_client(),
                                        port in proptest::option::of(any::<u16>()),
                                        proto in proto()) {
            let peer = ip("10.0.0.2");
            let outer = ip("10.1.1.1");
            let want = canonical_ip(real);
            let build = |client: Vec<Vec<u8>>, hop: Vec<u8>, inner: Vec<u8>| {
                if own_lines {
                    // each proxy adds a line of its own
                    let mut l = lines(client, same_line, sep, vec![hop]);
                    l.push(inner);
                    l
                } else {
                    lines(client, same_line, sep, vec![hop, inner])
                }
            };
            let xff = raw_headers("x-forwarded-for",
                &build(client.clone(), xff_hop(real, port), xff_hop(outer, None)));
            prop_assert_eq!(lb().client_ip_from(peer, &xff), want);

            let fwd = lb().with_header(ProxyHeader::Forwarded);
            let h = raw_headers("forwarded", &build(
                client,
                forwarded_hop(real, port, proto),
                forwarded_hop(outer, None, Some(Scheme::Http)),
            ));
            prop_assert_eq!(fwd.client_ip_from(peer, &h), want);
            prop_assert_eq!(fwd.forwarded_scheme_from(peer, &h), proto);
        }

        /// X-Forwarded-Proto: the rightmost value, the one the proxy
        /// appended or set, whatever the client sent before it.
        #[test]
        fn appended_proto_is_the_scheme(client in proptest::collection::vec(client_bytes(), 0..4),
                                        same_line in any::<bool>(),
                                        sep in separator(),
                                        https in any::<bool>()) {
            let scheme = if https { Scheme::Https } else { Scheme::Http };
            let h = raw_headers("x-forwarded-proto",
                &lines(client, same_line, sep, vec![scheme.as_str().as_bytes().to_vec()]));
            prop_assert_eq!(lb().forwarded_scheme_from(ip("10.0.0.2"), &h), Some(scheme));
            prop_assert_eq!(lb().forwarded_scheme_from(ip("203.0.113.1"), &h), None);
        }

        /// Arbitrary bytes in every forwarding header: no panic, at most
        /// MAX_HOPS members read, and from an untrusted peer nothing is
        /// believed.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let lines = header_lines(&bytes);
            let mut h = raw_headers("x-forwarded-for", &lines);
            for line in &lines {
                h.append("forwarded", HeaderValue::from_bytes(line).unwrap());
                h.append("x-forwarded-proto", HeaderValue::from_bytes(line).unwrap());
            }
            let untrusted = ip("203.0.113.1");
            for proxies in [lb(), lb().with_header(ProxyHeader::Forwarded)] {
                prop_assert_eq!(proxies.client_ip_from(untrusted, &h), untrusted);
                prop_assert_eq!(proxies.forwarded_scheme_from(untrusted, &h), None);
                let hop = proxies.walk(ip("10.0.0.1"), &h);
                prop_assert!(hop.members_read <= MAX_HOPS);
                let _ = proxies.forwarded_scheme_from(ip("10.0.0.1"), &h);
            }
            let _ = parse_node(&bytes);
            let _ = ForwardedElement::parse(&bytes);
            let _ = Scheme::parse(&bytes);
        }

        /// Whatever an untrusted client writes in front of the proxies' hops,
        /// the resolved client is the address the trusted proxy saw.
        #[test]
        fn client_cannot_choose_its_address(forged in proptest::collection::vec("[ -~]{0,40}", 0..6),
                                             a in any::<[u8; 4]>()) {
            let real = IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
            prop_assume!(!lb().contains(real));
            let mut list: Vec<String> = forged.iter().map(|s| s.replace(',', " ")).collect();
            list.push(real.to_string());
            list.push("10.1.1.1".into());
            let h = headers(&[("x-forwarded-for", &list.join(", "))]);
            prop_assert_eq!(lb().client_ip_from(ip("10.0.0.2"), &h), real);
        }

        /// Arbitrary header bytes never panic and never yield a trusted-looking
        /// address from an untrusted peer.
        #[test]
        fn hostile_headers_never_panic(value in "[ -~]{0,200}") {
            let h = headers(&[("x-forwarded-for", &value), ("forwarded", &value), ("x-forwarded-proto", &value)]);
            let peer = ip("203.0.113.1");
            prop_assert_eq!(lb().client_ip_from(peer, &h), peer);
            let _ = lb().with_header(ProxyHeader::Forwarded).client_ip_from(ip("10.0.0.1"), &h);
            let _ = lb().forwarded_scheme_from(ip("10.0.0.1"), &h);
        }
    }
}
