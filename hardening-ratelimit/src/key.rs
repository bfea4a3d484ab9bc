//! Who a request is counted against: [`Key`].

use sha2::{Digest, Sha256};
use std::fmt::{self, Write as _};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

/// The identity a request is counted against: a client IP (or IPv6 network),
/// a user id, an API key, everybody ([`Key::global`]) or nobody in particular
/// ([`Key::unknown`]).
///
/// Keys are cheap to clone (IPs are copied, text is reference counted) and
/// hash fast. [`Key::write_storage`] renders the stable text form a shared
/// store (Redis) uses.
///
/// # Example
///
/// ```
/// use hardening_ratelimit::Key;
///
/// let ip = Key::ip("2001:db8:1:2:3:4:5:6".parse().unwrap(), 64);
/// assert_eq!(ip, Key::ip("2001:db8:1:2:ffff::1".parse().unwrap(), 64));
/// assert_eq!(ip.to_storage_string(), "ip:2001:db8:1:2::/64");
/// // Text keys reach a shared store only as SHA-256.
/// assert_eq!(
///     Key::user("alice").to_storage_string(),
///     "user:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90"
/// );
/// assert_eq!(Key::ip("203.0.113.9".parse().unwrap(), 64).to_storage_string(), "ip:203.0.113.9");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Ip(IpAddr),
    Ipv6Net(Ipv6Addr, u8),
    Text(TextKind, Arc<str>),
    Global,
    Unknown,
    Overflow,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum TextKind {
    User,
    Header,
    Custom,
}

impl TextKind {
    fn prefix(self) -> &'static str {
        match self {
            TextKind::User => "user:",
            TextKind::Header => "hdr:",
            TextKind::Custom => "key:",
        }
    }
}

impl Key {
    /// A client address. IPv4 addresses (and IPv4-mapped IPv6 addresses) are
    /// kept whole; IPv6 addresses are grouped into their `/ipv6_prefix`
    /// network (clamped to 1..=128), so one host cannot escape its limit by
    /// rotating through the addresses of its allocation. `/64` is the usual
    /// allocation of one subscriber.
    pub fn ip(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Key(Repr::Ip(IpAddr::V4(v4))),
            IpAddr::V6(v6) => {
                let prefix = ipv6_prefix.clamp(1, 128);
                if prefix == 128 {
                    Key(Repr::Ip(IpAddr::V6(v6)))
                } else {
                    let mask = u128::MAX << (128 - u32::from(prefix));
                    Key(Repr::Ipv6Net(Ipv6Addr::from(u128::from(v6) & mask), prefix))
                }
            }
        }
    }

    /// An authenticated user id.
    pub fn user(id: impl Into<Arc<str>>) -> Self {
        Key(Repr::Text(TextKind::User, id.into()))
    }

    /// A value read from a request header (an API key).
    pub fn header_value(value: impl Into<Arc<str>>) -> Self {
        Key(Repr::Text(TextKind::Header, value.into()))
    }

    /// Any other identity a custom [`KeyExtractor`](crate::KeyExtractor)
    /// computes (a tenant, a session).
    pub fn custom(value: impl Into<Arc<str>>) -> Self {
        Key(Repr::Text(TextKind::Custom, value.into()))
    }

    /// One key shared by every request: a global limit.
    pub const fn global() -> Self {
        Key(Repr::Global)
    }

    /// The shared key of requests whose key could not be extracted (see
    /// [`MissingKey`](crate::MissingKey)).
    pub const fn unknown() -> Self {
        Key(Repr::Unknown)
    }

    /// The shared key of new clients while the in-memory store is full (see
    /// [`InMemoryStore`](crate::InMemoryStore)).
    pub const fn overflow() -> Self {
        Key(Repr::Overflow)
    }

    /// The IP address, or the network address of an IPv6 group.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match &self.0 {
            Repr::Ip(ip) => Some(*ip),
            Repr::Ipv6Net(net, _) => Some(IpAddr::V6(*net)),
            _ => None,
        }
    }

    /// The prefix length of an IP key: 32 for IPv4, the group prefix for
    /// IPv6. `None` for other keys.
    pub fn ip_prefix_len(&self) -> Option<u8> {
        match &self.0 {
            Repr::Ip(IpAddr::V4(_)) => Some(32),
            Repr::Ip(IpAddr::V6(_)) => Some(128),
            Repr::Ipv6Net(_, prefix) => Some(*prefix),
            _ => None,
        }
    }

    /// Appends the key's stable text form to `out`: the name a shared store
    /// (Redis) gives its state.
    ///
    /// | key | form |
    /// |---|---|
    /// | IPv4 / IPv6 address | `ip:203.0.113.9`, `ip:2001:db8::1` |
    /// | IPv6 group | `ip:2001:db8:1:2::/64` |
    /// | user | `user:<hex SHA-256 of the id>` |
    /// | header value | `hdr:<hex SHA-256 of the value>` |
    /// | custom | `key:<hex SHA-256 of the value>` |
    /// | global / unknown / overflow | `global` / `unknown` / `overflow` |
    ///
    /// Distinct keys have distinct forms, and the form does not depend on
    /// the process, so replicas sharing a store agree on it.
    ///
    /// # Security
    ///
    /// **Every text key is hashed.** User ids, header values (API keys,
    /// i.e. secrets) and custom keys are written as their kind's prefix plus
    /// the 64 hex digits of the SHA-256 of the value, never in clear: a
    /// shared store, and anyone running `MONITOR`, `SCAN` or reading a dump
    /// of it, never sees a token, an API key or a user id, while every
    /// replica still derives the same name. The form has a fixed length and
    /// an alphabet without `:`, so no value, whatever bytes it holds, can
    /// produce the name of another key (or of another policy's key).
    ///
    /// This is pseudonymisation, not anonymity: whoever can read the store
    /// *and* guess a low-entropy id (an e-mail address) can confirm the
    /// guess by hashing it. High-entropy secrets (API keys, tokens) cannot
    /// be recovered.
    ///
    /// **IP keys stay readable**, by choice: an address is not a
    /// credential, operators need to find and clear a client's state by its
    /// address, and hashing would not hide it anyway (the IPv4 space can be
    /// hashed whole in minutes). Treat the store as holding personal data.
    pub fn write_storage(&self, out: &mut String) {
        match &self.0 {
            Repr::Text(kind, value) => {
                out.push_str(kind.prefix());
                push_sha256_hex(out, value.as_bytes());
            }
            _ => self.write_plain(out),
        }
    }

    /// Appends the key in clear: the storage form, except that text keys
    /// are written as given. For [`KeyLogging::Full`](crate::KeyLogging::Full)
    /// only; never for a shared store.
    pub(crate) fn write_plain(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match &self.0 {
            Repr::Ip(ip) => write!(out, "ip:{ip}"),
            Repr::Ipv6Net(net, prefix) => write!(out, "ip:{net}/{prefix}"),
            Repr::Text(kind, value) => {
                out.push_str(kind.prefix());
                out.push_str(value);
                Ok(())
            }
            Repr::Global => {
                out.push_str("global");
                Ok(())
            }
            Repr::Unknown => {
                out.push_str("unknown");
                Ok(())
            }
            Repr::Overflow => {
                out.push_str("overflow");
                Ok(())
            }
        };
    }

    /// Feeds `policy` and the key to `state` in as few writes as possible
    /// (the in-memory store hashes this on every request). Equal keys feed
    /// equal data.
    pub(crate) fn hash_with<H: std::hash::Hasher>(&self, policy: u32, state: &mut H) {
        match &self.0 {
            Repr::Ip(IpAddr::V4(v4)) => {
                state.write_u64((u64::from(policy) << 32) | u64::from(u32::from(*v4)))
            }
            Repr::Ip(IpAddr::V6(v6)) => {
                state.write_u128(u128::from(*v6) ^ u128::from(policy));
                state.write_u8(128);
            }
            Repr::Ipv6Net(net, prefix) => {
                state.write_u128(u128::from(*net) ^ u128::from(policy));
                state.write_u8(*prefix);
            }
            Repr::Text(kind, value) => {
                state.write_u64((u64::from(policy) << 8) | *kind as u64);
                state.write(value.as_bytes());
            }
            Repr::Global => state.write_u64((u64::from(policy) << 8) | 0xf0),
            Repr::Unknown => state.write_u64((u64::from(policy) << 8) | 0xf1),
            Repr::Overflow => state.write_u64((u64::from(policy) << 8) | 0xf2),
        }
    }

    /// [`write_storage`](Key::write_storage) into a new string.
    pub fn to_storage_string(&self) -> String {
        let mut s = String::with_capacity(24);
        self.write_storage(&mut s);
        s
    }

    /// [`write_plain`](Key::write_plain) into a new string.
    pub(crate) fn to_plain_string(&self) -> String {
        let mut s = String::with_capacity(24);
        self.write_plain(&mut s);
        s
    }

    /// A form safe for logs: IPv4 addresses cut to their `/24`, IPv6 to
    /// their `/48`, user ids and header values replaced by a short
    /// fingerprint that is stable within this process (so one client's
    /// events can be correlated) but reveals nothing.
    pub fn redacted(&self) -> RedactedKey<'_> {
        RedactedKey(self)
    }
}

impl fmt::Debug for Key {
    /// Debug output is redacted like [`Key::redacted`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.redacted())
    }
}

/// A [`Key`] formatted for logs; see [`Key::redacted`].
#[derive(Clone, Copy)]
pub struct RedactedKey<'a>(&'a Key);

impl fmt::Display for RedactedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 .0 {
            Repr::Ip(IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                write!(f, "ip:{a}.{b}.{c}.0/24")
            }
            Repr::Ip(IpAddr::V6(v6)) => write!(f, "ip:{}/48", mask_v6(*v6, 48)),
            Repr::Ipv6Net(net, prefix) => {
                let shown = (*prefix).min(48);
                write!(f, "ip:{}/{shown}", mask_v6(*net, shown))
            }
            Repr::Text(kind, value) => {
                let fingerprint = fingerprint_hasher().hash_one(value) as u32;
                write!(f, "{}#{fingerprint:08x}", kind.prefix())
            }
            Repr::Global => f.write_str("global"),
            Repr::Unknown => f.write_str("unknown"),
            Repr::Overflow => f.write_str("overflow"),
        }
    }
}

impl fmt::Debug for RedactedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Appends the lowercase hex SHA-256 of `bytes` (64 characters).
fn push_sha256_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(64);
    for b in Sha256::digest(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(u128::from(ip) & mask)
}

fn fingerprint_hasher() -> &'static std::collections::hash_map::RandomState {
    static STATE: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    STATE.get_or_init(Default::default)
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_values_never_reach_a_shared_store_in_clear() {
        let key = Key::header_value("sk_live_4eC39HqLyjWDarjtT1zdp7dc");
        let stored = key.to_storage_string();
        assert!(!stored.contains("sk_live"), "{stored}");
        assert_eq!(stored.len(), "hdr:".len() + 64);
        assert!(stored.starts_with("hdr:"));
        // stable across calls and processes, distinct for distinct values
        assert_eq!(
            stored,
            Key::header_value("sk_live_4eC39HqLyjWDarjtT1zdp7dc").to_storage_string()
        );
        assert_ne!(
            stored,
            Key::header_value("sk_live_other").to_storage_string()
        );
        // SHA-256("abc"), so every replica derives the same name
        assert_eq!(
            Key::header_value("abc").to_storage_string(),
            "hdr:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_grouping() {
        let a = Key::ip(ip("2001:db8:aaaa:bbbb:1::1"), 64);
        let b = Key::ip(ip("2001:db8:aaaa:bbbb:ffff::9"), 64);
        let c = Key::ip(ip("2001:db8:aaaa:bbbc::1"), 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            Key::ip(ip("2001:db8:aaaa:bbbb::1"), 48),
            Key::ip(ip("2001:db8:aaaa:1::1"), 48)
        );
        assert_ne!(
            Key::ip(ip("2001:db8::1"), 128),
            Key::ip(ip("2001:db8::2"), 128)
        );
        // mapped IPv4 is IPv4
        assert_eq!(
            Key::ip(ip("::ffff:203.0.113.9"), 64),
            Key::ip(ip("203.0.113.9"), 64)
        );
        assert_eq!(Key::ip(ip("2001:db8::1"), 0).ip_prefix_len(), Some(1));
        assert_eq!(Key::ip(ip("2001:db8::1"), 200).ip_prefix_len(), Some(128));
    }

    #[test]
    fn storage_forms_are_distinct() {
        let keys = [
            Key::ip(ip("10.0.0.1"), 64),
            Key::ip(ip("2001:db8::1"), 128),
            Key::ip(ip("2001:db8::1"), 64),
            Key::user("10.0.0.1"),
            Key::header_value("10.0.0.1"),
            Key::custom("10.0.0.1"),
            Key::global(),
            Key::unknown(),
            Key::overflow(),
        ];
        let forms: std::collections::HashSet<String> =
            keys.iter().map(Key::to_storage_string).collect();
        assert_eq!(forms.len(), keys.len());
        assert_eq!(keys[2].to_storage_string(), "ip:2001:db8::/64");
    }

    #[test]
    fn redaction_hides_identities() {
        let k = Key::ip(ip("203.0.113.77"), 64);
        assert_eq!(k.redacted().to_string(), "ip:203.0.113.0/24");
        let k = Key::ip(ip("2001:db8:1234:5678::1"), 64);
        assert_eq!(k.redacted().to_string(), "ip:2001:db8:1234::/48");
        let k = Key::user("alice@example.com");
        let shown = k.redacted().to_string();
        assert!(
            shown.starts_with("user:#") && !shown.contains("alice"),
            "{shown}"
        );
        assert_eq!(shown, Key::user("alice@example.com").redacted().to_string());
        assert!(!format!("{k:?}").contains("alice"));
    }
}

#[cfg(test)]
mod storage_props {
    use super::*;
    use proptest::prelude::*;

    fn text_key(kind: u8, value: &str) -> Key {
        match kind % 3 {
            0 => Key::user(value),
            1 => Key::header_value(value),
            _ => Key::custom(value),
        }
    }

    proptest! {
        /// Whatever a client or an id provider puts in a text key, its
        /// storage name is `<kind>:` plus 64 hex digits: nothing of the
        /// value, no separator a value could use to reach another name, and
        /// two different values never share a name.
        #[test]
        fn text_keys_are_hashed_and_never_collide(
            a in any::<Vec<u8>>(),
            b in any::<Vec<u8>>(),
            kind_a in any::<u8>(),
            kind_b in any::<u8>(),
        ) {
            let a = String::from_utf8_lossy(&a);
            let b = String::from_utf8_lossy(&b);
            let (ka, kb) = (text_key(kind_a, &a), text_key(kind_b, &b));
            let (sa, sb) = (ka.to_storage_string(), kb.to_storage_string());
            for (s, kind) in [(&sa, kind_a), (&sb, kind_b)] {
                let prefix = ["user:", "hdr:", "key:"][usize::from(kind % 3)];
                prop_assert!(s.starts_with(prefix), "{}", s);
                let digest = &s[prefix.len()..];
                prop_assert_eq!(digest.len(), 64);
                prop_assert!(digest.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
            }
            prop_assert_eq!(sa == sb, ka == kb);
        }
    }
}
