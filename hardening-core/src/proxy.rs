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

    fn parse(value: &str) -> Option<Self> {
        let value = value.trim().trim_matches('"');
        if value.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if value.eq_ignore_ascii_case("http") {
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
        let ip = ip.to_canonical();
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
    /// identifier, garbage), the walk stops there and the address of the
    /// proxy that reported it is returned: the client behind it cannot be
    /// told apart, and it is never an address the client chose.
    pub fn client_ip_from(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.walk(peer, headers).client
    }

    /// The scheme the client used: the connection's ([`ConnectionScheme`]),
    /// else the request URI's, else — only when the peer is a trusted proxy —
    /// the forwarded proto, else `http`.
    ///
    /// With `X-Forwarded-Proto` the rightmost value is used (the one the
    /// nearest proxy wrote); with `Forwarded`, the `proto` of the element that
    /// names the client.
    pub fn scheme<B>(&self, req: &Request<B>) -> Scheme {
        if let Some(ConnectionScheme(scheme)) = req.extensions().get::<ConnectionScheme>() {
            return *scheme;
        }
        if let Some(scheme) = req.uri().scheme_str().and_then(Scheme::parse) {
            return scheme;
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
                let last = header_values(headers, &X_FORWARDED_PROTO)
                    .flat_map(|v| v.split(','))
                    .next_back()?;
                Scheme::parse(last)
            }
            ProxyHeader::Forwarded => self.walk(peer, headers).proto,
        }
    }

    fn walk(&self, peer: IpAddr, headers: &HeaderMap) -> Hop {
        let peer = peer.to_canonical();
        let mut current = Hop {
            client: peer,
            proto: None,
        };
        if !self.contains(peer) {
            return current;
        }
        match self.header {
            ProxyHeader::XForwardedFor => {
                let hops = header_values(headers, &X_FORWARDED_FOR)
                    .rev()
                    .flat_map(|v| v.rsplit(','))
                    .take(MAX_HOPS);
                for hop in hops {
                    match parse_node(hop) {
                        Some(ip) => {
                            current.client = ip;
                            if !self.contains(ip) {
                                break;
                            }
                        }
                        None => break,
                    }
                }
            }
            ProxyHeader::Forwarded => {
                let elements = header_values(headers, &http::header::FORWARDED)
                    .rev()
                    .flat_map(split_forwarded_elements)
                    .take(MAX_HOPS);
                for element in elements {
                    let (for_value, proto) = parse_forwarded_element(element);
                    match for_value.and_then(parse_node) {
                        Some(ip) => {
                            current = Hop { client: ip, proto };
                            if !self.contains(ip) {
                                break;
                            }
                        }
                        None => break,
                    }
                }
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

#[derive(Debug)]
struct Hop {
    client: IpAddr,
    proto: Option<Scheme>,
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

fn header_values<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> impl DoubleEndedIterator<Item = &'a str> + 'a {
    // A value that is not visible ASCII cannot be a valid hop list. Skipping
    // the field would let a client hide a proxy's hop, so it becomes a hop
    // that fails to parse and stops the walk instead.
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
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

/// Parses one hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`, optionally quoted.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let s = raw.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = s.parse::<SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    let inner = s.strip_prefix('[')?.split(']').next()?;
    inner
        .parse::<Ipv6Addr>()
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

/// Splits a `Forwarded` field value into elements, right to left, honouring
/// quoted strings.
fn split_forwarded_elements(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter().rev()
}

/// The `for` and `proto` parameters of one `Forwarded` element.
fn parse_forwarded_element(element: &str) -> (Option<&str>, Option<Scheme>) {
    let mut for_value = None;
    let mut proto = None;
    for pair in element.split(';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("for") {
            for_value = Some(value.trim());
        } else if name.eq_ignore_ascii_case("proto") {
            proto = Scheme::parse(value);
        }
    }
    (for_value, proto)
}

#[cfg(test)]
mod tests {
    use super::*;
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

        let req = Request::builder()
            .uri("https://example.com/")
            .body(())
            .unwrap();
        assert_eq!(proxies.scheme(&req), Scheme::Https, "absolute URI");
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

    proptest! {
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
