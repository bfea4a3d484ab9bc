//! `Retry-After` (RFC 9110 §10.2.3): written by the layers that reject
//! (rate limiter, circuit breaker), read by the one that retries.
//!
//! - [`seconds`] / [`header_value`] write a wait as whole delay-seconds,
//!   rounded up and never `0` (a client told "retry after 0" retries at once,
//!   which is what the rejection tried to prevent).
//! - [`parse`] / [`from_headers`] read delay-seconds or an HTTP-date from
//!   untrusted bytes, never panic, and cap the wait at [`MAX`].
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use hardening_core::retry_after;
//!
//! assert_eq!(retry_after::seconds(Duration::from_millis(1500)), 2);
//! assert_eq!(retry_after::header_value(Duration::ZERO), "1");
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! assert_eq!(retry_after::parse(b"120", now), Some(Duration::from_secs(120)));
//! assert_eq!(
//!     retry_after::parse(b"Tue, 14 Nov 2023 22:13:50 GMT", now),
//!     Some(Duration::from_secs(30)),
//! );
//! assert_eq!(retry_after::parse(b"99999999999999999999999", now), Some(retry_after::MAX));
//! assert_eq!(retry_after::parse(b"soon", now), None);
//! ```

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderValue, RETRY_AFTER};

/// The longest wait [`parse`] returns: one day. A longer delay (or a date
/// further away) reads as `MAX`, so adding a parsed wait to an `Instant` or a
/// `SystemTime` never overflows. Callers that refuse waits above their own
/// limit compare with a limit below `MAX`.
pub const MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// `wait` in whole seconds for a `Retry-After` header: rounded up, and at
/// least `1`.
pub fn seconds(wait: Duration) -> u64 {
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    secs.max(1)
}

/// [`seconds`] as a header value.
pub fn header_value(wait: Duration) -> HeaderValue {
    HeaderValue::from(seconds(wait))
}

/// The wait a `Retry-After` value asks for, measured from `now`:
/// delay-seconds (`120`) or an HTTP-date in any of the three forms
/// RFC 9110 accepts. Surrounding spaces and tabs are ignored.
///
/// `None` when the value is neither (empty, negative, fractional, not a
/// date); a date in the past means no wait (`Duration::ZERO`). The result is
/// capped at [`MAX`]. Work is linear in the length of `value`.
pub fn parse(value: &[u8], now: SystemTime) -> Option<Duration> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    if value.iter().all(u8::is_ascii_digit) {
        let max = MAX.as_secs();
        let mut secs: u64 = 0;
        for digit in value {
            secs = secs * 10 + u64::from(digit - b'0');
            if secs >= max {
                return Some(MAX);
            }
        }
        return Some(Duration::from_secs(secs));
    }
    if !value.is_ascii() {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?;
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO).min(MAX))
}

/// [`parse`] of the `Retry-After` header in `headers` (the first one when
/// repeated); `None` when there is none.
pub fn from_headers(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse(headers.get(RETRY_AFTER)?.as_bytes(), now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    /// Tue, 14 Nov 2023 22:13:20 GMT.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn seconds_round_up_and_are_never_zero() {
        assert_eq!(seconds(Duration::ZERO), 1);
        assert_eq!(seconds(Duration::from_nanos(1)), 1);
        assert_eq!(seconds(Duration::from_secs(1)), 1);
        assert_eq!(seconds(Duration::from_millis(1001)), 2);
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
        assert_eq!(seconds(Duration::from_secs(30)), 30);
        assert_eq!(seconds(Duration::MAX), u64::MAX);
        assert_eq!(header_value(Duration::from_millis(2500)), "3");
    }

    #[test]
    fn delay_seconds() {
        let now = now();
        assert_eq!(parse(b"120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse(b" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse(b"\t7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse(b"007", now), Some(Duration::from_secs(7)));
        assert_eq!(parse(b"86399", now), Some(Duration::from_secs(86_399)));
        assert_eq!(parse(b"86400", now), Some(MAX));
        assert_eq!(parse(b"99999999999999999999999", now), Some(MAX));
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        let now = now();
        assert_eq!(
            parse(b"Tue, 14 Nov 2023 22:13:50 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse(b"Tuesday, 14-Nov-23 22:14:20 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse(b"Tue Nov 14 22:13:25 2023", now),
            Some(Duration::from_secs(5))
        );
        // In the past: no wait.
        assert_eq!(
            parse(b"Tue, 14 Nov 2023 22:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Far in the future: capped.
        assert_eq!(parse(b"Fri, 14 Nov 2025 22:13:20 GMT", now), Some(MAX));
    }

    #[test]
    fn invalid_values_are_ignored() {
        let now = now();
        for bad in [
            &b"-5"[..],
            b"1.5",
            b"soon",
            b"",
            b"   ",
            b"+3",
            b"1 2",
            b"Tue, 99 Nov 2023 22:13:50 GMT",
            b"\xff\xfe",
            "１２".as_bytes(),
        ] {
            assert_eq!(parse(bad, now), None, "{bad:?}");
        }
        assert_eq!(from_headers(&HeaderMap::new(), now), None);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(from_headers(&headers, now), Some(Duration::from_secs(3)));
    }

    /// Pieces of the three HTTP-date forms, mixed with junk.
    fn date_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("Tue, ".to_owned()),
            Just("Tuesday, ".to_owned()),
            Just("Nov ".to_owned()),
            Just("GMT".to_owned()),
            Just(" ".to_owned()),
            Just("-".to_owned()),
            Just(":".to_owned()),
            Just(",".to_owned()),
            "[0-9]{1,25}",
            "[A-Za-z]{1,4}",
        ];
        proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
    }

    /// Work is linear: a 64 KiB value of digits, or of junk, is one pass.
    #[test]
    fn long_values_are_cheap() {
        let digits = "9".repeat(64 * 1024);
        let junk = "9".repeat(64 * 1024) + "x";
        let started = std::time::Instant::now();
        for _ in 0..100 {
            assert_eq!(parse(digits.as_bytes(), now()), Some(MAX));
            assert_eq!(parse(junk.as_bytes(), now()), None);
        }
        // Generous: 100 passes over 64 KiB take well under a millisecond
        // each, even in a debug build on a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    proptest! {
        /// Arbitrary bytes never panic and never ask for more than `MAX`.
        #[test]
        fn arbitrary_bytes_are_capped(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Some(wait) = parse(&bytes, now()) {
                prop_assert!(wait <= MAX);
            }
        }

        /// Any run of digits, however long, reads as its value or `MAX`.
        #[test]
        fn digit_runs_read_as_their_value_or_max(digits in "[0-9]{1,400}") {
            let expected = match digits.parse::<u64>() {
                Ok(secs) if secs < MAX.as_secs() => Duration::from_secs(secs),
                _ => MAX,
            };
            prop_assert_eq!(parse(digits.as_bytes(), now()), Some(expected));
        }

        /// Fragments of the three date forms and out-of-range fields never
        /// panic, and a date reads as its distance from `now` (none in the
        /// past), capped.
        #[test]
        fn odd_dates_read_as_their_distance(value in date_like(), now_secs in 0u64..=4_000_000_000) {
            let now = UNIX_EPOCH + Duration::from_secs(now_secs);
            if let Some(wait) = parse(value.as_bytes(), now) {
                if let Ok(date) = httpdate::parse_http_date(value.trim()) {
                    let expected = date.duration_since(now).unwrap_or(Duration::ZERO).min(MAX);
                    prop_assert_eq!(wait, expected);
                }
            }
        }

        /// What `seconds` writes, `parse` reads back as a wait no shorter
        /// than the one written (rounding up), within one second.
        #[test]
        fn written_values_read_back(millis in 0u64..80_000_000) {
            let wait = Duration::from_millis(millis);
            let value = header_value(wait);
            let read = parse(value.as_bytes(), now()).unwrap();
            prop_assert!(read >= wait.min(MAX));
            prop_assert!(read <= (wait + Duration::from_secs(1)).max(Duration::from_secs(1)));
        }
    }
}
