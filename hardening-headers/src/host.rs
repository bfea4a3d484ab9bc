//! Host names and origins, as configured (not as requested).

use std::net::Ipv6Addr;

/// A DNS name (letters, digits, `-` in dot-separated labels, optional
/// trailing dot), an IPv4 address, or a bracketed IPv6 address.
pub(crate) fn check_host(host: &str) -> Result<(), &'static str> {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(_)) => Ok(()),
            _ => Err("an IPv6 address must be bracketed, as in [2001:db8::1]"),
        };
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return Err("a host name has 1 to 253 characters");
    }
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if labels_ok {
        Ok(())
    } else {
        Err("a host name is dot-separated labels of letters, digits and inner `-`")
    }
}

/// `scheme://host[:port]`, where host may start with `*.`; a trailing `/` is
/// tolerated. Returns the origin without the trailing slash.
pub(crate) fn check_origin(origin: &str) -> Result<&str, &'static str> {
    let origin = origin.strip_suffix('/').unwrap_or(origin);
    let (scheme, rest) = origin
        .split_once("://")
        .ok_or("an origin looks like https://example.com")?;
    let mut chars = scheme.chars();
    let scheme_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err("the scheme is a letter followed by letters, digits, `+`, `-` or `.`");
    }
    let (host, port) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains(']') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || port.parse::<u16>().is_err() {
            return Err("a port is a number up to 65535");
        }
    }
    check_host(host.strip_prefix("*.").unwrap_or(host))
        .map_err(|_| "an origin has no path, query or user info: https://example.com[:port]")?;
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `check_host` also judges the `Host` a client sent (through the
        /// redirect's host parsing): whatever it accepts is a bare name or
        /// IP literal, so it can never smuggle a second authority, a path or
        /// a header break into a `Location`.
        #[test]
        fn accepted_hosts_are_bare(host in prop_oneof![any::<String>(), "[a-z0-9.\\[\\]:@/\\\\%-]{0,30}"]) {
            if check_host(&host).is_ok() {
                prop_assert!(host.len() <= 254);
                prop_assert!(!host.contains(['@', '/', '\\', '\r', '\n', '%', ' ', '?', '#']));
                prop_assert!(host.is_ascii());
            }
            // configuration parser: no panic on anything
            let _ = check_origin(&host);
        }
    }

    #[test]
    fn hosts() {
        for ok in [
            "example.com",
            "localhost",
            "a-b.example.com.",
            "127.0.0.1",
            "[::1]",
            "xn--bcher-kva.example",
        ] {
            assert!(check_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "exa mple.com",
            "::1",
            "[::1",
            "[nope]",
            "a/b",
            "a@b",
            "*.example.com",
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            check_origin("https://example.com/"),
            Ok("https://example.com")
        );
        for ok in [
            "https://example.com:8443",
            "https://*.example.com",
            "http://[::1]:3000",
            "http://127.0.0.1",
        ] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "example.com",
            "https://",
            "https://example.com/path",
            "https://user@example.com",
            "https://example.com:99999",
            "https://exa\"mple.com",
            "1x://a.com",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
