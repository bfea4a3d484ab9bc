//! `Redactor::redact` does not allocate when the text is clean.

use std::alloc::System;
use std::borrow::Cow;

use hardening_redact::Redactor;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn clean_text_is_borrowed_without_allocating() {
    let redactor = Redactor::default();
    let lines = [
        r#"{"timestamp":"2026-11-23T18:55:17.123456Z","level":"INFO","fields":{"message":"finished processing request","latency":"3 ms","status":200},"target":"tower_http::trace::on_response","span":{"method":"GET","uri":"/api/items?page=2","version":"HTTP/1.1","name":"request"}}"#,
        "2026-11-23T18:55:17Z  WARN upstream: retrying attempt=2 request_id=550e8400-e29b-41d4-a716-446655440000 version=1.2 key=items:1 user_id=7 https://example.com/a?b=c",
        "ts=1714567890123 order 4111111111111112 sha 9fceb02d0ae598e95dc970b74767f19372d61af8 Bearer of news",
    ];
    // Warm up per-thread caches (their first use may allocate).
    for line in lines {
        assert!(matches!(redactor.redact(line), Cow::Borrowed(_)));
    }
    let region = Region::new(GLOBAL);
    for _ in 0..10 {
        for line in lines {
            assert!(matches!(redactor.redact(line), Cow::Borrowed(_)));
        }
    }
    let stats = region.change();
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");

    // A secret does allocate the output (and only then).
    let region = Region::new(GLOBAL);
    assert!(matches!(redactor.redact("password=x1"), Cow::Owned(_)));
    assert!(region.change().allocations > 0);
}
