//! The redactor reports each masked value to its observer, by rule.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hardening_core::observe::{RedactObserver, RedactRuleObserver};
use hardening_redact::Redactor;

/// Counts per rule name, as a metrics backend would.
#[derive(Clone, Default)]
struct Rules(Arc<Mutex<HashMap<String, Arc<Count>>>>);

#[derive(Default)]
struct Count(AtomicU64);

impl RedactRuleObserver for Count {
    fn redacted(&self, count: u64) {
        self.0.fetch_add(count, Ordering::Relaxed);
    }
}

impl RedactObserver for Rules {
    fn rule(&self, rule: &str) -> Arc<dyn RedactRuleObserver> {
        let count = Arc::new(Count::default());
        let previous = self
            .0
            .lock()
            .unwrap()
            .insert(rule.to_owned(), count.clone());
        assert!(previous.is_none(), "{rule} bound twice");
        count
    }
}

impl Rules {
    /// Every rule that masked something, with its count.
    fn nonzero(&self) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(k, c)| (k.clone(), c.0.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        v.sort();
        v
    }
}

#[test]
fn each_rule_counts_what_it_masked() {
    let rules = Rules::default();
    let redactor = Redactor::builder()
        .pattern("internal token", r"itk_[a-z0-9]{16}")
        .observer(rules.clone())
        .build()
        .unwrap();
    {
        let bound = rules.0.lock().unwrap();
        for name in [
            "jwt",
            "key_value",
            "card_number",
            "field_name",
            "internal token",
        ] {
            assert!(bound.contains_key(name), "{name} bound at build");
        }
        assert_eq!(bound.len(), 13, "11 patterns, field names, 1 custom");
    }

    // Clean text: nothing reported.
    assert_eq!(
        redactor.redact("GET /api/items 200 in 3ms"),
        "GET /api/items 200 in 3ms"
    );
    assert!(rules.nonzero().is_empty());

    let out = redactor.redact(
        "login password=hunter2 card 4111 1111 1111 1111 with itk_0123456789abcdef and \
         eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz",
    );
    assert!(!out.contains("hunter2") && !out.contains("itk_") && !out.contains("eyJ"));
    assert_eq!(redactor.redact_field("api_key", "k-123"), "[REDACTED]");
    assert_eq!(
        redactor.redact_uri("/cb?access_token=abc&page=2"),
        "/cb?access_token=[REDACTED]&page=2"
    );
    assert_eq!(
        rules.nonzero(),
        [
            ("card_number".to_owned(), 1),
            ("field_name".to_owned(), 1),
            ("internal token".to_owned(), 1),
            ("jwt".to_owned(), 1),
            ("key_value".to_owned(), 1),
            ("query_param".to_owned(), 1),
        ]
    );
    // Already-redacted text is clean: redaction stays idempotent, and
    // nothing is counted twice.
    let again = redactor.redact(&out);
    assert_eq!(again, out);
    assert_eq!(rules.nonzero().iter().map(|(_, n)| n).sum::<u64>(), 6);
}
