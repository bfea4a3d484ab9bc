//! The pure core of [`SecureCookiesLayer`](super::SecureCookiesLayer): one
//! `Set-Cookie` value in, the hardened value out. No I/O, no configuration
//! lookups beyond the policy, linear in the value's length.

/// The `SameSite` attribute a cookie gets when its handler set none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// `SameSite=Strict`: never sent on cross-site requests, top-level
    /// navigations included.
    Strict,
    /// `SameSite=Lax` (the default): sent on top-level navigations, not on
    /// cross-site subrequests or POSTs. Blocks most CSRF.
    #[default]
    Lax,
    /// `SameSite=None`: sent everywhere. Browsers accept it only on `Secure`
    /// cookies, so a cookie that cannot be made `Secure` (a response over
    /// plain HTTP) gets `Lax` instead.
    None,
}

impl SameSite {
    /// The attribute as written in `Set-Cookie`: `"SameSite=Lax"`.
    pub const fn as_attribute(self) -> &'static str {
        match self {
            SameSite::Strict => "SameSite=Strict",
            SameSite::Lax => "SameSite=Lax",
            SameSite::None => "SameSite=None",
        }
    }
}

/// What the layer does to each cookie.
#[derive(Clone, Debug)]
pub(crate) struct CookiePolicy {
    /// Cookie names (exact bytes) that keep script access.
    pub(crate) http_only_exempt: Box<[Box<[u8]>]>,
    pub(crate) same_site: SameSite,
}

/// The attributes of one cookie that the rewrite looks at.
#[derive(Default)]
struct Seen {
    secure: bool,
    http_only: bool,
    same_site: Option<SameSiteSeen>,
    path_root: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SameSiteSeen {
    /// `Strict` or `Lax`: kept.
    Restrictive,
    /// `None`: kept if the cookie ends up `Secure`.
    None,
    /// An unknown value, which browsers treat as absent.
    Invalid,
}

impl CookiePolicy {
    /// The hardened form of one `Set-Cookie` value, or `None` if it is
    /// already as hardened as the policy asks.
    ///
    /// The name and value (everything before the first `;`) are copied
    /// byte for byte; attributes the policy does not govern are kept as they
    /// are. Attributes the policy needs are appended; only attributes that
    /// would make browsers reject or weaken the cookie are dropped: a
    /// `SameSite=None` that cannot stay (no `Secure`), an invalid `SameSite`,
    /// and on `__Host-` cookies `Domain` and a `Path` other than `/`.
    pub(crate) fn rewrite(&self, value: &[u8], https: bool) -> Option<Vec<u8>> {
        let (pair, attributes) = match value.iter().position(|&b| b == b';') {
            Some(i) => value.split_at(i),
            None => (value, &[][..]),
        };
        let name = trim(match pair.iter().position(|&b| b == b'=') {
            Some(i) => &pair[..i],
            None => &[][..],
        });
        let secure_prefix = starts_with_ignore_case(name, b"__Secure-");
        let host_prefix = starts_with_ignore_case(name, b"__Host-");

        let mut seen = Seen::default();
        // attributes to drop, as byte ranges of `attributes` (`;` included)
        let mut drop: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        while start < attributes.len() {
            // `attributes[start]` is a `;`
            let end = attributes[start + 1..]
                .iter()
                .position(|&b| b == b';')
                .map_or(attributes.len(), |i| start + 1 + i);
            let attribute = trim(&attributes[start + 1..end]);
            let (key, val) = match attribute.iter().position(|&b| b == b'=') {
                Some(i) => (trim(&attribute[..i]), trim(&attribute[i + 1..])),
                None => (attribute, &[][..]),
            };
            if key.eq_ignore_ascii_case(b"secure") {
                seen.secure = true;
            } else if key.eq_ignore_ascii_case(b"httponly") {
                seen.http_only = true;
            } else if key.eq_ignore_ascii_case(b"samesite") {
                let kind =
                    if val.eq_ignore_ascii_case(b"strict") || val.eq_ignore_ascii_case(b"lax") {
                        SameSiteSeen::Restrictive
                    } else if val.eq_ignore_ascii_case(b"none") {
                        SameSiteSeen::None
                    } else {
                        SameSiteSeen::Invalid
                    };
                if kind == SameSiteSeen::Invalid || seen.same_site.is_some() {
                    // browsers use the last one; keep the first, drop repeats
                    drop.push((start, end));
                } else {
                    seen.same_site = Some(kind);
                }
            } else if host_prefix && key.eq_ignore_ascii_case(b"domain") {
                drop.push((start, end));
            } else if host_prefix && key.eq_ignore_ascii_case(b"path") {
                if val == b"/" && !seen.path_root {
                    seen.path_root = true;
                } else {
                    drop.push((start, end));
                }
            }
            start = end;
        }

        // Prefixed cookies are refused by browsers without `Secure`, so they
        // always get it; others over HTTPS only (a `Secure` cookie set over
        // plain HTTP is refused too, except on localhost).
        let add_secure = !seen.secure && (https || secure_prefix || host_prefix);
        let secure = seen.secure || add_secure;
        let exempt = self.http_only_exempt.iter().any(|n| **n == *name);
        let add_http_only = !seen.http_only && !exempt;
        let same_site = match seen.same_site {
            Some(SameSiteSeen::None) if !secure => {
                // drop the `SameSite=None` browsers would refuse the cookie for
                if let Some(at) = find_same_site(attributes, &drop) {
                    drop.push(at);
                }
                Some(self.fallback_same_site(false))
            }
            Some(_) => None,
            None => Some(self.fallback_same_site(secure)),
        };
        let add_path = host_prefix && !seen.path_root;

        if !add_secure && !add_http_only && same_site.is_none() && !add_path && drop.is_empty() {
            return None;
        }
        drop.sort_unstable();
        let mut out = Vec::with_capacity(value.len() + 40);
        out.extend_from_slice(pair);
        let mut at = 0;
        for (from, to) in drop {
            if from >= at {
                out.extend_from_slice(&attributes[at..from]);
                at = to;
            }
        }
        out.extend_from_slice(&attributes[at..]);
        if add_path {
            out.extend_from_slice(b"; Path=/");
        }
        if add_secure {
            out.extend_from_slice(b"; Secure");
        }
        if add_http_only {
            out.extend_from_slice(b"; HttpOnly");
        }
        if let Some(same_site) = same_site {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(same_site.as_attribute().as_bytes());
        }
        Some(out)
    }

    /// The configured `SameSite`, or `Lax` where `None` cannot be used.
    fn fallback_same_site(&self, secure: bool) -> SameSite {
        match self.same_site {
            SameSite::None if !secure => SameSite::Lax,
            other => other,
        }
    }
}

/// The range of the `SameSite` attribute that was kept (not in `drop`).
fn find_same_site(attributes: &[u8], drop: &[(usize, usize)]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start < attributes.len() {
        let end = attributes[start + 1..]
            .iter()
            .position(|&b| b == b';')
            .map_or(attributes.len(), |i| start + 1 + i);
        let attribute = trim(&attributes[start + 1..end]);
        let key = trim(match attribute.iter().position(|&b| b == b'=') {
            Some(i) => &attribute[..i],
            None => attribute,
        });
        if key.eq_ignore_ascii_case(b"samesite") && !drop.contains(&(start, end)) {
            return Some((start, end));
        }
        start = end;
    }
    None
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn starts_with_ignore_case(name: &[u8], prefix: &[u8]) -> bool {
    name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> CookiePolicy {
        CookiePolicy {
            http_only_exempt: vec![b"theme".to_vec().into_boxed_slice()].into_boxed_slice(),
            same_site: SameSite::Lax,
        }
    }

    fn rewrite(value: &str, https: bool) -> String {
        let out = policy()
            .rewrite(value.as_bytes(), https)
            .unwrap_or_else(|| value.as_bytes().to_vec());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn adds_what_is_missing_and_keeps_the_rest() {
        assert_eq!(
            rewrite("sid=abc; Path=/; Max-Age=60", true),
            "sid=abc; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            rewrite("sid=abc; Path=/", false),
            "sid=abc; Path=/; HttpOnly; SameSite=Lax",
            "no Secure over plain HTTP: browsers would refuse the cookie"
        );
        assert_eq!(
            rewrite("theme=dark", true),
            "theme=dark; Secure; SameSite=Lax",
            "an exempt name keeps script access"
        );
        let done = "sid=abc; secure; HTTPONLY; samesite=strict";
        assert_eq!(
            policy().rewrite(done.as_bytes(), true),
            None,
            "already hardened"
        );
    }

    #[test]
    fn same_site_none_needs_secure() {
        assert_eq!(
            rewrite("a=1; SameSite=None", true),
            "a=1; SameSite=None; Secure; HttpOnly"
        );
        assert_eq!(
            rewrite("a=1; SameSite=None; Path=/", false),
            "a=1; Path=/; HttpOnly; SameSite=Lax"
        );
        let none = CookiePolicy {
            same_site: SameSite::None,
            ..policy()
        };
        let out =
            |v: &str, https| String::from_utf8(none.rewrite(v.as_bytes(), https).unwrap()).unwrap();
        assert_eq!(out("a=1", true), "a=1; Secure; HttpOnly; SameSite=None");
        assert_eq!(out("a=1", false), "a=1; HttpOnly; SameSite=Lax");
        assert_eq!(
            rewrite("a=1; SameSite=Bogus", true),
            "a=1; Secure; HttpOnly; SameSite=Lax",
            "an invalid value is replaced"
        );
    }

    #[test]
    fn prefixes_are_enforced() {
        assert_eq!(
            rewrite("__Secure-id=1; Path=/app", false),
            "__Secure-id=1; Path=/app; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            rewrite("__Host-id=1; Domain=example.com; Path=/app", true),
            "__Host-id=1; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            rewrite(
                "__host-id=1; path=/; Secure; HttpOnly; SameSite=Strict",
                true
            ),
            "__host-id=1; path=/; Secure; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn odd_values_are_kept() {
        assert_eq!(
            rewrite("novalue", true),
            "novalue; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(rewrite("=v", true), "=v; Secure; HttpOnly; SameSite=Lax");
        assert_eq!(
            rewrite(" a = b ;;", true),
            " a = b ;;; Secure; HttpOnly; SameSite=Lax"
        );
        assert_eq!(rewrite("", true), "; Secure; HttpOnly; SameSite=Lax");
    }

    fn pair(value: &[u8]) -> &[u8] {
        value.split(|&b| b == b';').next().unwrap_or_default()
    }

    proptest! {
        /// Over arbitrary bytes: no panic, the name and value are kept byte
        /// for byte, the output grows by a bounded amount, and rewriting is
        /// idempotent.
        #[test]
        fn name_and_value_are_kept_byte_for_byte(
            value in proptest::collection::vec(any::<u8>(), 0..300),
            https in any::<bool>(),
        ) {
            let policy = policy();
            if let Some(out) = policy.rewrite(&value, https) {
                prop_assert_eq!(pair(&out), pair(&value));
                prop_assert!(out.len() <= value.len() + 64);
                prop_assert_eq!(policy.rewrite(&out, https), None, "idempotent");
            }
        }

        /// Cookie-shaped strings, the inputs that reach every branch.
        #[test]
        fn cookie_shaped_strings_keep_name_and_value(
            prefix in proptest::sample::select(vec!["", "__Secure-", "__Host-", "__host-"]),
            name in "[!-:<-~]{0,12}",
            val in "[ -:<-~]{0,16}",
            attrs in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Secure", "HttpOnly", "SameSite=None", "SameSite=Lax", "SameSite=bogus",
                    "Domain=example.com", "Path=/", "Path=/x", "Max-Age=5", " samesite = none ", "",
                ]),
                0..6,
            ),
            https in any::<bool>(),
        ) {
            let mut value = format!("{prefix}{name}={val}");
            for a in &attrs {
                value.push(';');
                value.push_str(a);
            }
            let policy = policy();
            let out = policy.rewrite(value.as_bytes(), https).unwrap_or_else(|| value.clone().into_bytes());
            prop_assert_eq!(pair(&out), pair(value.as_bytes()));
            let text = String::from_utf8(out.clone()).unwrap().to_ascii_lowercase();
            let secure = text.split(';').any(|a| a.trim() == "secure");
            if https || !prefix.is_empty() {
                prop_assert!(secure, "{}", text);
            }
            if text.contains("samesite=none") {
                prop_assert!(secure, "{}", text);
            }
            if prefix.eq_ignore_ascii_case("__host-") {
                prop_assert!(!text.contains("domain="), "{}", text);
            }
            prop_assert_eq!(policy.rewrite(&out, https), None, "idempotent: {}", text);
        }
    }
}
